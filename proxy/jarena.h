/* SPDX-License-Identifier: Apache-2.0
 *
 * jarena: a per-thread bump arena for the JSON data of one page. Parsing a
 * fragment with jansson allocates once per value; between jarena_begin and
 * jarena_end, jansson's allocations on this thread come from the arena (no
 * malloc, and frees are no-ops), and jarena_end releases them all at once.
 * Outside that window, and on other threads, jansson uses malloc and free.
 *
 * Rule for callers: no JSON value allocated inside the window may be used or
 * freed after jarena_end (values from outside, such as a route's fallback,
 * may be referenced and released inside it).
 *
 * Thread: each thread has its own arena; jarena_install once, from the main
 * thread, before any worker starts.
 */
#ifndef TESSERA_JARENA_H
#define TESSERA_JARENA_H

/* Makes jansson allocate through the arena when one is active. */
void jarena_install(void);

/* Opens the window on this thread (not nested). */
void jarena_begin(void);

/* Closes it: everything allocated since jarena_begin is released. */
void jarena_end(void);

/* Frees this thread's arena memory (at thread exit). */
void jarena_thread_fini(void);

#endif
