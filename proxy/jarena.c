/* SPDX-License-Identifier: Apache-2.0
 *
 * jarena: see jarena.h. Chunks double in size (64 KB, 128 KB, ...) so that a
 * free, which must tell arena memory from heap memory, scans a handful of
 * ranges. After a window the largest chunk up to KEEP_MAX is kept for the next
 * page; the others go back to the heap.
 */
#include "jarena.h"

#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#define CHUNK_MIN (64u * 1024u)
#define KEEP_MAX (1024u * 1024u)
#define ALIGN 16u

struct chunk {
    struct chunk *next;
    size_t cap;  /* bytes of data */
    size_t used; /* bytes handed out */
    _Alignas(16) unsigned char data[];
};

struct arena {
    struct chunk *chunks; /* newest first */
    int active;
};

static _Thread_local struct arena tl;

static struct chunk *chunk_new(size_t cap)
{
    struct chunk *c = malloc(sizeof(*c) + cap);
    if (c == NULL)
        return NULL;
    c->next = NULL;
    c->cap = cap;
    c->used = 0;
    return c;
}

static void *arena_alloc(struct arena *a, size_t n)
{
    n = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    struct chunk *c = a->chunks;
    if (c == NULL || c->cap - c->used < n) {
        size_t cap = c != NULL ? c->cap * 2 : CHUNK_MIN;
        while (cap < n)
            cap *= 2;
        struct chunk *nc = chunk_new(cap);
        if (nc == NULL)
            return NULL; /* jansson reports the failure */
        nc->next = c;
        a->chunks = c = nc;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

static int in_arena(const struct arena *a, const void *p)
{
    uintptr_t u = (uintptr_t)p;
    for (const struct chunk *c = a->chunks; c != NULL; c = c->next)
        if (u >= (uintptr_t)c->data && u < (uintptr_t)c->data + c->cap)
            return 1;
    return 0;
}

static void *j_malloc(size_t n)
{
    return tl.active ? arena_alloc(&tl, n) : malloc(n);
}

static void j_free(void *p)
{
    if (p == NULL || (tl.active && in_arena(&tl, p)))
        return;
    free(p);
}

void jarena_install(void)
{
    json_set_alloc_funcs(j_malloc, j_free);
}

void jarena_begin(void)
{
    tl.active = 1;
}

void jarena_end(void)
{
    tl.active = 0;
    /* Keep the largest chunk that is not too large; free the rest. */
    struct chunk *keep = NULL;
    for (struct chunk *c = tl.chunks; c != NULL; c = c->next)
        if (c->cap <= KEEP_MAX && (keep == NULL || c->cap > keep->cap))
            keep = c;
    struct chunk *c = tl.chunks;
    while (c != NULL) {
        struct chunk *next = c->next;
        if (c != keep)
            free(c);
        c = next;
    }
    if (keep != NULL) {
        keep->next = NULL;
        keep->used = 0;
    }
    tl.chunks = keep;
}

void jarena_thread_fini(void)
{
    tl.active = 0;
    while (tl.chunks != NULL) {
        struct chunk *next = tl.chunks->next;
        free(tl.chunks);
        tl.chunks = next;
    }
}
