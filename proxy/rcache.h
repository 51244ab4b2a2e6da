/* SPDX-License-Identifier: Apache-2.0
 *
 * rcache: the server's use of the cache library (cache/) for routes that have a
 * `cache` table. It builds the request's key, serves fresh hits from the shared
 * L1 store without copying the body, captures storable responses from origins
 * (RFC 9111, cache/cc.c decides) and inserts them, and removes a URL's entry
 * after a successful unsafe request (RFC 9111 4.4). Every response of a cached
 * route carries Cache-Status (RFC 9211).
 *
 * Stale-if-error (RFC 5861 4): an expired copy within its window is kept by a
 * miss and served when the origin fails (connect error, timeout, 5xx).
 *
 * Vary (RFC 9111 4.1): the primary key holds a marker naming the fields and a
 * nonce; each variant is stored under the primary key extended with the nonce
 * and the request's normalised values of those fields. Removing the marker (an
 * invalidation) makes every variant unreachable at once: a new marker gets a new
 * nonce.
 *
 * Validation (RFC 9111 4.3): a stale copy with an ETag or Last-Modified is
 * revalidated with a conditional request; a 304 refreshes it in place of a body.
 *
 * Thread: the store is shared (its own locks); per-request state lives in the
 * req. rc_start runs on the main thread before the workers.
 */
#ifndef TESSERA_RCACHE_H
#define TESSERA_RCACHE_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

struct req;
struct h1_msg;
struct cfg_route;
struct up_target;
struct evbuffer;
struct h1_header;

/* Per-route counters (cfg_route.stats). */
enum rc_stat {
    RC_HIT,
    RC_MISS,
    RC_STALE,
    RC_COLLAPSED,
    RC_STORED,
    RC_BYPASS,
    RC_REVALIDATED,
    RC_NSTATS
};
extern const char *const rc_stat_names[RC_NSTATS];

/* Writes the store's gauges and counters (Prometheus text) to `out`. */
void rc_metrics(struct evbuffer *out);

/* Creates the L1 store of `bytes`. Returns 0 or -1. */
int rc_start(uint64_t bytes);

enum rc_verdict {
    RC_FORWARD = 0,  /* go to the origin (a miss, a bypass, or the fetch leader) */
    RC_ANSWERED = 1, /* answered from the cache */
    RC_WAITING = 2,  /* parked behind another request fetching the same key, or (a
                        fetch's leader) waiting for the Redis L2's answer */
};

/* For a request on a cached route: builds the key, answers a fresh hit, or parks
 * the request behind the one already fetching its key (request coalescing: one
 * origin request per key; the wait list is capped and the wait bounded by the
 * origin's timeout, after which the waiter goes to the origin without storing).
 * With an L2 (cache.redis), the first request of a key asks Redis first and
 * returns RC_WAITING too: the answer is served, or the request goes on to
 * r->rc.origin (or r->fetch) later, exactly as a woken waiter does. So the
 * caller, on RC_WAITING, prepares the head and sets r->rc.origin as it does for
 * waiters. Never answers through the L2 from inside rc_lookup. */
int rc_lookup(struct req *r, const struct cfg_route *route, const struct h1_msg *m,
              const struct up_target *t);

/* While up.c writes the request head for the origin: returns 1 when rcache wrote
 * (or dropped) field h itself: Cookie without the cookies the route strips, the
 * client's validators replaced by the cache's when it revalidates. */
int rc_forward_field(struct req *r, const struct h1_header *h, struct evbuffer *b);
/* Appends the cache's own fields (If-None-Match / If-Modified-Since of the stored
 * copy being revalidated, RFC 9111 4.3.1). */
void rc_forward_extra(struct req *r, struct evbuffer *b);

/* A 304 answered the cache's conditional request (RFC 9111 4.3.4): refreshes the
 * stored copy with the 304's fields and freshness. Returns 1 when the request is
 * to be answered from it with rc_serve_revalidated (after up.c let the origin
 * connection go: nothing else of this exchange is relayed), 0 to relay the 304. */
int rc_revalidated(struct req *r, const struct h1_msg *m);
void rc_serve_revalidated(struct req *r);

/* The origin's response head arrived: decides whether to store it. */
void rc_response_head(struct req *r, const struct h1_msg *m);
/* Body bytes about to be moved to the client (copied when capturing). */
void rc_response_body(struct req *r, struct evbuffer *src, size_t n);
/* The response is complete: stores a captured object; or drops it. */
void rc_response_end(struct req *r, int complete);

/* Non-zero when a stale copy is held that stale-if-error still allows. */
int rc_has_stale(const struct req *r);
/* Answers with the stale copy after the origin failed with `status` (RFC 5861
 * 4). Returns 1 when it did, 0 when there is no usable stale copy. */
int rc_serve_stale(struct req *r, int status);

/* The worker's mailbox of woken waiters (runs on the worker's thread). */
void rc__on_mail(evutil_socket_t fd, short what, void *arg);

/* Releases what the request holds (an object being captured, a stale copy). */
void rc_req_fini(struct req *r);

#endif
