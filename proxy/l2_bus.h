/* SPDX-License-Identifier: Apache-2.0
 *
 * l2_bus: purges across the edge nodes sharing one Redis L2, and the ban list
 * that keeps purged objects out of the L2 (config `cache.redis`).
 *
 * Cross-node purge: every process subscribes to the channel `<prefix>purge` on a
 * hiredis async connection of its own on the main thread's event base, and
 * publishes its local purges (purge_execute, seen through purge_set_observer) on
 * a second one: a message is a purge request (kind, host, https, value, soft)
 * with the publishing node's random id, a sequence number and the purge's time,
 * in a small versioned, length-checked binary form (l2_bus__encode). A node
 * ignores its own messages and runs purge_apply on its L1 for the others'; a
 * message that does not decode, or does not normalise, is counted and ignored.
 * Both connections reconnect with back-off (50 ms doubling to 2 s), like l2.c's.
 *
 * Missed messages: while the subscription is down a node cannot know which
 * purges it missed, so whenever the subscription is (re)established (the first
 * time included) the whole L1 is flushed (purge_flush) and the count logged:
 * every object in the L1 was written to the L2 or came from it, and any of them
 * could be the target of a missed purge.
 *
 * Ban list: L2 keys are hashes of full keys, so a URL, prefix or tag purge
 * cannot name them. Every purge, local or received, adds a ban {request, time}
 * kept for cache.redis.ttl_max (the longest an L2 value lives); an L2 hit whose
 * object was stored (obj_stored_at) at or before a matching ban's time is a miss
 * and is deleted from Redis (hard purge), or is made stale (soft purge: the copy
 * purge_obj_expired makes). Matching is purge_matcher_test, the test purge_run
 * applies. Bans are also kept in Redis, in the sorted set `<prefix>bans`
 * (member: the message, score: its time; trimmed to ttl_max on every add), and
 * loaded whenever the publishing connection (re)connects, so a node that starts
 * or comes back knows the bans of the last ttl_max.
 *
 * Thread: l2_bus_new, l2_bus_free and the connections belong to the main thread.
 * l2_bus_check (workers, on L2 hits) and the observer (the thread that purged)
 * may run on any thread: the ban list has a lock, and an atomic count that keeps
 * the check to one load while there are no bans; local purges reach the main
 * thread through a locked queue and event_active.
 */
#ifndef TESSERA_L2_BUS_H
#define TESSERA_L2_BUS_H

#include <stddef.h>
#include <stdint.h>

#include "purge.h"

struct l2_bus;
struct cfg;
struct cfg_redis;
struct event_base;
struct evbuffer;
struct obj;

/* Makes the bus for conf on the main thread's base and starts connecting; *gen
 * is read (on the main thread) for the configuration purge_apply gets. Sets the
 * purge observer. Never NULL (allocation failure aborts). Thread: main. */
struct l2_bus *l2_bus_new(struct event_base *base, const struct cfg_redis *conf,
                          struct cfg *const *gen);

/* Closes both connections, removes the observer and frees *bp (NULL ignored). */
void l2_bus_free(struct l2_bus **bp);

/* What an L2 hit o is worth against the ban list at `now`. */
enum l2_bus_verdict {
    L2_BUS_OK = 0,     /* no matching ban after it was stored */
    L2_BUS_BANNED = 1, /* hard-purged since: a miss, delete it */
    L2_BUS_STALE = 2,  /* soft-purged since: serve it as expired (purge_obj_expired) */
};
enum l2_bus_verdict l2_bus_check(const struct obj *o, int64_t now);

/* Writes tessera_purge_messages_{sent,received,bad,dropped}_total,
 * tessera_purge_resyncs_total, tessera_purge_subscribed, tessera_l2_bans and
 * tessera_l2_banned_total once a bus was made; nothing otherwise. Thread: any. */
void l2_bus_metrics(struct evbuffer *out);

/* ---- cross-module internals, for l2_bus.c and tests/unit/test_l2_bus.c ---- */

/* A decoded message. pr's strings point into the bytes decoded. */
struct l2_bus__msg {
    uint64_t node; /* the publishing process's random id */
    uint64_t seq;  /* its purge counter: (node, seq) names one purge */
    int64_t at;    /* the purge's time, seconds since the epoch */
    struct purge_req pr;
};

#define L2_BUS_MSG_HEAD 36
#define L2_BUS_MSG_MAX (L2_BUS_MSG_HEAD + PURGE_HOST_MAX + PURGE_VALUE_MAX)
#define L2_BUS_MAGIC "TSPG"
#define L2_BUS_VERSION 1

/* Writes m into out[0..cap); returns the length, or 0 when it does not fit or
 * m is out of bounds (empty or long value, long host, bad kind). Thread: any. */
size_t l2_bus__encode(const struct l2_bus__msg *m, unsigned char *out, size_t cap);

/* Reads a message of exactly n bytes. Returns 0, or -1 for anything else
 * (short, long, another magic or version, bad kind, flags or lengths); never
 * reads outside p[0..n). Thread: any. */
int l2_bus__decode(const unsigned char *p, size_t n, struct l2_bus__msg *m);

/* Adds a ban for m (normalised with c) at time m->at; a ban already held for
 * (m->node, m->seq) is not added again. Bans older than ttl_max_s at `now` are
 * dropped. Returns 0, or a purge_err for a request that does not normalise. */
int l2_bus__ban_add(const struct cfg *c, const struct l2_bus__msg *m, int64_t now,
                    int64_t ttl_max_s);

/* Number of bans held; drops every ban (tests). Thread: any. */
size_t l2_bus__bans(void);
void l2_bus__bans_clear(void);

#endif
