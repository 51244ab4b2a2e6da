/* SPDX-License-Identifier: Apache-2.0
 *
 * origin_int.h: shared between server.c (sockets, threads, lifecycle) and
 * handlers.c (routing and endpoints). Not for other modules.
 * A worker is touched only by its own thread, except its counters (`requests`,
 * `conditional`, `not_modified`), which /__stats reads from any worker (relaxed
 * atomics: totals, not a snapshot).
 */
#ifndef TESSERA_ORIGIN_INT_H
#define TESSERA_ORIGIN_INT_H

#include "origin.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define ORIGIN_SERVER_MAGIC 0x0a1c5e77u
#define ORIGIN_WORKER_MAGIC 0x0a1c3047u

struct event;
struct event_base;
struct evhttp;
struct evhttp_request;

struct origin_worker {
    unsigned magic;
    unsigned index;
    struct origin_server *srv;
    struct event_base *base;
    struct evhttp *http;
    struct event *stop_ev; /* activated by origin_server_stop */
    pthread_t thread;
    bool running;
    /* Own cache line: the other workers only read these on /__stats. */
    _Alignas(64) _Atomic uint64_t requests;
    _Atomic uint64_t conditional;  /* requests with If-None-Match or If-Modified-Since */
    _Atomic uint64_t not_modified; /* 304 answers */
    char pad[64 - 3 * sizeof(uint64_t)];
};

struct origin_server {
    unsigned magic;
    bool log_requests;
    bool started;
    const struct catalogue *cat;
    unsigned nworkers;
    struct origin_worker *workers;
    char address[64];
};

/* The evhttp general callback; arg is the struct origin_worker that owns the
 * evhttp. Runs on that worker's thread. */
void origin__on_request(struct evhttp_request *req, void *arg);

/* Sets the worker that runs on the calling thread: delayed replies come back
 * through event_base_once, which carries only the request pointer. */
void origin__set_current_worker(struct origin_worker *w);

/* Sum of every worker's request counter. Thread: any. */
uint64_t origin__requests_total(const struct origin_server *srv);

/* Sums of every worker's `conditional` and `not_modified` counters. Thread: any. */
uint64_t origin__conditional_total(const struct origin_server *srv);
uint64_t origin__not_modified_total(const struct origin_server *srv);

#endif
