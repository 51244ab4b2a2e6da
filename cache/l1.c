/* SPDX-License-Identifier: Apache-2.0
 *
 * l1: the sharded in-memory store (see l1.h for the contract).
 *
 * Each shard is independent: a mutex, a linear-probing hash table from the key
 * hash's low half to the object (deletion by backward shift, so no tombstones and
 * probe chains stay short), the eviction queues threaded through the objects' L1
 * hooks (obj__l1, no allocation per entry), and for S3-FIFO a ghost FIFO of
 * hashes. The shard is chosen by the hash's high half and the table slot by the
 * low half, so the two do not correlate.
 *
 * Everything in a shard is read and written under its lock, including the
 * counters. Objects leaving a shard are collected in a small batch and released
 * after the lock is dropped, so a free never lengthens a critical section (unless
 * one insert evicts more than DEAD_BATCH objects; the extras are released in place).
 *
 * l1_scan walks a shard's table in slot order, a bounded number of slots per lock
 * hold. Between two holds the table may change under it: an insert never moves an
 * entry, but a growth rehashes everything (the scan starts the shard over) and a
 * deletion's backward shift moves entries to lower slots, possibly from the part
 * not yet visited into the part already visited. table_delete sees that move and
 * takes the scan's cursor (kept in the table) back to the entry's new slot. Objects
 * carry the number of the last scan that visited them, so going over a part again
 * matches nothing twice.
 */
#include "l1.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obj.h"

#define L1_MAGIC 0x4c315354u    /* "L1ST" */
#define SHARD_MAGIC 0x4c31534bu /* "L1SK" */
#define SHARDS_MAX 4096
#define TABLE_MIN 16 /* slots of a new shard's table */
#define GHOST_MIN 16 /* entries a shard's ghost may hold even while main is small */
#define FREQ_MAX 3   /* the 2-bit access counter of S3-FIFO */
#define DEAD_BATCH 32
#define SCAN_SLOTS 256 /* l1_scan: slots visited per lock hold */
#define SCAN_COPIES 16 /* l1_scan: replacements prepared per lock hold */
#define CACHE_LINE 64
#define NONE SIZE_MAX

#define ASSERT(c) ((c) ? (void)0 : assert_fail(#c, __FILE__, __LINE__))

enum { Q_NONE, Q_SMALL, Q_MAIN };

/* A hash-table slot; v == 0 marks an empty one. In the index, h is the key hash's
 * low half and v the object pointer; in a ghost, h is that half too and v the
 * sequence number of the ghost entry. */
struct slot {
    uint64_t h;
    uint64_t v;
};

struct table {
    struct slot *slots;
    size_t mask; /* capacity - 1; the capacity is a power of two */
    size_t count;
    size_t cursor; /* l1_scan: the next slot to visit, NONE when no scan is under way */
};

/* Head is the newest object, tail the oldest (the next to evict). */
struct queue {
    struct obj *head, *tail;
    size_t count, bytes;
};

/* The ghost FIFO: the hashes of objects evicted from small without a hit. The ring
 * keeps insertion order; the set answers "is it in the ghost" and maps the hash to
 * the sequence number of its latest ring entry, so an older duplicate leaving the
 * ring does not take the newer one out of the set. Entries are never moved: one
 * taken out by a ghost hit leaves a stale ring entry behind, skipped when popped. */
struct ghost {
    struct table set;
    uint64_t *ring;
    size_t ring_mask; /* capacity - 1, when ring != NULL */
    size_t ring_head; /* index of the oldest entry */
    size_t ring_len;
    uint64_t seq; /* sequence number of the newest entry; the first is 1 */
};

/* Aligned to a cache line (and so a multiple of one): two shards' locks never
 * share a line. */
struct shard {
    _Alignas(CACHE_LINE) unsigned magic;
    pthread_mutex_t lock;
    enum l1_policy policy;
    size_t budget;       /* bytes */
    size_t small_target; /* S3-FIFO: small evicts first while it holds this much */
    size_t max_obj;      /* budget / 8 */
    struct table index;
    struct queue small, main;
    struct ghost ghost;
    size_t sweep; /* l1_evict_expired_step resumes at this slot */
    void *(*alloc)(size_t n, void *arg);
    void *alloc_arg;
    uint64_t hits, misses, inserts, replacements, removals, evictions, expired, refused;
    uint64_t ghost_hits, promotions;
};

struct l1 {
    unsigned magic;
    unsigned nshards;
    enum l1_policy policy;
    atomic_uint sweep_next;    /* the shard of the next l1_evict_expired_step */
    pthread_mutex_t scan_lock; /* one l1_scan at a time: a table has one cursor */
    uint32_t scan_seq;         /* number of the last scan (under scan_lock); never 0 */
    void *shards_mem;          /* what was allocated; shards is it aligned to a line */
    struct shard *shards;
};

/* Objects to release once the shard lock is dropped. */
struct batch {
    size_t n;
    struct obj *o[DEAD_BATCH];
};

static void assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, expr);
    abort();
}

static void *shard_alloc(struct shard *s, size_t n)
{
    return s->alloc != NULL ? s->alloc(n, s->alloc_arg) : malloc(n);
}

const char *l1_strerror(int err)
{
    switch (err) {
    case L1_OK: return "ok";
    case L1_E_TOO_LARGE: return "object too large for the cache";
    case L1_E_BUSY: return "object already in a cache";
    case L1_E_NOMEM: return "out of memory";
    case L1_E_NOT_FOUND: return "not found";
    }
    return "unknown error";
}

const char *l1_policy_name(enum l1_policy policy)
{
    return policy == L1_LRU ? "lru" : "s3fifo";
}

/* ---- hash tables ---- */

static int table_init(struct shard *s, struct table *t, size_t cap)
{
    t->slots = shard_alloc(s, cap * sizeof(struct slot));
    if (t->slots == NULL)
        return -1;
    memset(t->slots, 0, cap * sizeof(struct slot));
    t->mask = cap - 1;
    t->count = 0;
    t->cursor = NONE;
    return 0;
}

static size_t table_bytes(const struct table *t)
{
    return t->slots != NULL ? (t->mask + 1) * sizeof(struct slot) : 0;
}

static void table_put(struct table *t, uint64_t h, uint64_t v)
{
    size_t i = h & t->mask;

    while (t->slots[i].v != 0)
        i = (i + 1) & t->mask;
    t->slots[i].h = h;
    t->slots[i].v = v;
    t->count++;
}

/* Makes room for one more entry, keeping the load at or under 3/4 so a probe always
 * ends at an empty slot soon. The only allocation an insert makes. */
static int table_reserve(struct shard *s, struct table *t)
{
    struct table bigger;
    size_t cap = t->slots != NULL ? t->mask + 1 : 0, i;

    if (cap != 0 && (t->count + 1) * 4 <= cap * 3)
        return 0;
    if (table_init(s, &bigger, cap != 0 ? cap * 2 : TABLE_MIN) != 0)
        return -1;
    for (i = 0; i < cap; i++)
        if (t->slots[i].v != 0)
            table_put(&bigger, t->slots[i].h, t->slots[i].v);
    /* Every entry may have moved: a scan under way starts the table over (its
     * marks make that cheap). A ghost set that was never allocated has no scan. */
    bigger.cursor = t->slots != NULL && t->cursor != NONE ? 0 : NONE;
    free(t->slots);
    *t = bigger;
    return 0;
}

/* Empties slot i, then moves back each later entry of the same cluster that would
 * otherwise become unreachable from its home slot (Knuth, TAOCP vol. 3, 6.4,
 * Algorithm R). Entries that move stay in their probe order. */
static void table_delete(struct table *t, size_t i)
{
    size_t j = i, home;

    for (;;) {
        j = (j + 1) & t->mask;
        if (t->slots[j].v == 0)
            break;
        home = t->slots[j].h & t->mask;
        /* The entry at j may stay if its home lies cyclically in (i, j]. */
        if (i <= j ? (home > i && home <= j) : (home > i || home <= j))
            continue;
        t->slots[i] = t->slots[j];
        /* A scan has visited the slots below its cursor: an entry moving from the
         * part it has not visited into that part takes the cursor back with it
         * (test_l1 "scan while the table changes"). A cursor of NONE never moves. */
        if (i < t->cursor && t->cursor <= j)
            t->cursor = i;
        i = j;
    }
    t->slots[i].h = 0;
    t->slots[i].v = 0;
    t->count--;
}

/* Ghost set lookup: its hashes are unique. */
static size_t table_find_h(const struct table *t, uint64_t h)
{
    size_t i;

    if (t->slots == NULL)
        return NONE;
    for (i = h & t->mask; t->slots[i].v != 0; i = (i + 1) & t->mask)
        if (t->slots[i].h == h)
            return i;
    return NONE;
}

static struct obj *slot_obj(const struct slot *sl)
{
    return (struct obj *)(uintptr_t)sl->v;
}

/* The index slot of the object with these key bytes. Equal hashes are only a
 * hint: the probe goes on past entries whose key differs (test_l1 "collisions"). */
static size_t find_key(const struct table *t, const void *key, size_t key_len, uint64_t hlo,
                       uint64_t hhi)
{
    size_t i;

    for (i = hlo & t->mask; t->slots[i].v != 0; i = (i + 1) & t->mask) {
        const struct obj *o;

        if (t->slots[i].h != hlo)
            continue;
        o = slot_obj(&t->slots[i]);
        if (obj_hash_hi(o) == hhi && obj_key_equal(o, key, key_len))
            return i;
    }
    return NONE;
}

/* The index slot holding this very object, which must be there. */
static size_t find_obj(const struct table *t, const struct obj *o)
{
    size_t i;

    for (i = obj_hash_lo(o) & t->mask; t->slots[i].v != 0; i = (i + 1) & t->mask)
        if (t->slots[i].v == (uint64_t)(uintptr_t)o)
            return i;
    ASSERT(!"object missing from its shard's index");
    return NONE;
}

/* ---- queues ---- */

static struct queue *queue_of(struct shard *s, const struct obj__l1 *k)
{
    ASSERT(k->queue == Q_SMALL || k->queue == Q_MAIN);
    return k->queue == Q_SMALL ? &s->small : &s->main;
}

static void q_push(struct shard *s, int which, struct obj *o, size_t size)
{
    struct queue *q = which == Q_SMALL ? &s->small : &s->main;
    struct obj__l1 *k = obj__l1(o);

    k->queue = (uint8_t)which;
    k->prev = NULL;
    k->next = q->head;
    if (q->head != NULL)
        obj__l1(q->head)->prev = o;
    else
        q->tail = o;
    q->head = o;
    q->count++;
    q->bytes += size;
}

static void q_unlink(struct shard *s, struct obj *o, size_t size)
{
    struct obj__l1 *k = obj__l1(o);
    struct queue *q = queue_of(s, k);

    if (k->prev != NULL)
        obj__l1(k->prev)->next = k->next;
    else
        q->head = k->next;
    if (k->next != NULL)
        obj__l1(k->next)->prev = k->prev;
    else
        q->tail = k->prev;
    k->prev = k->next = NULL;
    k->queue = Q_NONE;
    q->count--;
    q->bytes -= size;
}

/* ---- leaving the shard ---- */

static void batch_add(struct batch *b, struct obj *o)
{
    if (b->n == DEAD_BATCH) {
        obj_unref(&o); /* rare: many evictions for one insert */
        return;
    }
    b->o[b->n++] = o;
}

static void batch_release(struct batch *b)
{
    size_t i;

    for (i = 0; i < b->n; i++)
        obj_unref(&b->o[i]);
    b->n = 0;
}

/* Takes o out of its queue and the index (slot i, or NONE to look it up), gives up
 * the claim and queues the store's reference for release. */
static void drop(struct shard *s, struct obj *o, size_t i, struct batch *dead)
{
    q_unlink(s, o, obj_size(o));
    table_delete(&s->index, i != NONE ? i : find_obj(&s->index, o));
    atomic_store_explicit(&obj__l1(o)->owner, NULL, memory_order_release);
    batch_add(dead, o);
}

/* ---- the ghost ---- */

static void ghost_pop(struct ghost *g)
{
    uint64_t h = g->ring[g->ring_head], seq = g->seq - g->ring_len + 1;
    size_t i = table_find_h(&g->set, h);

    if (i != NONE && g->set.slots[i].v == seq)
        table_delete(&g->set, i);
    g->ring_head = (g->ring_head + 1) & g->ring_mask;
    g->ring_len--;
}

/* Doubles the ring, keeping the order (oldest first at index 0). */
static int ghost_grow(struct shard *s, struct ghost *g)
{
    size_t cap = g->ring != NULL ? g->ring_mask + 1 : 0, ncap = cap != 0 ? cap * 2 : GHOST_MIN, i;
    uint64_t *ring = shard_alloc(s, ncap * sizeof(*ring));

    if (ring == NULL)
        return -1;
    for (i = 0; i < g->ring_len; i++)
        ring[i] = g->ring[(g->ring_head + i) & g->ring_mask];
    free(g->ring);
    g->ring = ring;
    g->ring_mask = ncap - 1;
    g->ring_head = 0;
    return 0;
}

/* Remembers h. The ghost holds as many entries as main holds objects (the paper's
 * sizing, counted in objects since the ghost has no bytes), at least GHOST_MIN. A
 * failed allocation only makes the ghost forget sooner. */
static void ghost_add(struct shard *s, uint64_t h)
{
    struct ghost *g = &s->ghost;
    size_t limit = s->main.count > GHOST_MIN ? s->main.count : GHOST_MIN, i;

    while (g->ring_len >= limit)
        ghost_pop(g);
    if ((g->ring == NULL || g->ring_len == g->ring_mask + 1) && ghost_grow(s, g) != 0) {
        if (g->ring_len == 0)
            return;
        ghost_pop(g);
    }
    g->seq++;
    g->ring[(g->ring_head + g->ring_len) & g->ring_mask] = h;
    g->ring_len++;
    if ((i = table_find_h(&g->set, h)) != NONE)
        g->set.slots[i].v = g->seq;
    else if (table_reserve(s, &g->set) == 0)
        table_put(&g->set, h, g->seq);
}

/* 1 when h was in the ghost (and takes it out), else 0. */
static int ghost_take(struct ghost *g, uint64_t h)
{
    size_t i = table_find_h(&g->set, h);

    if (i == NONE)
        return 0;
    table_delete(&g->set, i);
    return 1;
}

/* ---- eviction ---- */

/* S3-FIFO main: the oldest object goes unless it was hit since it was last here;
 * then it is reinserted at the head with one hit fewer. Ends after at most
 * FREQ_MAX + 1 passes over main. */
static void evict_main(struct shard *s, struct batch *dead)
{
    while (s->main.tail != NULL) {
        struct obj *t = s->main.tail;
        struct obj__l1 *k = obj__l1(t);

        if (k->freq > 0) {
            size_t size = obj_size(t);

            k->freq--;
            q_unlink(s, t, size);
            q_push(s, Q_MAIN, t, size);
            continue;
        }
        drop(s, t, NONE, dead);
        s->evictions++;
        return;
    }
}

/* S3-FIFO small: the oldest object moves to main if it was hit while in small, else
 * it is evicted and its hash goes to the ghost. Goes on until one object is
 * evicted; keeps main within its 90% as objects arrive. A promoted object starts
 * main with its counter at 0, so in main it counts only hits earned there: on the
 * Zipf traces of bench_evict this gains 0.07-0.2 points of hit ratio over carrying
 * the small-queue hits along (cache/EVICTION.md). */
static void evict_small(struct shard *s, struct batch *dead)
{
    while (s->small.tail != NULL) {
        struct obj *t = s->small.tail;
        size_t size = obj_size(t);

        if (obj__l1(t)->freq > 0) {
            q_unlink(s, t, size);
            q_push(s, Q_MAIN, t, size);
            obj__l1(t)->freq = 0;
            s->promotions++;
            if (s->main.bytes > s->budget - s->small_target)
                evict_main(s, dead);
            continue;
        }
        ghost_add(s, obj_hash_lo(t));
        drop(s, t, NONE, dead);
        s->evictions++;
        return;
    }
    evict_main(s, dead);
}

static void evict_one(struct shard *s, struct batch *dead)
{
    if (s->policy == L1_LRU) {
        drop(s, s->main.tail, NONE, dead);
        s->evictions++;
    } else if (s->small.count > 0 && (s->small.bytes >= s->small_target || s->main.count == 0)) {
        evict_small(s, dead);
    } else {
        evict_main(s, dead);
    }
}

/* ---- the store ---- */

static struct shard *shard_of(struct l1 *c, uint64_t hhi)
{
    struct shard *s;

    ASSERT(c != NULL && c->magic == L1_MAGIC);
    s = &c->shards[hhi & (c->nshards - 1)];
    ASSERT(s->magic == SHARD_MAGIC);
    return s;
}

static void shard_fini(struct shard *s)
{
    struct queue *qs[2] = {&s->small, &s->main};

    for (int q = 0; q < 2; q++) {
        while (qs[q]->tail != NULL) {
            struct obj *o = qs[q]->tail;

            q_unlink(s, o, obj_size(o));
            atomic_store_explicit(&obj__l1(o)->owner, NULL, memory_order_release);
            obj_unref(&o);
        }
    }
    free(s->index.slots);
    free(s->ghost.set.slots);
    free(s->ghost.ring);
    pthread_mutex_destroy(&s->lock);
    s->magic = 0;
}

struct l1 *l1__new_alloc(size_t max_bytes, unsigned nshards, enum l1_policy policy,
                         void *(*alloc)(size_t n, void *arg), void *arg)
{
    struct l1 *c;
    unsigned i, made = 0;

    if (nshards == 0 || nshards > SHARDS_MAX || (nshards & (nshards - 1)) != 0 ||
        (policy != L1_S3FIFO && policy != L1_LRU))
        return NULL;
    c = alloc != NULL ? alloc(sizeof(*c), arg) : malloc(sizeof(*c));
    if (c == NULL)
        return NULL;
    memset(c, 0, sizeof(*c));
    c->magic = L1_MAGIC;
    c->nshards = nshards;
    c->policy = policy;
    atomic_init(&c->sweep_next, 0);
    pthread_mutex_init(&c->scan_lock, NULL);
    /* malloc promises 16-byte alignment: over-allocate and align by hand. */
    c->shards_mem = alloc != NULL ? alloc(nshards * sizeof(struct shard) + CACHE_LINE, arg)
                                  : malloc(nshards * sizeof(struct shard) + CACHE_LINE);
    if (c->shards_mem == NULL)
        goto fail;
    c->shards = (struct shard *)(((uintptr_t)c->shards_mem + CACHE_LINE - 1) &
                                 ~(uintptr_t)(CACHE_LINE - 1));
    for (i = 0; i < nshards; i++, made++) {
        struct shard *s = &c->shards[i];

        memset(s, 0, sizeof(*s));
        s->policy = policy;
        s->budget = max_bytes / nshards;
        s->small_target = s->budget / 10;
        s->max_obj = s->budget / 8;
        s->alloc = alloc;
        s->alloc_arg = arg;
        if (table_init(s, &s->index, TABLE_MIN) != 0)
            goto fail;
        pthread_mutex_init(&s->lock, NULL);
        s->magic = SHARD_MAGIC;
    }
    return c;
fail:
    for (i = 0; i < made; i++)
        shard_fini(&c->shards[i]);
    pthread_mutex_destroy(&c->scan_lock);
    free(c->shards_mem);
    free(c);
    return NULL;
}

struct l1 *l1_new(size_t max_bytes, unsigned nshards, enum l1_policy policy)
{
    return l1__new_alloc(max_bytes, nshards, policy, NULL, NULL);
}

void l1_free(struct l1 *c)
{
    unsigned i;

    if (c == NULL)
        return;
    ASSERT(c->magic == L1_MAGIC);
    for (i = 0; i < c->nshards; i++)
        shard_fini(&c->shards[i]);
    pthread_mutex_destroy(&c->scan_lock);
    c->magic = 0;
    free(c->shards_mem);
    free(c);
}

size_t l1_max_object_size(const struct l1 *c)
{
    ASSERT(c != NULL && c->magic == L1_MAGIC);
    return c->shards[0].max_obj;
}

struct obj *l1_lookup(struct l1 *c, const void *key, size_t key_len, uint64_t hlo, uint64_t hhi)
{
    struct shard *s = shard_of(c, hhi);
    struct obj *o = NULL;
    size_t i;

    pthread_mutex_lock(&s->lock);
    i = find_key(&s->index, key, key_len, hlo, hhi);
    if (i == NONE) {
        s->misses++;
    } else {
        o = obj_ref(slot_obj(&s->index.slots[i]));
        s->hits++;
        if (s->policy == L1_LRU) {
            if (s->main.head != o) {
                size_t size = obj_size(o);

                q_unlink(s, o, size);
                q_push(s, Q_MAIN, o, size);
            }
        } else if (obj__l1(o)->freq < FREQ_MAX) {
            /* Tested first so a hot object's line is not written on every hit. */
            obj__l1(o)->freq++;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return o;
}

int l1_insert(struct l1 *c, struct obj *o)
{
    uint64_t hlo = obj_hash_lo(o), hhi = obj_hash_hi(o);
    struct shard *s = shard_of(c, hhi);
    struct obj__l1 *k = obj__l1(o);
    size_t size = obj_size(o), i;
    struct batch dead = {0};
    void *unowned = NULL;
    int which, rc = L1_OK;
    uint8_t freq = 0;

    pthread_mutex_lock(&s->lock);
    if (size > s->max_obj) {
        s->refused++;
        rc = L1_E_TOO_LARGE;
        goto out;
    }
    if (!atomic_compare_exchange_strong(&k->owner, &unowned, s)) {
        rc = L1_E_BUSY;
        goto out;
    }
    if (table_reserve(s, &s->index) != 0) {
        atomic_store_explicit(&k->owner, NULL, memory_order_release);
        rc = L1_E_NOMEM;
        goto out;
    }
    which = s->policy == L1_LRU ? Q_MAIN : Q_SMALL;
    i = find_key(&s->index, obj_key(o), obj_key_len(o), hlo, hhi);
    if (i != NONE) {
        /* A refreshed object keeps the standing of the one it replaces: a
         * revalidated hot page must not restart in small. */
        struct obj *old = slot_obj(&s->index.slots[i]);

        which = obj__l1(old)->queue;
        freq = obj__l1(old)->freq;
        drop(s, old, i, &dead);
        s->replacements++;
    } else if (s->policy == L1_S3FIFO && ghost_take(&s->ghost, hlo)) {
        which = Q_MAIN;
        s->ghost_hits++;
    }
    while (s->small.bytes + s->main.bytes + size > s->budget) {
        ASSERT(s->small.count + s->main.count > 0);
        evict_one(s, &dead);
    }
    obj_ref(o);
    k->freq = freq;
    q_push(s, which, o, size);
    table_put(&s->index, hlo, (uint64_t)(uintptr_t)o);
    s->inserts++;
out:
    pthread_mutex_unlock(&s->lock);
    batch_release(&dead);
    return rc;
}

int l1_remove(struct l1 *c, const void *key, size_t key_len, uint64_t hlo, uint64_t hhi)
{
    struct shard *s = shard_of(c, hhi);
    struct batch dead = {0};
    size_t i;

    pthread_mutex_lock(&s->lock);
    i = find_key(&s->index, key, key_len, hlo, hhi);
    if (i != NONE) {
        drop(s, slot_obj(&s->index.slots[i]), i, &dead);
        s->removals++;
    }
    pthread_mutex_unlock(&s->lock);
    batch_release(&dead);
    return i != NONE ? L1_OK : L1_E_NOT_FOUND;
}

void l1_stats(struct l1 *c, struct l1_stats *st)
{
    unsigned i;

    ASSERT(c != NULL && c->magic == L1_MAGIC);
    memset(st, 0, sizeof(*st));
    st->index_bytes = sizeof(*c) + c->nshards * sizeof(struct shard) + CACHE_LINE;
    for (i = 0; i < c->nshards; i++) {
        struct shard *s = &c->shards[i];

        pthread_mutex_lock(&s->lock);
        st->max_bytes += s->budget;
        st->objects += s->small.count + s->main.count;
        st->bytes += s->small.bytes + s->main.bytes;
        st->hits += s->hits;
        st->misses += s->misses;
        st->inserts += s->inserts;
        st->replacements += s->replacements;
        st->removals += s->removals;
        st->evictions += s->evictions;
        st->expired += s->expired;
        st->refused += s->refused;
        st->small_objects += s->small.count;
        st->small_bytes += s->small.bytes;
        st->main_objects += s->main.count;
        st->main_bytes += s->main.bytes;
        st->ghost_entries += s->ghost.set.count;
        st->ghost_hits += s->ghost_hits;
        st->promotions += s->promotions;
        st->index_bytes +=
            table_bytes(&s->index) + table_bytes(&s->ghost.set) +
            (s->ghost.ring != NULL ? (s->ghost.ring_mask + 1) * sizeof(uint64_t) : 0);
        pthread_mutex_unlock(&s->lock);
    }
}

size_t l1_evict_expired_step(struct l1 *c, int64_t now, size_t max_slots)
{
    struct shard *s;
    struct batch dead = {0};
    size_t i, scanned, removed = 0;

    ASSERT(c != NULL && c->magic == L1_MAGIC);
    s = &c->shards[atomic_fetch_add_explicit(&c->sweep_next, 1, memory_order_relaxed) &
                   (c->nshards - 1)];
    pthread_mutex_lock(&s->lock);
    i = s->sweep & s->index.mask;
    for (scanned = 0; scanned < max_slots && scanned <= s->index.mask && dead.n < DEAD_BATCH;
         scanned++) {
        struct obj *o = slot_obj(&s->index.slots[i]);

        if (o != NULL && obj_is_dead(o, now)) {
            /* The backward shift may pull a later entry into slot i: look again. */
            drop(s, o, i, &dead);
            s->expired++;
            removed++;
            continue;
        }
        i = (i + 1) & s->index.mask;
    }
    s->sweep = i;
    pthread_mutex_unlock(&s->lock);
    batch_release(&dead);
    return removed;
}

/* ---- scans ---- */

/* Puts nw in the place of old, which the scan found in shard s and still holds a
 * reference on: same index slot, same queue position and access counter. When old
 * left the shard meanwhile nothing happens and 0 is returned; nw == NULL (the copy
 * failed) or a copy the shard cannot hold removes old. Takes the store's reference
 * on nw (the caller keeps its own); old's goes to `dead`. */
static int scan_swap(struct shard *s, struct obj *old, struct obj *nw, uint32_t seq,
                     struct batch *dead)
{
    struct obj__l1 *ko = obj__l1(old), *kn;
    void *unowned = NULL;
    struct queue *q;
    size_t i;
    int claimed;

    if (atomic_load_explicit(&ko->owner, memory_order_acquire) != s)
        return 0;
    i = find_obj(&s->index, old);
    if (nw == NULL || obj_size(nw) > s->max_obj) {
        drop(s, old, i, dead);
        s->removals++;
        return 1;
    }
    ASSERT(obj_hash_lo(nw) == obj_hash_lo(old) && obj_hash_hi(nw) == obj_hash_hi(old) &&
           obj_key_equal(nw, obj_key(old), obj_key_len(old)));
    kn = obj__l1(nw);
    claimed = atomic_compare_exchange_strong(&kn->owner, &unowned, s);
    ASSERT(claimed); /* a copy is new: in no store */
    q = queue_of(s, ko);
    kn->prev = ko->prev;
    kn->next = ko->next;
    kn->queue = ko->queue;
    kn->freq = ko->freq;
    kn->scan = seq;
    if (ko->prev != NULL)
        obj__l1(ko->prev)->next = nw;
    else
        q->head = nw;
    if (ko->next != NULL)
        obj__l1(ko->next)->prev = nw;
    else
        q->tail = nw;
    q->bytes = q->bytes - obj_size(old) + obj_size(nw);
    ko->prev = ko->next = NULL;
    ko->queue = Q_NONE;
    s->index.slots[i].v = (uint64_t)(uintptr_t)obj_ref(nw);
    atomic_store_explicit(&ko->owner, NULL, memory_order_release);
    batch_add(dead, old);
    s->replacements++;
    /* A copy may be larger than what it replaces (a new head): keep the budget. */
    while (s->small.bytes + s->main.bytes > s->budget)
        evict_one(s, dead);
    return 1;
}

/* Scans one shard (see l1_scan). Returns the objects removed or replaced. */
static size_t scan_shard(struct shard *s, const struct l1_scan_ops *ops, void *arg, uint32_t seq)
{
    /* old[k] and nw[k]: an object to replace and its copy, n of them, made while
     * the lock was dropped; next[]: the objects this hold found to replace. */
    struct obj *old[SCAN_COPIES], *nw[SCAN_COPIES], *next[SCAN_COPIES];
    size_t n = 0, k, done = 0;

    pthread_mutex_lock(&s->lock);
    s->index.cursor = 0;
    for (;;) {
        struct batch dead = {0};
        size_t budget = SCAN_SLOTS, got = 0;
        int finished;

        /* The copies made while the lock was dropped. */
        for (k = 0; k < n; k++)
            done += (size_t)scan_swap(s, old[k], nw[k], seq, &dead);
        while (budget-- > 0 && dead.n < DEAD_BATCH && got < SCAN_COPIES &&
               s->index.cursor <= s->index.mask) {
            size_t i = s->index.cursor;
            struct obj *o = slot_obj(&s->index.slots[i]);

            if (o == NULL || obj__l1(o)->scan == seq) {
                s->index.cursor++;
                continue;
            }
            obj__l1(o)->scan = seq;
            switch (ops->match(arg, o)) {
            case L1_SCAN_REMOVE:
                /* The backward shift may pull a later entry into slot i: the cursor
                 * stays to look at it. */
                drop(s, o, i, &dead);
                s->removals++;
                done++;
                break;
            case L1_SCAN_REPLACE:
                next[got++] = obj_ref(o);
                s->index.cursor++;
                break;
            default: s->index.cursor++; break;
            }
        }
        finished = s->index.cursor > s->index.mask && got == 0;
        if (finished)
            s->index.cursor = NONE;
        pthread_mutex_unlock(&s->lock);
        batch_release(&dead);
        for (k = 0; k < n; k++) {
            obj_unref(&old[k]);
            obj_unref(&nw[k]);
        }
        if (finished)
            break;
        /* Copies are made without the lock: they allocate and copy bodies. */
        for (k = 0; k < got; k++) {
            old[k] = next[k];
            nw[k] = ops->copy != NULL ? ops->copy(arg, old[k]) : NULL;
        }
        n = got;
        pthread_mutex_lock(&s->lock);
    }
    return done;
}

size_t l1_scan(struct l1 *c, const struct l1_scan_ops *ops, void *arg)
{
    size_t done = 0;
    uint32_t seq;
    unsigned i;

    ASSERT(c != NULL && c->magic == L1_MAGIC && ops != NULL && ops->match != NULL);
    pthread_mutex_lock(&c->scan_lock);
    if (++c->scan_seq == 0)
        c->scan_seq = 1; /* 0 is the mark of an object no scan has visited */
    seq = c->scan_seq;
    for (i = 0; i < c->nshards; i++)
        done += scan_shard(&c->shards[i], ops, arg, seq);
    pthread_mutex_unlock(&c->scan_lock);
    return done;
}

/* ---- invariants, for tests ---- */

#define CHECK_OR_RETURN(cond)                                                                      \
    do {                                                                                           \
        if (!(cond))                                                                               \
            return __LINE__;                                                                       \
    } while (0)

static int check_queue(struct shard *s, struct queue *q, int which)
{
    struct obj *o, *prev = NULL;
    size_t count = 0, bytes = 0;

    for (o = q->head; o != NULL; prev = o, o = obj__l1(o)->next) {
        struct obj__l1 *k = obj__l1(o);
        size_t i = find_key(&s->index, obj_key(o), obj_key_len(o), obj_hash_lo(o), obj_hash_hi(o));

        CHECK_OR_RETURN(k->prev == prev);
        CHECK_OR_RETURN(k->queue == which);
        CHECK_OR_RETURN(k->freq <= FREQ_MAX);
        CHECK_OR_RETURN(atomic_load(&k->owner) == s);
        CHECK_OR_RETURN(obj__refcount(o) >= 1);
        CHECK_OR_RETURN(i != NONE && slot_obj(&s->index.slots[i]) == o);
        CHECK_OR_RETURN(s->policy == L1_S3FIFO || k->freq == 0);
        count++;
        bytes += obj_size(o);
        CHECK_OR_RETURN(count <= s->index.count);
    }
    CHECK_OR_RETURN(q->tail == prev);
    CHECK_OR_RETURN(q->count == count && q->bytes == bytes);
    return 0;
}

/* Every entry is reachable from its home slot: no empty slot in between. */
static int check_table(const struct table *t)
{
    size_t i, j, count = 0;

    if (t->slots == NULL)
        return t->count == 0 ? 0 : __LINE__;
    for (i = 0; i <= t->mask; i++) {
        if (t->slots[i].v == 0)
            continue;
        count++;
        for (j = t->slots[i].h & t->mask; j != i; j = (j + 1) & t->mask)
            CHECK_OR_RETURN(t->slots[j].v != 0);
    }
    CHECK_OR_RETURN(count == t->count);
    CHECK_OR_RETURN(t->count * 4 <= (t->mask + 1) * 3);
    return 0;
}

static int check_shard(struct shard *s)
{
    struct ghost *g = &s->ghost;
    size_t i;
    int r;

    CHECK_OR_RETURN(s->magic == SHARD_MAGIC);
    if ((r = check_table(&s->index)) != 0 || (r = check_queue(s, &s->small, Q_SMALL)) != 0 ||
        (r = check_queue(s, &s->main, Q_MAIN)) != 0 || (r = check_table(&g->set)) != 0)
        return r;
    CHECK_OR_RETURN(s->index.count == s->small.count + s->main.count);
    CHECK_OR_RETURN(s->small.bytes + s->main.bytes <= s->budget);
    CHECK_OR_RETURN(s->policy == L1_S3FIFO || (s->small.count == 0 && g->ring_len == 0));
    for (i = 0; i <= s->index.mask; i++) {
        struct obj *o = slot_obj(&s->index.slots[i]);

        if (o != NULL) {
            CHECK_OR_RETURN(obj_hash_lo(o) == s->index.slots[i].h);
            CHECK_OR_RETURN(atomic_load(&obj__l1(o)->owner) == s);
        }
    }
    CHECK_OR_RETURN(g->set.count <= g->ring_len);
    CHECK_OR_RETURN(g->ring == NULL || g->ring_len <= g->ring_mask + 1);
    if (g->set.slots != NULL) {
        for (i = 0; i <= g->set.mask; i++) {
            uint64_t v = g->set.slots[i].v;

            if (v == 0)
                continue;
            /* a set entry points at a ring entry still in the ring, with its hash */
            CHECK_OR_RETURN(v <= g->seq && g->seq - v < g->ring_len);
            CHECK_OR_RETURN(
                g->ring[(g->ring_head + g->ring_len - 1 - (g->seq - v)) & g->ring_mask] ==
                g->set.slots[i].h);
        }
    }
    return 0;
}

int l1__check(struct l1 *c)
{
    unsigned i;
    int r = 0;

    ASSERT(c != NULL && c->magic == L1_MAGIC);
    for (i = 0; i < c->nshards && r == 0; i++) {
        pthread_mutex_lock(&c->shards[i].lock);
        r = check_shard(&c->shards[i]);
        pthread_mutex_unlock(&c->shards[i].lock);
    }
    return r;
}
