/* SPDX-License-Identifier: Apache-2.0
 *
 * l2: the Redis L2, the cache shared by the edge nodes (config `cache.redis`).
 * Stored objects travel in obj_serialize form (cache/obj.h: versioned, XXH3
 * checksum) under the key `prefix` + 32 hex digits of the 128-bit cache key hash,
 * each with an EX expiry.
 *
 * One struct l2 per worker: one hiredis async connection on the worker's
 * event_base (libevent adapter), connected with a timeout and reconnected with
 * exponential back-off (50 ms doubling to 2 s) whenever it is lost. Every lookup
 * has a deadline (cache.redis.timeout) kept by our own timer, because hiredis 0.14
 * has no command timeout for async contexts: a reply after it is ignored. A
 * circuit breaker stops asking after cache.redis.breaker.failures failed lookups
 * in a row (timeouts, error replies, a lost connection) for breaker.cooldown, then
 * lets one probe through; its answer closes or reopens it.
 *
 * Nothing here ever waits: an L2 that is down, slow or switched off by the
 * breaker turns into immediate misses, and writes are fire and forget.
 *
 * Thread: a struct l2 and its operations belong to the worker thread that made
 * it. l2_stats, l2_metrics and l2_key_name may be called from any thread (the
 * counters are process-wide atomics summed over every worker).
 * Cross-node purge over pub/sub and the ban list that keeps purged copies in
 * Redis from being served are l2_bus.h's (on the main thread). Cluster mode is a
 * later issue: a node map fits behind this same API.
 */
#ifndef TESSERA_L2_H
#define TESSERA_L2_H

#include <stddef.h>
#include <stdint.h>

struct l2;
struct l2_op;
struct obj;
struct cfg;
struct cfg_redis;
struct event_base;
struct evbuffer;

/* Why a lookup failed (the `err` of l2_get_cb), compared by address. */
extern const char l2_err_timeout[];    /* no reply within cache.redis.timeout */
extern const char l2_err_reply[];      /* Redis answered with an error */
extern const char l2_err_connection[]; /* the connection was lost before the reply */

/* Longest serialized object stored or accepted back (bytes). Larger values read
 * from Redis count as corrupt. Note: hiredis reads a whole reply before we see
 * it, so this does not bound the memory a hostile Redis can make us allocate. */
#define L2_VALUE_MAX (64u << 20)

/* Longest cache.redis.prefix (the schema's bound) and the longest key name. */
#define L2_PREFIX_MAX 64
#define L2_NAME_MAX (L2_PREFIX_MAX + 32 + 1)

/* Makes worker `id`'s L2 for conf on `base` and starts connecting (the first
 * attempt at once, without blocking). The configuration is copied: a reload does
 * not change a running L2 (see l2_conf_changed). Returns the L2, never NULL
 * (allocation failure aborts). Thread: the worker's, before its loop runs. */
struct l2 *l2_new(struct event_base *base, const struct cfg_redis *conf, unsigned id);

/* Closes the connection and frees *lp, setting it to NULL; NULL is ignored.
 * Lookups still pending are dropped without their callbacks (their requests are
 * gone: the worker frees its L2 after its last connection); queued writes are
 * lost. Call it after the worker's loop has stopped. */
void l2_free(struct l2 **lp);

/* Non-zero when a reload from a to b changes cache.redis (which takes effect on
 * restart only). Thread: any. */
int l2_conf_changed(const struct cfg *a, const struct cfg *b);

/* A lookup's completion: o is a new reference to the object found (the callee
 * owns it), or NULL for a miss (err NULL: Redis has no usable value, a corrupt
 * one included) or a failure (err one of the l2_err_* constants). */
typedef void (*l2_get_cb)(void *arg, struct obj *o, const char *err);

/* Asks Redis for the object whose key is key[0..key_len) with hash (hlo, hhi).
 * A value that does not parse as a serialized object, or whose key bytes differ
 * from key, is reported as a miss, deleted from Redis and counted as corrupt.
 * Returns a handle, and then `cb` is called exactly once, later, from the
 * worker's loop (never from inside l2_get) unless l2_cancel comes first. Returns
 * NULL when the L2 cannot be asked now (not connected, the breaker is open, too
 * many operations in flight, no memory): then cb is never called and the caller
 * goes on as on a miss at once. key is copied. */
struct l2_op *l2_get(struct l2 *l, const void *key, size_t key_len, uint64_t hlo, uint64_t hhi,
                     l2_get_cb cb, void *arg);

/* Withdraws a lookup: its callback will not be called. Sets *opp to NULL; NULL
 * is ignored. The reply, when it comes, still counts for the breaker. Must not
 * be called for an op whose callback has started. */
void l2_cancel(struct l2_op **opp);

/* Stores len bytes (a serialized object) under hash (hlo, hhi) with an expiry of
 * ttl_s seconds, capped by cache.redis.ttl_max; fire and forget (the bytes are
 * copied). Returns 0 when the write was queued, -1 when it was dropped (not
 * connected, breaker not closed, too much in flight, ttl_s <= 0, too large). */
int l2_set(struct l2 *l, uint64_t hlo, uint64_t hhi, const void *bytes, size_t len, int64_t ttl_s);

/* Stores object o (takes a reference of its own) on the next loop turn, so that
 * serializing it never delays the response being sent. Its expiry is its whole
 * servable life at that time: the latest of expires_at, stale_until and
 * error_until, minus now, capped by ttl_max (l2__ttl). Nothing is stored for an
 * object with no life left. Never fails visibly (drops are counted). */
void l2_store(struct l2 *l, struct obj *o);

/* Deletes the key of hash (hlo, hhi): fire and forget, sent whenever connected,
 * whatever the breaker says (an invalidation must not be skipped). */
void l2_del(struct l2 *l, uint64_t hlo, uint64_t hhi);

/* Writes the Redis key name for hash (hlo, hhi): prefix, then the hash as 32
 * lower-case hex digits, hhi first, and a NUL. Returns the length (without the
 * NUL), or 0 when cap is too small. Thread: any. */
size_t l2_key_name(const char *prefix, size_t prefix_len, uint64_t hlo, uint64_t hhi, char *out,
                   size_t cap);

/* Counters summed over every worker since the start. */
struct l2_stats {
    uint64_t gets;           /* l2_get calls */
    uint64_t hits;           /* lookups that found an object */
    uint64_t misses;         /* lookups Redis answered without one (corrupt included) */
    uint64_t errors;         /* error replies and lost connections, reads and writes */
    uint64_t timeouts;       /* lookups with no reply in time */
    uint64_t corrupt;        /* values that failed to parse or had another key */
    uint64_t skipped;        /* lookups not sent: not connected, breaker open, overload */
    uint64_t sets;           /* writes sent */
    uint64_t dropped;        /* writes not sent (as for skipped, or no life left) */
    uint64_t dels;           /* deletes sent */
    uint64_t breaker_opened; /* times a worker's breaker opened */
    uint64_t connects;       /* connections established (first ones and reconnects) */
    uint64_t connected;      /* gauge: workers connected now */
    uint64_t breaker_open;   /* gauge: workers whose breaker is open or probing now */
};

/* Fills *out. Thread: any. */
void l2_stats(struct l2_stats *out);

/* Writes the counters as Prometheus text (tessera_l2_*) when an L2 was ever
 * made; nothing otherwise. Thread: any. */
void l2_metrics(struct evbuffer *out);

/* Cross-module internal: the circuit breaker's state machine, pure (the caller
 * passes the time), for l2.c and tests/unit/test_l2.c.
 *   CLOSED    every operation goes; `max_failures` failed results in a row open it
 *   OPEN      nothing goes until open_until_ms; then the next ask becomes the probe
 *   HALF_OPEN only the probe is out; its result closes or reopens the breaker
 * Results of operations sent before the breaker opened are ignored while it is
 * open or probing. */
enum l2__breaker_state { L2_BREAKER_CLOSED, L2_BREAKER_OPEN, L2_BREAKER_HALF_OPEN };

struct l2__breaker {
    enum l2__breaker_state state;
    unsigned failures; /* failed results in a row while closed */
    unsigned max_failures;
    uint64_t cooldown_ms;
    uint64_t open_until_ms;
};

/* A hiredis async context connecting to host:port on base, with data and the
 * two callbacks set; NULL with why filled when it cannot start. Shared by the
 * workers' connections (l2.c) and the purge bus (l2_bus.c). */
struct event_base;
struct redisAsyncContext;
typedef void redisConnectCallback(const struct redisAsyncContext *, int);
typedef void redisDisconnectCallback(const struct redisAsyncContext *, int);
struct redisAsyncContext *l2__open(const char *host, int port, struct event_base *base, void *data,
                                   redisConnectCallback *on_conn, redisDisconnectCallback *on_disc,
                                   char *why, size_t whylen);

void l2__breaker_init(struct l2__breaker *b, unsigned max_failures, uint64_t cooldown_ms);
/* 0: do not ask; 1: ask; 2: ask, and this is the probe (report with probe = 1). */
int l2__breaker_allow(struct l2__breaker *b, uint64_t now_ms);
/* The result of an operation allowed earlier. Returns 1 when it opened the
 * breaker (from closed, or again after a failed probe), else 0. */
int l2__breaker_result(struct l2__breaker *b, int ok, int probe, uint64_t now_ms);
const char *l2__breaker_state_name(enum l2__breaker_state s);

/* Cross-module internal, for tests: the EX seconds for an object at `now`, or 0
 * when it has no life left (see l2_store). */
int64_t l2__ttl(const struct obj *o, int64_t now, int64_t ttl_max_s);

#endif
