/* SPDX-License-Identifier: Apache-2.0
 *
 * l1: the in-memory cache shared by all worker threads, bounded by bytes.
 *
 * Locking: the store is split into a power-of-two number of shards chosen by the
 * key hash; each shard has a mutex, its own open-addressing hash table, its own
 * eviction queues and an equal share of the byte budget. A lookup holds its shard's
 * lock for a hash probe, a key comparison and a refcount increment; it allocates
 * nothing. An insert also evicts, under the same lock; evicted objects are released
 * after the lock is dropped.
 *
 * Ownership and refcounts: the store holds one reference to each object it keeps.
 * l1_lookup returns a new reference that the caller releases with obj_unref, so an
 * object evicted or replaced while a request is sending it stays valid until that
 * request lets go. l1_insert takes its own reference; the caller keeps its own.
 *
 * Eviction: S3-FIFO (Yang et al., "FIFO queues are all you need for cache
 * eviction", SOSP 2023) or, for comparison, LRU. Expiry is the caller's business
 * (it checks freshness on every hit); l1_evict_expired_step reclaims dead objects
 * early. Budgets count obj_size(); the index (hash tables, ghost) is reported
 * separately in l1_stats.index_bytes. cache/EVICTION.md compares the policies.
 *
 * Only l1_scan takes callbacks (see there); no other function re-enters the
 * caller. obj_unref of an evicted object runs after the shard lock is released.
 */
#ifndef TESSERA_L1_H
#define TESSERA_L1_H

#include <stddef.h>
#include <stdint.h>

struct l1;
struct obj;

enum l1_policy {
    L1_S3FIFO, /* small FIFO (10% of bytes) + main FIFO with reinsertion + ghost FIFO */
    L1_LRU,    /* one list, moved to the front on every hit; for comparison */
};

enum l1_err {
    L1_OK = 0,
    L1_E_TOO_LARGE = -1, /* obj_size() over l1_max_object_size(); counted in refused */
    L1_E_BUSY = -2,      /* the object is already in a store */
    L1_E_NOMEM = -3,     /* the shard's hash table could not grow */
    L1_E_NOT_FOUND = -4, /* l1_remove: no object with that key */
};

/* The text of an l1_err; "unknown error" for other values. Thread: any. */
const char *l1_strerror(int err);

/* "s3fifo" or "lru". Thread: any. */
const char *l1_policy_name(enum l1_policy policy);

/* Counters and gauges summed over the shards (each shard is read under its lock,
 * so the sum is not one atomic snapshot). */
struct l1_stats {
    uint64_t max_bytes;     /* budget given to l1_new, rounded down to whole shards */
    uint64_t objects;       /* objects held */
    uint64_t bytes;         /* sum of their obj_size(); never above max_bytes */
    uint64_t hits;          /* l1_lookup found the key */
    uint64_t misses;        /* l1_lookup did not */
    uint64_t inserts;       /* successful l1_insert calls, replacements included */
    uint64_t replacements;  /* inserts that replaced an object with the same key */
    uint64_t removals;      /* objects taken out by l1_remove */
    uint64_t evictions;     /* objects evicted to make room */
    uint64_t expired;       /* objects taken out by l1_evict_expired_step */
    uint64_t refused;       /* inserts refused as too large */
    uint64_t small_objects; /* S3-FIFO: in the small FIFO (always 0 for LRU) */
    uint64_t small_bytes;
    uint64_t main_objects; /* S3-FIFO: in the main FIFO; LRU: in the list */
    uint64_t main_bytes;
    uint64_t ghost_entries; /* S3-FIFO: hashes remembered in the ghost FIFO */
    uint64_t ghost_hits;    /* inserts that went straight to main on a ghost hit */
    uint64_t promotions;    /* objects moved from small to main */
    uint64_t index_bytes;   /* memory of the hash tables and ghosts, outside the budget */
};

/* Makes a store of at most max_bytes (split evenly over nshards shards; each shard
 * gets max_bytes / nshards) with the given eviction policy. nshards must be a power
 * of two from 1 to 4096. Returns NULL for a bad nshards or when memory runs out.
 * Thread: any; the store may then be used from any number of threads. */
struct l1 *l1_new(size_t max_bytes, unsigned nshards, enum l1_policy policy);

/* Releases every object the store holds (requests holding references keep theirs)
 * and frees the store. No other call may be in progress or follow. NULL is ignored. */
void l1_free(struct l1 *c);

/* The largest obj_size() l1_insert accepts: an eighth of a shard's budget, so that
 * no single object can flush a shard. Thread: any. */
size_t l1_max_object_size(const struct l1 *c);

/* Finds the object whose key is exactly key[0..key_len) with hash (hlo, hhi); the
 * hash only narrows the search, the key bytes decide. Returns a new reference (the
 * caller releases it with obj_unref) or NULL. Counts a hit or a miss and, under
 * S3-FIFO, bumps the object's access counter (LRU: moves it to the front).
 * Allocates nothing. Thread: any. */
struct obj *l1_lookup(struct l1 *c, const void *key, size_t key_len, uint64_t hlo, uint64_t hhi);

/* Stores o under its key and hash, taking a reference of its own (the caller keeps
 * its reference). An object with the same key is replaced; the new one inherits its
 * queue and access counter. Evicts until the shard is within budget. Under S3-FIFO a
 * new key goes to the small FIFO, or to main when its hash is in the ghost.
 * Returns L1_OK, L1_E_TOO_LARGE (obj_size(o) > l1_max_object_size(c)), L1_E_BUSY (o
 * is in a store already) or L1_E_NOMEM; on error the store and o are unchanged.
 * o's times and flags must be set before: it is shared from here on. Thread: any. */
int l1_insert(struct l1 *c, struct obj *o);

/* Takes the object with that key out of the store (readers holding it keep it).
 * Returns L1_OK or L1_E_NOT_FOUND. Thread: any. */
int l1_remove(struct l1 *c, const void *key, size_t key_len, uint64_t hlo, uint64_t hhi);

/* Fills *st with the counters summed over the shards. Thread: any. */
void l1_stats(struct l1 *c, struct l1_stats *st);

/* Reclaims dead objects early (obj_is_dead at `now`): scans up to max_slots slots of
 * one shard's hash table, the next shard on each call, continuing where the last
 * scan of that shard stopped, and removes what is dead (counted in expired). Meant
 * for a periodic timer; an object missed here is still evicted in time. Returns the
 * number removed. Thread: any. */
size_t l1_evict_expired_step(struct l1 *c, int64_t now, size_t max_slots);

/* What an l1_scan match callback decides for one object. */
enum l1_scan_verdict {
    L1_SCAN_KEEP = 0,    /* leave it where it is */
    L1_SCAN_REMOVE = 1,  /* take it out, as l1_remove would (counted in removals) */
    L1_SCAN_REPLACE = 2, /* swap in the object ops->copy makes (counted in replacements) */
};

/* The callbacks of one l1_scan.
 *
 * match(arg, o) runs with o's shard locked, for every object the store holds when
 * the scan reaches it: it must be short (no allocation, no I/O), must not call into
 * this store (the shard lock is not recursive) and must not keep o. It returns an
 * l1_scan_verdict.
 *
 * copy(arg, o) runs with no lock held, for each object match said L1_SCAN_REPLACE
 * to (the scan holds a reference on o meanwhile). It returns a new object with one
 * reference, which the scan takes over: the same key and hash as o, its times and
 * flags set, not in any store. The new object takes o's place in the index and in
 * its eviction queue (same position, same access counter), so a rewritten object
 * keeps its standing. When o left the store in the meantime (evicted, removed, or
 * replaced by a newer insert), the copy is dropped and the newer object is left
 * alone. copy may return NULL (out of memory): o is then removed. ops->copy may be
 * NULL, which makes every L1_SCAN_REPLACE a removal. */
struct l1_scan_ops {
    int (*match)(void *arg, const struct obj *o);
    struct obj *(*copy)(void *arg, const struct obj *o);
};

/* Visits every object of the store once and removes or replaces those match asks
 * for (a purge). Shards are scanned one after the other through their hash tables,
 * holding a shard's lock for at most 256 slots, 32 removals and 16 replacements at
 * a time: lookups and inserts go on meanwhile, and the scan continues where it was.
 * Each object that was in the store for the whole scan is matched exactly once,
 * even when concurrent inserts grow the table or removals move entries (the scan
 * marks what it visited and resumes at the right slot: see l1.c). Objects inserted
 * while the scan runs may or may not be visited.
 *
 * Scans take turns: a second l1_scan waits until the first one ends, so call it
 * from a thread that may block (the admin thread, a purge thread), never from an
 * event loop serving requests. Returns the number of objects removed or replaced.
 * Thread: any. Re-enters the caller through ops only, as described above. */
size_t l1_scan(struct l1 *c, const struct l1_scan_ops *ops, void *arg);

/* Cross-module internal, for tests: l1_new with an allocator for the store's own
 * memory (shards, tables, ghosts; not the objects). alloc(n, arg) returns memory
 * that free() releases, or NULL to simulate exhaustion. */
struct l1 *l1__new_alloc(size_t max_bytes, unsigned nshards, enum l1_policy policy,
                         void *(*alloc)(size_t n, void *arg), void *arg);

/* Cross-module internal, for tests: checks every invariant of every shard (queues
 * and table agree, byte counts add up, budget held, probe chains intact). Returns 0,
 * or the l1.c line number of the first check that failed. Locks each shard in turn. */
int l1__check(struct l1 *c);

#endif
