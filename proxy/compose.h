/* SPDX-License-Identifier: Apache-2.0
 *
 * compose: fetches the API fragments of one page in parallel. Each fragment is a
 * sub-request that goes through the same machinery as a client request for a
 * cached route (rcache.c, then up.c): fragments are cached on their own, with
 * their own lifetime, coalesced across pages and workers, served stale within
 * their windows, and logged (protocol "fragment"). Results (status, body, the
 * fragment's remaining freshness and Surrogate-Key tags) are kept until
 * compose_free. Whenever fragments have finished (answered, failed or timed
 * out) the caller's callback runs, on a later loop turn, never from inside
 * compose_start; compose_pending tells how many are still in flight (0: all
 * done, the last call).
 *
 * Thread: a compose belongs to the worker of its page request.
 */
#ifndef TESSERA_COMPOSE_H
#define TESSERA_COMPOSE_H

#include <stddef.h>
#include <stdint.h>

struct req;
struct h1_msg;
struct route_match;
struct cfg_route;
struct cfg_strlist;
struct compose;
struct worker;

/* What a page route says of one fragment (built by the config). */
struct compose_spec {
    const char *name;
    const struct cfg_route *route; /* origin and cache rules of the fragment's requests */
    const char *path;              /* "/api/product/:id": :name from the page's route */
    uint64_t timeout_ms;
    int required;
    const struct cfg_strlist *query;   /* page query parameters passed on (may be NULL) */
    const struct cfg_strlist *headers; /* page request fields passed on, lower-case (may be NULL) */
};

enum compose_state {
    COMPOSE_PENDING = 0,
    COMPOSE_OK = 1,      /* a 2xx answer, body complete */
    COMPOSE_FAILED = 2,  /* an error status, a cut body, an unreachable origin */
    COMPOSE_TIMEOUT = 3, /* no complete answer within the fragment's timeout */
};

typedef void (*compose_done_cb)(struct compose *c, void *arg);

/* Starts fetching specs[0..n) for the page request `page` (its parsed head m and
 * route match rm give the parameters, query and fields to pass on; nothing of m
 * is used after the call). `done` runs after fragments finish (see above).
 * Returns NULL when a fragment target cannot be built (a parameter the route
 * does not capture): a configuration error caught at load in practice. */
struct compose *compose_start(struct req *page, const struct compose_spec *specs, size_t n,
                              const struct h1_msg *m, const struct route_match *rm,
                              compose_done_cb done, void *arg);

size_t compose_count(const struct compose *c);
/* Fragments still in flight. */
size_t compose_pending(const struct compose *c);
enum compose_state compose_state(const struct compose *c, size_t i);
/* The fragment's HTTP status (0 when none arrived). */
int compose_status(const struct compose *c, size_t i);
/* The body, contiguous (valid until compose_free). */
const char *compose_body(struct compose *c, size_t i, size_t *len);
/* Seconds the fragment stays fresh from now (0 when it was not cacheable). */
int64_t compose_ttl(const struct compose *c, size_t i);
/* Its Content-Type, lower-case not guaranteed, truncated to 63 bytes ("" when none). */
const char *compose_ctype(const struct compose *c, size_t i);
/* Its Content-Encoding ("" when none). */
const char *compose_cenc(const struct compose *c, size_t i);
/* Its Surrogate-Key field value ("" when none). */
const char *compose_tags(const struct compose *c, size_t i);
/* Where fragment i's response came from: "cache", "stale" (its last good copy,
 * stale-if-error) or "origin". */
const char *compose_source(const struct compose *c, size_t i);
/* Milliseconds from compose_start to the fragment's end. */
uint64_t compose_ms(const struct compose *c, size_t i);

/* Cancels what is still in flight and frees everything; *cp becomes NULL. */
void compose_free(struct compose **cp);

/* Frees the compositions the worker keeps for reuse (compose_free recycles up
 * to a few dozen per worker, with their fragments' buffers and timers). At
 * worker exit, after the last request. */
void compose_worker_fini(struct worker *w);

#endif
