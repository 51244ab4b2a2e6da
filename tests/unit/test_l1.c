/* SPDX-License-Identifier: Apache-2.0
 *
 * test_l1: the stored object (cache/obj.c) and the L1 store (cache/l1.c).
 *
 * Objects: accessors, refcounts, the charged size against glibc's real block size,
 * serialize/parse round trips and the rejection of every truncation, every single
 * bit flip, and each bad field (with the checksum fixed up, so the field check and
 * not the checksum catches it). Store: lookup/insert/replace/remove, keys forced to
 * the same hash, the byte bound after every one of 100k random inserts, references
 * outliving eviction, S3-FIFO step by step (one-hit wonders, promotion, ghost hits,
 * reinsertion in main), LRU, expiry sweeps, a failing allocator that fails the
 * store's allocation i for every i, and four threads at once. Scans: removal,
 * replacement (failed copies remove), the budget with larger copies, every object
 * matched exactly once while the table grows and shifts between lock holds, and
 * scans racing with other threads. l1__check verifies the store's internal
 * invariants throughout.
 */
#include "l1.h"
#include "obj.h"

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "check.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif

static const char head_text[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n";

/* xorshift64*: deterministic runs. */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * UINT64_C(2685821657736338717);
}

static void hash_of(const char *key, uint64_t *lo, uint64_t *hi)
{
    XXH128_hash_t h = XXH3_128bits(key, strlen(key));

    *lo = h.low64;
    *hi = h.high64;
}

static struct obj *mk_h(const char *key, uint64_t lo, uint64_t hi, size_t body_len, int fill)
{
    struct obj *o = obj_new(key, strlen(key), lo, hi, sizeof(head_text) - 1, body_len);

    if (o == NULL)
        abort();
    memcpy(obj_head_mut(o), head_text, sizeof(head_text) - 1);
    memset(obj_body_mut(o), fill, body_len);
    obj_set_times(o, 1000, 1060, 1090, 4600);
    return o;
}

static struct obj *mk(const char *key, size_t body_len, int fill)
{
    uint64_t lo, hi;

    hash_of(key, &lo, &hi);
    return mk_h(key, lo, hi, body_len, fill);
}

/* Inserts a new object for key; the test keeps no reference. */
static int put(struct l1 *c, const char *key, size_t body_len)
{
    struct obj *o = mk(key, body_len, 'x');
    int rc = l1_insert(c, o);

    obj_unref(&o);
    return rc;
}

static struct obj *get(struct l1 *c, const char *key)
{
    uint64_t lo, hi;

    hash_of(key, &lo, &hi);
    return l1_lookup(c, key, strlen(key), lo, hi);
}

static int has(struct l1 *c, const char *key)
{
    struct obj *o = get(c, key);
    int found = o != NULL;

    obj_unref(&o);
    return found;
}

static int del(struct l1 *c, const char *key)
{
    uint64_t lo, hi;

    hash_of(key, &lo, &hi);
    return l1_remove(c, key, strlen(key), lo, hi);
}

static struct l1_stats stats(struct l1 *c)
{
    struct l1_stats st;

    l1_stats(c, &st);
    return st;
}

static const char *name(const char *prefix, int i)
{
    static char buf[64];

    snprintf(buf, sizeof(buf), "%s%05d", prefix, i);
    return buf;
}

/* ---- objects ---- */

static void test_obj_basics(void)
{
    struct obj *o = obj_new("GET|example.com|/a", 18, 7, 9, 5, 3), *r;

    CHECK(o != NULL);
    CHECK_INT(obj__refcount(o), 1);
    CHECK_STRN((const char *)obj_key(o), obj_key_len(o), "GET|example.com|/a");
    CHECK_INT(obj_head_len(o), 5);
    CHECK_INT(obj_body_len(o), 3);
    CHECK(obj_hash_lo(o) == 7 && obj_hash_hi(o) == 9);
    memcpy(obj_head_mut(o), "HEADS", 5);
    memcpy(obj_body_mut(o), "bod", 3);
    CHECK_STRN((const char *)obj_head(o), obj_head_len(o), "HEADS");
    CHECK_STRN((const char *)obj_body(o), obj_body_len(o), "bod");
    CHECK(obj_key_equal(o, "GET|example.com|/a", 18));
    CHECK(!obj_key_equal(o, "GET|example.com|/b", 18));
    CHECK(!obj_key_equal(o, "GET|example.com|/a", 17));
    CHECK(!obj_key_equal(o, "GET|example.com|/ab", 19));
    CHECK(obj_stored_at(o) == 0 && obj_expires_at(o) == 0 && obj_stale_until(o) == 0 &&
          obj_error_until(o) == 0);
    CHECK_INT(obj_flags(o), 0);
    obj_set_times(o, 100, 200, 300, 250);
    obj_set_flags(o, 0xdeadbeef);
    CHECK(obj_stored_at(o) == 100 && obj_expires_at(o) == 200 && obj_stale_until(o) == 300 &&
          obj_error_until(o) == 250);
    CHECK(obj_flags(o) == 0xdeadbeef);
    CHECK(!obj_is_dead(o, 199) && !obj_is_dead(o, 200) && !obj_is_dead(o, 299));
    CHECK(obj_is_dead(o, 300) && obj_is_dead(o, 301));
    obj_set_times(o, 100, 200, 250, 300); /* the longer window is the error one */
    CHECK(!obj_is_dead(o, 299) && obj_is_dead(o, 300));
    obj_set_times(o, 100, 500, 500, 500); /* no stale windows: dead when no longer fresh */
    CHECK(!obj_is_dead(o, 499) && obj_is_dead(o, 500));

    r = obj_ref(o);
    CHECK(r == o);
    CHECK_INT(obj__refcount(o), 2);
    obj_unref(&r);
    CHECK(r == NULL);
    CHECK_INT(obj__refcount(o), 1);
    obj_unref(&o);
    CHECK(o == NULL);
    obj_unref(&o); /* NULL is ignored */

    o = obj_new(NULL, 0, 0, 0, 0, 0); /* degenerate but valid */
    CHECK(o != NULL && obj_key_len(o) == 0 && obj_key_equal(o, "", 0));
    obj_unref(&o);

    /* sizes that overflow or exceed the format are refused before any malloc */
    CHECK(obj_new("k", 1, 0, 0, 0, SIZE_MAX) == NULL);
    CHECK(obj_new("k", 1, 0, 0, 0, SIZE_MAX / 2) == NULL);
#if SIZE_MAX > UINT32_MAX
    CHECK(obj_new("k", (size_t)UINT32_MAX + 1, 0, 0, 0, 0) == NULL);
    CHECK(obj_new("k", 1, 0, 0, (size_t)UINT32_MAX + 1, 0) == NULL);
#endif
    for (int e = OBJ_OK; e >= OBJ_E_NOMEM; e--)
        CHECK(strcmp(obj_strerror(e), "unknown error") != 0);
    CHECK(strcmp(obj_strerror(-100), "unknown error") == 0);
}

/* The charge is the block's real cost: compared with glibc's own usable size. */
static void test_obj_size(void)
{
    static const size_t payloads[] = {1, 15, 16, 100, 1000, 4096, 65536, 131000, 200000};
    size_t i, min = SIZE_MAX, max = 0;

    printf("obj overhead (obj_size - key - head - body):\n");
    for (i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
        size_t payload = payloads[i]; /* a 1-byte key and the rest as body */
        struct obj *o = obj_new("k", 1, 0, 0, 0, payload - 1);
        size_t over = obj_size(o) - payload;

        printf("  payload %6zu: obj_size %6zu, overhead %4zu", payload, obj_size(o), over);
#ifndef SANITIZED
        /* glibc: a chunk is its usable size plus the 8-byte size field (plus 8 more
         * for an mmap'd chunk, whose usable size excludes both header words). */
        {
            size_t real = malloc_usable_size(o) + (payload + 120 >= 128 * 1024 ? 16 : 8);

            printf(", glibc block %6zu", real);
            CHECK_MSG(obj_size(o) == real, "payload %zu: charge %zu, glibc %zu", payload,
                      obj_size(o), real);
        }
#endif
        printf("\n");
        if (payload < 100000) {
            min = over < min ? over : min;
            max = over > max ? over : max;
        }
        CHECK(obj_size(o) >= payload + 128 && obj_size(o) <= payload + 120 + 16 + 4096);
        obj_unref(&o);
    }
    printf("  under 128 KiB: overhead %zu-%zu bytes\n", min, max);
    CHECK(min >= 128 && max <= 143);
}

static struct obj *sample(size_t key_len, size_t head_len, size_t body_len, uint64_t seed)
{
    char *key = malloc(key_len + 1);
    struct obj *o;
    size_t i;

    for (i = 0; i < key_len; i++)
        key[i] = (char)rnd(&seed);
    o = obj_new(key, key_len, rnd(&seed), rnd(&seed), head_len, body_len);
    for (i = 0; i < head_len; i++)
        ((unsigned char *)obj_head_mut(o))[i] = (unsigned char)rnd(&seed);
    for (i = 0; i < body_len; i++)
        ((unsigned char *)obj_body_mut(o))[i] = (unsigned char)rnd(&seed);
    obj_set_times(o, (int64_t)rnd(&seed), -5, INT64_MAX, INT64_MIN);
    obj_set_flags(o, (uint32_t)rnd(&seed));
    free(key);
    return o;
}

static int same_obj(const struct obj *a, const struct obj *b)
{
    return obj_key_len(a) == obj_key_len(b) && obj_head_len(a) == obj_head_len(b) &&
           obj_body_len(a) == obj_body_len(b) &&
           memcmp(obj_key(a), obj_key(b), obj_key_len(a)) == 0 &&
           memcmp(obj_head(a), obj_head(b), obj_head_len(a)) == 0 &&
           memcmp(obj_body(a), obj_body(b), obj_body_len(a)) == 0 &&
           obj_hash_lo(a) == obj_hash_lo(b) && obj_hash_hi(a) == obj_hash_hi(b) &&
           obj_stored_at(a) == obj_stored_at(b) && obj_expires_at(a) == obj_expires_at(b) &&
           obj_stale_until(a) == obj_stale_until(b) && obj_error_until(a) == obj_error_until(b) &&
           obj_flags(a) == obj_flags(b) && obj_size(a) == obj_size(b);
}

static void test_serialize_roundtrip(void)
{
    static const size_t shapes[][3] = {
        {0, 0, 0}, {1, 0, 0}, {40, 60, 0}, {40, 0, 1}, {33, 120, 1000}, {200, 4000, 300000},
    };
    size_t i;

    for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        struct obj *o = sample(shapes[i][0], shapes[i][1], shapes[i][2], i + 1), *back = NULL;
        size_t n = obj_serialized_size(o);
        unsigned char *buf = malloc(n), *again = malloc(n);

        CHECK_INT(n, OBJ_SER_OVERHEAD + shapes[i][0] + shapes[i][1] + shapes[i][2]);
        CHECK_INT(obj_serialize(o, buf, n - 1), 0);
        CHECK_INT(obj_serialize(o, buf, n), n);
        CHECK_INT(obj_parse(buf, n, &back), OBJ_OK);
        CHECK(back != NULL && same_obj(o, back));
        CHECK(back != NULL && obj__refcount(back) == 1);
        CHECK(back != NULL && obj_serialize(back, again, n) == n && memcmp(buf, again, n) == 0);
        obj_unref(&back);
        obj_unref(&o);
        free(buf);
        free(again);
    }
}

/* Rewrites the trailing checksum so that a header edit reaches the field checks. */
static void fix_sum(unsigned char *p, size_t n)
{
    uint64_t h = XXH3_64bits(p, n - 8);

    for (int i = 0; i < 8; i++)
        p[n - 8 + i] = (unsigned char)(h >> (8 * i));
}

static void put_le(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static int parse_fails(const unsigned char *p, size_t n, int want)
{
    struct obj *o = (struct obj *)1;
    int r = obj_parse(p, n, &o);

    if (o != NULL) {
        obj_unref(&o);
        return 0;
    }
    return want == 0 ? r < 0 : r == want;
}

static void test_serialize_corruption(void)
{
    struct obj *o = sample(30, 70, 100, 99);
    size_t n = obj_serialized_size(o), i;
    unsigned char *buf = malloc(n + 1), *bad = malloc(n + 1);
    int all;

    obj_serialize(o, buf, n);

    /* every truncation, including to nothing */
    all = 1;
    for (i = 0; i < n; i++)
        all &= parse_fails(buf, i, 0);
    CHECK_MSG(all, "a truncated object parsed");
    CHECK(parse_fails(buf, OBJ_SER_OVERHEAD - 1, OBJ_E_TRUNCATED));
    CHECK(parse_fails(buf, n - 1, OBJ_E_TRUNCATED));
    /* a trailing byte */
    memcpy(bad, buf, n);
    bad[n] = 0;
    CHECK(parse_fails(bad, n + 1, OBJ_E_LENGTH));

    /* every single bit flip, anywhere */
    all = 1;
    for (i = 0; i < n * 8; i++) {
        memcpy(bad, buf, n);
        bad[i / 8] ^= (unsigned char)(1u << (i % 8));
        all &= parse_fails(bad, n, 0);
    }
    CHECK_MSG(all, "a bit flip went unnoticed");
    /* a flip in the payload or the times is the checksum's to catch */
    memcpy(bad, buf, n);
    bad[n - 20] ^= 1;
    CHECK(parse_fails(bad, n, OBJ_E_CHECKSUM));
    memcpy(bad, buf, n);
    bad[50] ^= 0x80;
    CHECK(parse_fails(bad, n, OBJ_E_CHECKSUM));

    /* each field wrong, checksum made right */
    struct field_case {
        size_t off;
        uint64_t value;
        int bytes;
        int want;
    } cases[] = {
        {0, 0x54534f42, 4, OBJ_E_MAGIC},             /* "BOST" */
        {0, 0, 1, OBJ_E_MAGIC},                      /* first byte */
        {4, 2, 1, OBJ_E_VERSION},                    /* a newer version */
        {4, 0, 1, OBJ_E_VERSION},                    /* version 0 */
        {5, 1, 1, OBJ_E_FIELD},                      /* reserved */
        {7, 0x80, 1, OBJ_E_FIELD},                   /* reserved */
        {12, 31, 4, OBJ_E_TRUNCATED},                /* key_len + 1: past the end */
        {12, 29, 4, OBJ_E_LENGTH},                   /* key_len - 1: a byte left over */
        {12, 0, 4, OBJ_E_LENGTH},                    /* key_len 0 */
        {12, 0xffffffff, 4, OBJ_E_TRUNCATED},        /* key_len huge */
        {16, 71, 4, OBJ_E_TRUNCATED},                /* head_len + 1 */
        {16, 69, 4, OBJ_E_LENGTH},                   /* head_len - 1 */
        {16, 0xffffffff, 4, OBJ_E_TRUNCATED},        /* head_len huge */
        {20, 99, 8, OBJ_E_LENGTH},                   /* body_len - 1 */
        {20, 101, 8, OBJ_E_TRUNCATED},               /* body_len + 1 */
        {20, UINT64_MAX, 8, OBJ_E_TRUNCATED},        /* body_len wraps */
        {20, UINT64_MAX - 99, 8, OBJ_E_TRUNCATED},   /* sum wraps to the right total */
        {20, UINT64_C(1) << 63, 8, OBJ_E_TRUNCATED}, /* body_len negative as signed */
        {12, (uint64_t)0 - 70 - 100, 4, OBJ_E_TRUNCATED} /* 32-bit wrap of the sum */,
    };
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memcpy(bad, buf, n);
        put_le(bad + cases[i].off, cases[i].value, cases[i].bytes);
        fix_sum(bad, n);
        CHECK_MSG(parse_fails(bad, n, cases[i].want), "field case %zu", i);
    }
    /* lengths made consistent with a shorter buffer still need the right checksum */
    memcpy(bad, buf, n);
    put_le(bad + 20, 99, 8);
    CHECK(parse_fails(bad, n - 1, OBJ_E_CHECKSUM));
    fix_sum(bad, n - 1);
    {
        struct obj *shorter = NULL;

        CHECK_INT(obj_parse(bad, n - 1, &shorter), OBJ_OK);
        CHECK(shorter != NULL && obj_body_len(shorter) == 99);
        obj_unref(&shorter);
    }
    /* the pristine buffer still parses */
    CHECK(!parse_fails(buf, n, 0));
    free(buf);
    free(bad);
    obj_unref(&o);
}

/* ---- the store ---- */

static void test_l1_basics(void)
{
    struct l1 *c = l1_new(1 << 20, 16, L1_S3FIFO);
    struct obj *a = mk("GET|h|/a", 100, 'a'), *a2 = mk("GET|h|/a", 200, 'b'), *r;
    struct l1_stats st;

    CHECK(c != NULL);
    CHECK(l1_new(1 << 20, 0, L1_S3FIFO) == NULL);
    CHECK(l1_new(1 << 20, 3, L1_S3FIFO) == NULL);
    CHECK(l1_new(1 << 20, 8192, L1_S3FIFO) == NULL);
    CHECK(l1_new(1 << 20, 1, (enum l1_policy)7) == NULL);
    l1_free(NULL);
    CHECK_INT(l1_max_object_size(c), (1 << 20) / 16 / 8);
    CHECK(strcmp(l1_policy_name(L1_S3FIFO), "s3fifo") == 0);
    CHECK(strcmp(l1_policy_name(L1_LRU), "lru") == 0);
    for (int e = L1_OK; e >= L1_E_NOT_FOUND; e--)
        CHECK(strcmp(l1_strerror(e), "unknown error") != 0);

    CHECK(get(c, "GET|h|/a") == NULL);
    CHECK_INT(l1_insert(c, a), L1_OK);
    CHECK_INT(obj__refcount(a), 2); /* ours and the store's */
    r = get(c, "GET|h|/a");
    CHECK(r == a);
    CHECK_INT(obj__refcount(a), 3);
    obj_unref(&r);
    CHECK(get(c, "GET|h|/b") == NULL);
    CHECK(get(c, "GET|h|/") == NULL);
    CHECK_INT(l1_insert(c, a), L1_E_BUSY); /* already in */

    /* replace: the store lets go of the old object */
    CHECK_INT(l1_insert(c, a2), L1_OK);
    CHECK_INT(obj__refcount(a), 1);
    r = get(c, "GET|h|/a");
    CHECK(r == a2 && obj_body_len(r) == 200);
    obj_unref(&r);

    st = stats(c);
    CHECK_INT(st.objects, 1);
    CHECK_INT(st.bytes, obj_size(a2));
    CHECK_INT(st.max_bytes, 1 << 20);
    CHECK_INT(st.hits, 2);
    CHECK_INT(st.misses, 3);
    CHECK_INT(st.inserts, 2);
    CHECK_INT(st.replacements, 1);
    CHECK_INT(st.evictions, 0);

    CHECK_INT(del(c, "GET|h|/a"), L1_OK);
    CHECK_INT(del(c, "GET|h|/a"), L1_E_NOT_FOUND);
    CHECK_INT(obj__refcount(a2), 1);
    CHECK(get(c, "GET|h|/a") == NULL);
    st = stats(c);
    CHECK(st.objects == 0 && st.bytes == 0 && st.removals == 1);

    /* out of the store, an object may go back in (here: into a second store) */
    {
        struct l1 *other = l1_new(1 << 20, 4, L1_LRU);

        CHECK_INT(l1_insert(other, a), L1_OK);
        CHECK_INT(l1_insert(c, a), L1_E_BUSY); /* one store at a time */
        CHECK(has(other, "GET|h|/a"));
        l1_free(other);
        CHECK_INT(obj__refcount(a), 1);
        CHECK_INT(l1_insert(c, a), L1_OK);
    }
    CHECK_INT(l1__check(c), 0);
    l1_free(c);
    CHECK_INT(obj__refcount(a), 1);
    obj_unref(&a);
    obj_unref(&a2);
}

static void test_l1_too_large(void)
{
    struct l1 *c = l1_new(64 * 1024, 4, L1_S3FIFO); /* 16 KiB shards: 2 KiB objects */
    size_t max = l1_max_object_size(c), body;
    struct obj *o;

    CHECK_INT(max, 2048);
    /* the largest body that fits, found from the charge */
    for (body = 2048; body > 0; body--) {
        o = mk("big", body, 'z');
        if (obj_size(o) <= max)
            break;
        obj_unref(&o);
    }
    CHECK_INT(l1_insert(c, o), L1_OK);
    obj_unref(&o);
    o = mk("big", body + 16, 'z');
    CHECK(obj_size(o) > max);
    CHECK_INT(l1_insert(c, o), L1_E_TOO_LARGE);
    CHECK_INT(obj__refcount(o), 1);
    CHECK(has(c, "big")); /* a refused replacement leaves the old one */
    CHECK_INT(stats(c).refused, 1);
    obj_unref(&o);
    l1_free(c);
}

/* Keys forced to the same hash live side by side; the key bytes pick. */
static void test_l1_collisions(void)
{
    struct l1 *c = l1_new(4 << 20, 4, L1_S3FIFO);
    struct obj *objs[40], *r;
    uint64_t seed = 5;
    int i, all;

    for (i = 0; i < 40; i++) {
        /* 0..29 share both halves; 30..39 share the low half only */
        objs[i] = mk_h(name("same-hash-", i), 42, i < 30 ? 4242 : 4243 + (uint64_t)i, 10, i);
        CHECK_INT(l1_insert(c, objs[i]), L1_OK);
    }
    all = 1;
    for (i = 0; i < 40; i++) {
        const char *k = name("same-hash-", i);

        r = l1_lookup(c, k, strlen(k), 42, i < 30 ? 4242 : 4243 + (uint64_t)i);
        all &= r == objs[i] && ((const char *)obj_body(r))[0] == i;
        obj_unref(&r);
    }
    CHECK_MSG(all, "a colliding key aliased another");
    /* the right key with the wrong hash half is a miss */
    r = l1_lookup(c, name("same-hash-", 3), 15, 42, 4243);
    CHECK(r == NULL);
    r = l1_lookup(c, "same-hash-", 10, 42, 4242); /* a prefix of every key */
    CHECK(r == NULL);

    /* removing in random order leaves exactly the others findable */
    int order[30], alive[30];
    for (i = 0; i < 30; i++) {
        order[i] = i;
        alive[i] = 1;
    }
    for (i = 29; i > 0; i--) {
        int j = (int)(rnd(&seed) % (uint64_t)(i + 1)), t = order[i];

        order[i] = order[j];
        order[j] = t;
    }
    all = 1;
    for (i = 0; i < 30; i++) {
        const char *k = name("same-hash-", order[i]);

        all &= l1_remove(c, k, strlen(k), 42, 4242) == L1_OK;
        alive[order[i]] = 0;
        for (int j = 0; j < 30; j++) {
            k = name("same-hash-", j);
            r = l1_lookup(c, k, strlen(k), 42, 4242);
            all &= (r != NULL) == alive[j] && (r == NULL || r == objs[j]);
            obj_unref(&r);
        }
        all &= l1__check(c) == 0;
    }
    CHECK_MSG(all, "removal among colliding keys");
    CHECK_INT(stats(c).objects, 10);
    CHECK_INT(l1__check(c), 0);
    l1_free(c);
    for (i = 0; i < 40; i++) {
        CHECK_INT(obj__refcount(objs[i]), 1);
        obj_unref(&objs[i]);
    }
}

/* 100k inserts of random keys and sizes: the budget holds after every one. */
static void test_l1_byte_bound(enum l1_policy policy)
{
    const size_t max = 2 << 20;
    struct l1 *c = l1_new(max, 16, policy);
    size_t limit = l1_max_object_size(c);
    uint64_t seed = 12345, refused = 0;
    int i, bound_ok = 1, check_ok = 1, rc_ok = 1;

    for (i = 0; i < 100000; i++) {
        char key[32];
        size_t body = (size_t)(rnd(&seed) % (limit + 512)); /* some too large */
        struct obj *o;
        struct l1_stats st;
        int rc;

        snprintf(key, sizeof(key), "k%llu", (unsigned long long)(rnd(&seed) % 20000));
        o = mk(key, body, 'r');
        rc = l1_insert(c, o);
        if (rc == L1_E_TOO_LARGE) {
            refused++;
            rc_ok &= obj_size(o) > limit;
        } else {
            rc_ok &= rc == L1_OK && obj_size(o) <= limit;
        }
        obj_unref(&o);
        if (rnd(&seed) % 4 == 0)
            obj_unref((o = get(c, key), &o));
        l1_stats(c, &st);
        if (st.bytes > max || st.bytes > st.max_bytes) {
            bound_ok = 0;
            fprintf(stderr, "insert %d: %llu bytes over %zu\n", i, (unsigned long long)st.bytes,
                    max);
            break;
        }
        if (i % 5000 == 0)
            check_ok &= l1__check(c) == 0;
    }
    CHECK_MSG(bound_ok, "%s: byte bound exceeded", l1_policy_name(policy));
    CHECK_MSG(check_ok, "%s: invariants", l1_policy_name(policy));
    CHECK(rc_ok);
    {
        struct l1_stats st = stats(c);

        CHECK_INT(st.refused, refused);
        CHECK_INT(st.inserts + st.refused, 100000);
        CHECK(st.evictions > 0 && st.bytes > max / 2);
        CHECK_INT(st.objects + st.evictions + st.replacements, st.inserts);
        printf("byte bound %s: %llu objects, %llu/%zu bytes, %llu evictions, %llu refused, "
               "index %.1f bytes/object\n",
               l1_policy_name(policy), (unsigned long long)st.objects, (unsigned long long)st.bytes,
               max, (unsigned long long)st.evictions, (unsigned long long)st.refused,
               (double)st.index_bytes / (double)st.objects);
    }
    CHECK_INT(l1__check(c), 0);
    l1_free(c);
}

/* A reference taken by a lookup survives eviction, replacement and l1_free; under
 * ASan a read of a freed block would fail the run. */
static void test_l1_refs_outlive_eviction(void)
{
    struct l1 *c = l1_new(64 * 1024, 1, L1_LRU);
    struct obj *held = NULL, *other;
    const unsigned char *body;
    size_t i, len;
    int intact = 1;

    CHECK_INT(put(c, "victim", 1000), L1_OK);
    held = get(c, "victim");
    CHECK(held != NULL && obj__refcount(held) == 2);
    for (i = 0; i < 100; i++)
        CHECK_INT(put(c, name("filler", (int)i), 1000), L1_OK);
    CHECK(stats(c).evictions > 0);
    CHECK(!has(c, "victim"));
    CHECK_INT(obj__refcount(held), 1); /* the store let go; we did not */
    body = obj_body(held);
    len = obj_body_len(held);
    for (i = 0; i < len; i++)
        intact &= body[i] == 'x';
    CHECK(intact && len == 1000);
    CHECK_STRN((const char *)obj_head(held), obj_head_len(held), head_text);
    obj_unref(&held);

    /* held across replacement and across l1_free */
    CHECK_INT(put(c, "v2", 10), L1_OK);
    held = get(c, "v2");
    CHECK_INT(put(c, "v2", 20), L1_OK);
    CHECK_INT(obj__refcount(held), 1);
    other = get(c, "v2");
    CHECK(other != held && obj_body_len(other) == 20);
    l1_free(c);
    CHECK(obj_body_len(held) == 10 && ((const char *)obj_body(held))[9] == 'x');
    CHECK(obj_body_len(other) == 20 && obj__refcount(other) == 1);
    obj_unref(&held);
    obj_unref(&other);
}

/* A one-shard store holding exactly n objects of the size put() makes for a
 * five-digit name. */
static struct l1 *store_of(int n, enum l1_policy policy, size_t *charge)
{
    struct obj *o = mk(name("x", 0), 1000, 'x');

    *charge = obj_size(o);
    obj_unref(&o);
    return l1_new((size_t)n * *charge + *charge / 2, 1, policy);
}

/* One-hit wonders pass through small; objects hit while in small are promoted to
 * main and survive a scan that flushes an LRU. */
static void test_s3fifo_one_hit_wonders(void)
{
    size_t charge;
    struct l1 *c = store_of(100, L1_S3FIFO, &charge), *lru = store_of(100, L1_LRU, &charge);
    struct l1 *both[2] = {c, lru};
    struct l1_stats st;
    int i, k, ok;

    for (k = 0; k < 2; k++) {
        for (i = 0; i < 20; i++)
            CHECK_INT(put(both[k], name("H", i), 1000), L1_OK);
        for (i = 0; i < 20; i++)
            CHECK(has(both[k], name("H", i)));
        for (i = 0; i < 500; i++)
            CHECK_INT(put(both[k], name("W", i), 1000), L1_OK);
    }
    /* S3-FIFO: when the store filled up, H0..H19 (hit once) left small for main and
     * every W since has passed through small: W0..W419 evicted, W420..W499 left. */
    st = stats(c);
    CHECK_INT(st.promotions, 20);
    CHECK_INT(st.main_objects, 20);
    CHECK_INT(st.small_objects, 80);
    CHECK_INT(st.evictions, 420);
    CHECK_INT(st.ghost_entries, 20); /* the ghost holds as many as main: W400..W419 */
    CHECK_INT(st.bytes, 100 * charge);
    /* LRU: the scan flushed the hot objects */
    st = stats(lru);
    CHECK(st.objects == 100 && st.small_objects == 0 && st.promotions == 0 &&
          st.ghost_entries == 0);
    ok = 1;
    for (i = 0; i < 20; i++)
        ok &= !has(lru, name("H", i));
    CHECK_MSG(ok, "lru: hot objects should be gone");

    /* A ghost hit: W419 is in the ghost, so back it goes straight to main (evicting
     * W420 from small). The ghost forgot W0: it starts in small (evicting W421). */
    CHECK_INT(put(c, name("W", 419), 1000), L1_OK);
    st = stats(c);
    CHECK_INT(st.ghost_hits, 1);
    CHECK_INT(st.main_objects, 21);
    CHECK_INT(put(c, name("W", 0), 1000), L1_OK);
    st = stats(c);
    CHECK_INT(st.ghost_hits, 1);
    CHECK_INT(st.main_objects, 21);
    CHECK_INT(st.small_objects, 79);
    /* a replacement keeps the queue of the object it replaces */
    CHECK_INT(put(c, name("H", 3), 500), L1_OK);
    st = stats(c);
    CHECK(st.main_objects == 21 && st.small_objects == 79 && st.replacements == 1);

    /* lookups last: they bump the access counters */
    ok = 1;
    for (i = 0; i < 20; i++)
        ok &= has(c, name("H", i));
    CHECK_MSG(ok, "s3fifo: a hit object was evicted by the scan");
    ok = 1;
    for (i = 0; i < 500; i++)
        ok &= has(c, name("W", i)) == (i == 0 || i == 419 || i >= 422);
    CHECK_MSG(ok, "s3fifo: wrong one-hit wonders kept");
    CHECK_INT(l1__check(c), 0);
    CHECK_INT(l1__check(lru), 0);
    l1_free(c);
    l1_free(lru);
}

/* Main is a FIFO with reinsertion: its oldest object goes unless it was hit, in
 * which case it goes round once more with one hit fewer. */
static void test_s3fifo_main_reinsertion(void)
{
    size_t charge;
    struct l1 *c = store_of(20, L1_S3FIFO, &charge);
    struct l1_stats st;
    int i, ok;

    for (i = 0; i < 20; i++) /* fills the store; all in small */
        CHECK_INT(put(c, name("A", i), 1000), L1_OK);
    for (i = 0; i < 20; i++) /* evicts A0..A19 to the ghost, which keeps 16 */
        CHECK_INT(put(c, name("B", i), 1000), L1_OK);
    st = stats(c);
    CHECK(st.small_objects == 20 && st.main_objects == 0 && st.ghost_entries == 16);
    for (i = 4; i < 20; i++) /* ghost hits: straight to main */
        CHECK_INT(put(c, name("A", i), 1000), L1_OK);
    st = stats(c);
    CHECK_INT(st.ghost_hits, 16);
    CHECK_INT(st.main_objects, 16);
    CHECK_INT(st.small_objects, 4); /* B16..B19: small held above its 10% */
    CHECK(has(c, name("A", 4)));    /* main's oldest, now hit once */
    /* B0..B2 come back from the ghost into main. The first two evict from small
     * (B16, B17) until small is under its 10% (2 objects); the third makes main
     * evict: A4 is spared once, A5 goes. */
    for (i = 0; i < 3; i++)
        CHECK_INT(put(c, name("B", i), 1000), L1_OK);
    st = stats(c);
    CHECK_INT(st.ghost_hits, 19);
    CHECK_INT(st.main_objects, 18);
    CHECK_INT(st.small_objects, 2);
    CHECK(has(c, name("A", 4)));
    CHECK(!has(c, name("A", 5)));
    ok = 1;
    for (i = 6; i < 20; i++)
        ok &= has(c, name("A", i));
    CHECK(ok);
    CHECK(!has(c, name("B", 16)) && !has(c, name("B", 17)));
    CHECK(has(c, name("B", 18)) && has(c, name("B", 19)));
    CHECK_INT(l1__check(c), 0);
    l1_free(c);
}

static void test_lru(void)
{
    size_t charge;
    struct l1 *c = store_of(10, L1_LRU, &charge);
    int i;

    for (i = 0; i < 10; i++)
        CHECK_INT(put(c, name("L", i), 1000), L1_OK);
    CHECK(has(c, name("L", 0))); /* now the most recent */
    CHECK_INT(put(c, name("L", 10), 1000), L1_OK);
    CHECK(has(c, name("L", 0)));
    CHECK(!has(c, name("L", 1)));
    CHECK(has(c, name("L", 2)));
    CHECK_INT(stats(c).evictions, 1);
    CHECK_INT(l1__check(c), 0);
    l1_free(c);
}

static void test_expiry_sweep(void)
{
    struct l1 *c = l1_new(1 << 20, 4, L1_S3FIFO);
    size_t removed = 0;
    int i, calls, ok = 1;

    for (i = 0; i < 100; i++) {
        struct obj *o = mk(name("e", i), 10, 'e');

        /* at 1000: fresh when a multiple of 3, in its stale-while-revalidate window
         * when odd, in its stale-if-error window when a multiple of 5; else dead */
        obj_set_times(o, 0, i % 3 == 0 ? 5000 : 500, i % 2 == 0 ? 900 : 2000,
                      i % 5 == 0 ? 3000 : 500);
        CHECK_INT(l1_insert(c, o), L1_OK);
        obj_unref(&o);
    }
    for (calls = 0; calls < 100; calls++)
        removed += l1_evict_expired_step(c, 1000, 7);
    for (i = 0; i < 100; i++)
        ok &= has(c, name("e", i)) == (i % 2 != 0 || i % 3 == 0 || i % 5 == 0);
    CHECK_MSG(ok, "expiry sweep removed the wrong objects");
    CHECK_INT(removed, 27);
    CHECK_INT(stats(c).expired, 27);
    CHECK_INT(l1_evict_expired_step(c, 1000, 1000), 0);
    CHECK_INT(l1__check(c), 0);
    l1_free(c);
}

/* ---- a failing allocator ---- */

struct failing {
    long calls, fail_at;
    int failed;
};

static void *failing_alloc(size_t n, void *arg)
{
    struct failing *f = arg;

    if (f->calls++ == f->fail_at) {
        f->failed = 1;
        return NULL;
    }
    return malloc(n);
}

static void test_failing_alloc(void)
{
    long i;
    int ok = 1, nomem_seen = 0, runs = 0;

    for (i = 0; i < 100000; i++) {
        struct failing f = {0, i, 0};
        struct l1 *c = l1__new_alloc(256 * 1024, 2, L1_S3FIFO, failing_alloc, &f);
        int j;

        runs++;
        if (c == NULL) {
            ok &= f.failed;
            continue;
        }
        for (j = 0; j < 600; j++) {
            struct obj *o = mk(name("f", j), 50 + (size_t)(j % 7) * 300, 'f');
            int rc = l1_insert(c, o);

            if (rc == L1_E_NOMEM) {
                nomem_seen++;
                ok &= obj__refcount(o) == 1 && !has(c, name("f", j));
            } else {
                ok &= rc == L1_OK;
            }
            obj_unref(&o);
            if (j % 10 == 0 && j < 100)
                del(c, name("f", j / 2)); /* found or not, the store stays consistent */
        }
        ok &= l1__check(c) == 0;
        l1_free(c);
        if (!f.failed)
            break;
    }
    CHECK_MSG(ok, "failing allocator: inconsistent store");
    CHECK(nomem_seen > 0);
    CHECK(runs > 10);
    printf("failing allocator: %d runs, %d inserts refused with L1_E_NOMEM\n", runs, nomem_seen);
}

/* ---- threads ---- */

#define T_THREADS 4
#define T_KEYS 4096
#define T_OPS 100000

struct worker {
    struct l1 *c;
    uint64_t seed;
    uint64_t lookups, hits, bad;
};

/* Body: the key id (4 bytes), a version (4 bytes), then a byte derived from both. */
static struct obj *t_obj(unsigned id, unsigned ver, size_t body)
{
    char key[16];
    struct obj *o;
    unsigned char *b;

    snprintf(key, sizeof(key), "t%05u", id);
    o = mk(key, body, (int)((id * 31 + ver) & 0xff));
    b = obj_body_mut(o);
    memcpy(b, &id, 4);
    memcpy(b + 4, &ver, 4);
    return o;
}

static int t_valid(const struct obj *o, unsigned id)
{
    const unsigned char *b = obj_body(o);
    size_t i, n = obj_body_len(o);
    unsigned got, ver;

    memcpy(&got, b, 4);
    memcpy(&ver, b + 4, 4);
    if (got != id)
        return 0;
    for (i = 8; i < n; i++)
        if (b[i] != ((id * 31 + ver) & 0xff))
            return 0;
    return 1;
}

static void *t_run(void *arg)
{
    struct worker *w = arg;
    unsigned i;

    for (i = 0; i < T_OPS; i++) {
        uint64_t r = rnd(&w->seed);
        unsigned id = (unsigned)((r >> 8) % T_KEYS), op = (unsigned)(r % 100);
        char key[16];
        struct obj *o;

        snprintf(key, sizeof(key), "t%05u", id);
        if (op < 60) {
            w->lookups++;
            if ((o = get(w->c, key)) != NULL) {
                w->hits++;
                w->bad += !t_valid(o, id) || !obj_key_equal(o, key, strlen(key));
                obj_unref(&o);
            }
        } else if (op < 92) {
            o = t_obj(id, (unsigned)(r >> 40), 8 + (size_t)((r >> 20) % 1500));
            w->bad += l1_insert(w->c, o) != L1_OK;
            obj_unref(&o);
        } else if (op < 97) {
            del(w->c, key);
        } else if (op < 99) {
            l1_evict_expired_step(w->c, (int64_t)(r % 100000), 16);
        } else {
            struct l1_stats st;

            l1_stats(w->c, &st);
            w->bad += st.bytes > st.max_bytes;
        }
    }
    return NULL;
}

static void test_threads(void)
{
    struct l1 *c = l1_new(512 * 1024, 16, L1_S3FIFO);
    struct worker w[T_THREADS];
    pthread_t t[T_THREADS];
    uint64_t lookups = 0, hits = 0, bad = 0, present = 0;
    struct l1_stats st;
    unsigned i;

    for (i = 0; i < T_THREADS; i++) {
        w[i] = (struct worker){.c = c, .seed = 1000 + i};
        pthread_create(&t[i], NULL, t_run, &w[i]);
    }
    for (i = 0; i < T_THREADS; i++) {
        pthread_join(t[i], NULL);
        lookups += w[i].lookups;
        hits += w[i].hits;
        bad += w[i].bad;
    }
    CHECK_INT(bad, 0);
    st = stats(c);
    CHECK_INT(st.hits + st.misses, lookups);
    CHECK_INT(st.hits, hits);
    CHECK(st.bytes <= st.max_bytes);
    CHECK(st.evictions > 0 && st.removals > 0);
    CHECK_INT(l1__check(c), 0);
    for (i = 0; i < T_KEYS; i++) {
        char key[16];
        struct obj *o;

        snprintf(key, sizeof(key), "t%05u", i);
        if ((o = get(c, key)) != NULL) {
            present++;
            /* intact, and no reference leaked: the store's and ours */
            bad += !t_valid(o, i) || obj__refcount(o) != 2;
            obj_unref(&o);
        }
    }
    CHECK_INT(bad, 0);
    CHECK_INT(present, st.objects);
    printf("threads: %u x %u ops, %llu lookups, %llu hits, %llu evictions, %llu objects left\n",
           T_THREADS, T_OPS, (unsigned long long)lookups, (unsigned long long)hits,
           (unsigned long long)st.evictions, (unsigned long long)st.objects);
    l1_free(c);
}

/* ---- scans ---- */

/* The number in a key made by name(): "s00042" is 42. */
static int key_num(const struct obj *o)
{
    char buf[16];
    size_t n = obj_key_len(o);

    if (n < 2 || n >= sizeof(buf))
        return -1;
    memcpy(buf, obj_key(o), n);
    buf[n] = '\0';
    return atoi(buf + 1);
}

struct scan_case {
    char prefix;           /* keys this case looks at ("s00042": 's') */
    int visits[4096];      /* match calls per key number */
    int copies, copy_fail; /* copy calls; fail (NULL) every copy_fail-th, 0: never */
    int64_t new_expires;   /* the times of a copy */
    struct l1 *churn;      /* copy: also removes and inserts, for the churn test */
    int crowded;           /* the churn test's "s" keys have their hash's low half mod 128 */
    int removed[4096];     /* keys the churn took out */
    int nremoved;
    uint64_t seed;
    int next_new;
};

/* Keeps 0 mod 3, removes 1 mod 3, replaces 2 mod 3. */
static int scan_mod3(void *arg, const struct obj *o)
{
    struct scan_case *sc = arg;
    int i = key_num(o);

    if (((const char *)obj_key(o))[0] != sc->prefix || i < 0)
        return L1_SCAN_KEEP;
    sc->visits[i]++;
    return i % 3 == 0 ? L1_SCAN_KEEP : i % 3 == 1 ? L1_SCAN_REMOVE : L1_SCAN_REPLACE;
}

static struct obj *scan_copy(void *arg, const struct obj *o)
{
    struct scan_case *sc = arg;
    struct obj *c;

    if (sc->copy_fail != 0 && ++sc->copies % sc->copy_fail == 0)
        return NULL;
    c = obj_new(obj_key(o), obj_key_len(o), obj_hash_lo(o), obj_hash_hi(o), obj_head_len(o),
                obj_body_len(o));
    memcpy(obj_head_mut(c), obj_head(o), obj_head_len(o));
    memcpy(obj_body_mut(c), obj_body(o), obj_body_len(o));
    obj_set_times(c, obj_stored_at(o), sc->new_expires, sc->new_expires + 5, sc->new_expires + 50);
    return c;
}

static void test_scan_remove_replace(enum l1_policy policy)
{
    struct l1 *c = l1_new(4 << 20, 4, policy);
    static struct scan_case sc;
    struct l1_stats before, after;
    int i, ok = 1;
    size_t done;

    memset(&sc, 0, sizeof(sc));
    sc.prefix = 's';
    sc.new_expires = 777;
    for (i = 0; i < 900; i++)
        CHECK_INT(put(c, name("s", i), 20 + (size_t)(i % 50)), L1_OK);
    for (i = 0; i < 100; i++)
        CHECK_INT(put(c, name("t", i), 10), L1_OK);
    for (i = 0; i < 300; i++) /* hits: a replaced object keeps its standing */
        obj_unref(&(struct obj *){get(c, name("s", i))});
    before = stats(c);
    done = l1_scan(c, &(struct l1_scan_ops){scan_mod3, scan_copy}, &sc);
    after = stats(c);
    CHECK_INT(done, 600);
    for (i = 0; i < 900; i++) {
        struct obj *o = get(c, name("s", i));

        ok &= sc.visits[i] == 1;
        ok &= (o != NULL) == (i % 3 != 1);
        if (o != NULL) {
            const unsigned char *b = obj_body(o);

            ok &= obj_expires_at(o) == (i % 3 == 2 ? 777 : 1060);
            ok &= obj_body_len(o) == 20 + (size_t)(i % 50) && b[0] == 'x';
            ok &= obj_error_until(o) == (i % 3 == 2 ? 827 : 4600);
        }
        obj_unref(&o);
    }
    CHECK_MSG(ok, "scan: wrong objects removed, replaced or visited");
    for (i = 0; i < 100; i++)
        CHECK(has(c, name("t", i)));
    CHECK_INT(after.objects, before.objects - 300);
    CHECK_INT(after.removals - before.removals, 300);
    CHECK_INT(after.replacements - before.replacements, 300);
    CHECK_INT(after.inserts, before.inserts); /* a replacement is no insert */
    CHECK_INT(after.small_objects + after.main_objects, after.objects);
    CHECK_INT(l1__check(c), 0);

    /* copy failing (NULL) or absent removes the object instead */
    memset(&sc, 0, sizeof(sc));
    sc.prefix = 's';
    sc.copy_fail = 2;
    sc.new_expires = 888;
    done = l1_scan(c, &(struct l1_scan_ops){scan_mod3, scan_copy}, &sc);
    CHECK_INT(done, 300);
    CHECK_INT(stats(c).objects, 600 + 100 - 150);
    CHECK_INT(l1__check(c), 0);
    memset(&sc, 0, sizeof(sc));
    sc.prefix = 's';
    done = l1_scan(c, &(struct l1_scan_ops){scan_mod3, NULL}, &sc);
    CHECK_INT(done, 150);
    CHECK_INT(stats(c).objects, 400);
    CHECK_INT(l1__check(c), 0);
    /* an empty store, and one with nothing to do */
    CHECK_INT(l1_scan(c, &(struct l1_scan_ops){scan_mod3, NULL}, &sc), 0);
    l1_free(c);
    c = l1_new(1 << 20, 1, policy);
    CHECK_INT(l1_scan(c, &(struct l1_scan_ops){scan_mod3, NULL}, &sc), 0);
    l1_free(c);
}

/* A copy three times the size of what it replaces: the budget still holds. */
static struct obj *scan_copy_big(void *arg, const struct obj *o)
{
    struct obj *c = obj_new(obj_key(o), obj_key_len(o), obj_hash_lo(o), obj_hash_hi(o),
                            obj_head_len(o), obj_body_len(o) * 3);

    memcpy(obj_head_mut(c), obj_head(o), obj_head_len(o));
    memset(obj_body_mut(c), 'y', obj_body_len(o) * 3);
    return c;
}

static int scan_all_replace(void *arg, const struct obj *o)
{
    return L1_SCAN_REPLACE;
}

static void test_scan_budget(void)
{
    struct l1 *c = l1_new(256 * 1024, 2, L1_S3FIFO);
    struct l1_stats st;
    int i;

    for (i = 0; i < 200; i++)
        put(c, name("b", i), 900);
    l1_scan(c, &(struct l1_scan_ops){scan_all_replace, scan_copy_big}, NULL);
    st = stats(c);
    CHECK(st.bytes <= st.max_bytes);
    CHECK(st.evictions > 0);
    CHECK_INT(l1__check(c), 0);
    l1_free(c);
}

/* The churn test's keys: "s<v>", the hash's low half mod 128 when crowded. */
static void churn_key(const struct scan_case *sc, int v, const char **key, uint64_t *lo,
                      uint64_t *hi)
{
    *key = name("s", v);
    hash_of(*key, lo, hi);
    if (sc->crowded)
        *lo %= 128;
}

static int crowded_remove(struct scan_case *sc, int v)
{
    const char *key;
    uint64_t lo, hi;

    churn_key(sc, v, &key, &lo, &hi);
    return l1_remove(sc->churn, key, strlen(key), lo, hi);
}

/* The churn test's copy: between two lock holds it removes some objects and
 * inserts others, with hashes that crowd the table (long probe chains, so the
 * backward shifts of removals move entries far, across the scan's cursor), and
 * grows the table; then copies. */
static struct obj *scan_copy_churn(void *arg, const struct obj *o)
{
    struct scan_case *sc = arg;
    int k;

    for (k = 0; k < 12; k++) {
        int v = (int)(rnd(&sc->seed) % 1500);

        if (!sc->removed[v] && crowded_remove(sc, v) == L1_OK) {
            sc->removed[v] = 1;
            sc->nremoved++;
        }
    }
    for (k = 0; k < 25 && sc->next_new < 4000; k++, sc->next_new++) {
        const char *key = name("n", sc->next_new);
        uint64_t lo, hi;

        hash_of(key, &lo, &hi);
        struct obj *n = mk_h(key, lo % 96, hi, 10, 'n');
        l1_insert(sc->churn, n);
        obj_unref(&n);
    }
    return scan_copy(arg, o);
}

static int scan_churn_match(void *arg, const struct obj *o)
{
    struct scan_case *sc = arg;
    int i = key_num(o);
    char p = ((const char *)obj_key(o))[0];

    if (p != 's' || i < 0)
        return L1_SCAN_KEEP;
    sc->visits[i]++;
    return i % 61 == 0 ? L1_SCAN_REPLACE : L1_SCAN_KEEP;
}

/* Every object that stays in the store through a scan is matched exactly once,
 * however the table changes between two lock holds (test "scan while the table
 * changes": the cursor rewind in table_delete and the restart after a growth). */
static void test_scan_churn(int crowded)
{
    struct l1 *c = l1_new(64 << 20, 1, L1_S3FIFO);
    static struct scan_case sc;
    int i, ok = 1, missed = 0, twice = 0;

    memset(&sc, 0, sizeof(sc));
    sc.churn = c;
    sc.seed = crowded ? 99 : 7;
    sc.crowded = crowded;
    sc.new_expires = 999;
    /* 1500 objects: the table's 2048 slots hold 1536, so the churn grows it. */
    for (i = 0; i < 1500; i++) {
        const char *key = name("s", i);
        uint64_t lo, hi;

        hash_of(key, &lo, &hi);
        struct obj *o = mk_h(key, crowded ? lo % 128 : lo, hi, 10, 's');
        CHECK_INT(l1_insert(c, o), L1_OK);
        obj_unref(&o);
    }
    l1_scan(c, &(struct l1_scan_ops){scan_churn_match, scan_copy_churn}, &sc);
    for (i = 0; i < 1500; i++) {
        missed += !sc.removed[i] && sc.visits[i] == 0;
        twice += sc.visits[i] > 1;
        if (!sc.removed[i] && i % 61 == 0) {
            const char *key;
            uint64_t lo, hi;

            churn_key(&sc, i, &key, &lo, &hi);
            struct obj *o = l1_lookup(c, key, strlen(key), lo, hi);

            ok &= o != NULL && obj_expires_at(o) == 999;
            obj_unref(&o);
        }
    }
    CHECK_MSG(missed == 0 && twice == 0, "crowded=%d: %d objects missed, %d matched twice", crowded,
              missed, twice);
    CHECK_MSG(ok, "crowded=%d: a replacement is missing", crowded);
    CHECK(sc.next_new > 500); /* the churn ran: the table grew during the scan */
    CHECK(sc.nremoved > 100);
    CHECK_INT(l1__check(c), 0);
    l1_free(c);
}

/* Scans while other threads insert, look up and remove: every object that stays
 * is matched once per scan. */
#define SC_STABLE 1000
#define SC_SCANS 20

struct scan_thread {
    struct l1 *c;
    uint64_t seed;
    atomic_int *stop;
};

static void *scan_churner(void *arg)
{
    struct scan_thread *t = arg;

    while (!atomic_load(t->stop)) {
        uint64_t r = rnd(&t->seed);
        char key[16]; /* not name(): its buffer is shared */

        snprintf(key, sizeof(key), "c%05d", (int)(r % 4096));

        if (r % 3 == 0)
            del(t->c, key);
        else if (r % 3 == 1)
            put(t->c, key, 50 + (size_t)(r >> 50) % 200);
        else
            obj_unref(&(struct obj *){get(t->c, key)});
    }
    return NULL;
}

static int scan_count_stable(void *arg, const struct obj *o)
{
    struct scan_case *sc = arg;
    int i = key_num(o);

    if (((const char *)obj_key(o))[0] == 'k' && i >= 0 && i < SC_STABLE)
        sc->visits[i]++;
    return L1_SCAN_KEEP;
}

static void test_scan_threads(void)
{
    struct l1 *c = l1_new(16 << 20, 16, L1_S3FIFO);
    static struct scan_case sc;
    struct scan_thread t[2];
    pthread_t th[2];
    atomic_int stop;
    int i, n, bad = 0;

    atomic_init(&stop, 0);
    for (i = 0; i < SC_STABLE; i++)
        put(c, name("k", i), 100);
    for (i = 0; i < 2; i++) {
        t[i] = (struct scan_thread){c, 31 + (uint64_t)i, &stop};
        pthread_create(&th[i], NULL, scan_churner, &t[i]);
    }
    for (n = 0; n < SC_SCANS; n++) {
        memset(&sc, 0, sizeof(sc));
        l1_scan(c, &(struct l1_scan_ops){scan_count_stable, NULL}, &sc);
        for (i = 0; i < SC_STABLE; i++)
            bad += sc.visits[i] != 1;
    }
    atomic_store(&stop, 1);
    for (i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    CHECK_MSG(bad == 0, "%d stable objects not matched exactly once", bad);
    CHECK_INT(stats(c).evictions, 0);
    CHECK_INT(l1__check(c), 0);
    l1_free(c);
}

int main(void)
{
    test_obj_basics();
    test_obj_size();
    test_serialize_roundtrip();
    test_serialize_corruption();
    test_l1_basics();
    test_l1_too_large();
    test_l1_collisions();
    test_l1_byte_bound(L1_S3FIFO);
    test_l1_byte_bound(L1_LRU);
    test_l1_refs_outlive_eviction();
    test_s3fifo_one_hit_wonders();
    test_s3fifo_main_reinsertion();
    test_lru();
    test_expiry_sweep();
    test_failing_alloc();
    test_threads();
    test_scan_remove_replace(L1_S3FIFO);
    test_scan_remove_replace(L1_LRU);
    test_scan_budget();
    test_scan_churn(0);
    test_scan_churn(1);
    test_scan_threads();
    return check_report("test_l1");
}
