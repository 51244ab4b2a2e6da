/* SPDX-License-Identifier: Apache-2.0
 *
 * obj: the stored object block and its serialized form (see obj.h). The header
 * fields other than the refcount and the L1 hook are written once, before the
 * object is shared, so readers need no lock. The refcount takes relaxed
 * increments (a holder already has a reference, which orders everything before
 * it) and acquire-release decrements, so every holder's reads of the block happen
 * before the free.
 */
#include "obj.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define OBJ_MAGIC 0x4f424a31u /* "OBJ1" */
#define OBJ_DEAD 0x44454144u  /* written before free: a late reader trips the magic check */

/* Serialized form, see obj.h. */
#define SER_MAGIC "TSOB"
#define SER_VERSION 1
#define SER_HEADER 76
#define SER_SUM 8

/* glibc malloc: blocks from this size on are mmap'd (the default threshold; glibc
 * may raise it at run time, in which case the estimate is a little high). */
#define MMAP_THRESHOLD (128 * 1024)
#define PAGE 4096

/* Asserts are compiled in whatever NDEBUG says (STYLE.md, Errors). */
#define ASSERT(c) ((c) ? (void)0 : assert_fail(#c, __FILE__, __LINE__))

struct obj {
    unsigned magic;
    atomic_uint refs;
    uint32_t flags;
    uint32_t key_len;
    uint32_t head_len;
    size_t body_len;
    size_t charge; /* obj_size() */
    uint64_t hash_lo, hash_hi;
    int64_t stored_at, expires_at, stale_until, error_until;
    struct obj__l1 l1;
    unsigned char data[]; /* key, then head, then body */
};

static void assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, expr);
    abort();
}

static const struct obj *checked(const struct obj *o)
{
    ASSERT(o != NULL && o->magic == OBJ_MAGIC);
    return o;
}

/* Memory glibc takes for a malloc(n): the chunk carries an 8-byte size field and is
 * a multiple of 16 (at least 32); an mmap'd chunk is that plus 8 more bytes, rounded
 * up to whole pages. */
static size_t malloc_charge(size_t n)
{
    n = (n + 8 + 15) & ~(size_t)15;
    if (n < 32)
        return 32;
    if (n >= MMAP_THRESHOLD)
        return (n + 8 + PAGE - 1) & ~(size_t)(PAGE - 1);
    return n;
}

const char *obj_strerror(int err)
{
    switch (err) {
    case OBJ_OK: return "ok";
    case OBJ_E_TRUNCATED: return "truncated";
    case OBJ_E_MAGIC: return "bad magic";
    case OBJ_E_VERSION: return "unsupported version";
    case OBJ_E_FIELD: return "reserved field not zero";
    case OBJ_E_LENGTH: return "bad length";
    case OBJ_E_CHECKSUM: return "checksum mismatch";
    case OBJ_E_NOMEM: return "out of memory";
    }
    return "unknown error";
}

struct obj *obj_new(const void *key, size_t key_len, uint64_t hash_lo, uint64_t hash_hi,
                    size_t head_len, size_t body_len)
{
    size_t n = sizeof(struct obj);
    struct obj *o;

    if (key_len > OBJ_KEY_MAX || head_len > OBJ_HEAD_MAX)
        return NULL;
    /* key_len + head_len < 2^33, so only the body can overflow the sum; leave room
     * for the mmap rounding in malloc_charge too. */
    n += key_len + head_len;
    if (body_len > SIZE_MAX / 2 - n)
        return NULL;
    n += body_len;
    if ((o = malloc(n)) == NULL)
        return NULL;
    memset(o, 0, sizeof(*o));
    o->magic = OBJ_MAGIC;
    atomic_init(&o->refs, 1);
    atomic_init(&o->l1.owner, NULL);
    o->key_len = (uint32_t)key_len;
    o->head_len = (uint32_t)head_len;
    o->body_len = body_len;
    o->charge = malloc_charge(n);
    o->hash_lo = hash_lo;
    o->hash_hi = hash_hi;
    if (key_len > 0)
        memcpy(o->data, key, key_len);
    return o;
}

struct obj *obj_ref(struct obj *o)
{
    unsigned old;

    checked(o);
    old = atomic_fetch_add_explicit(&o->refs, 1, memory_order_relaxed);
    ASSERT(old > 0 && old < UINT32_MAX);
    return o;
}

void obj_unref(struct obj **op)
{
    struct obj *o = *op;
    unsigned old;

    if (o == NULL)
        return;
    *op = NULL;
    checked(o);
    /* acq_rel rather than release plus an acquire fence on the last reference:
     * the same instruction on x86 and arm64, and ThreadSanitizer understands it. */
    old = atomic_fetch_sub_explicit(&o->refs, 1, memory_order_acq_rel);
    ASSERT(old > 0);
    if (old != 1)
        return;
    ASSERT(atomic_load_explicit(&o->l1.owner, memory_order_relaxed) == NULL);
    o->magic = OBJ_DEAD;
    free(o);
}

const void *obj_key(const struct obj *o)
{
    return checked(o)->data;
}

size_t obj_key_len(const struct obj *o)
{
    return checked(o)->key_len;
}

const void *obj_head(const struct obj *o)
{
    return checked(o)->data + o->key_len;
}

size_t obj_head_len(const struct obj *o)
{
    return checked(o)->head_len;
}

const void *obj_body(const struct obj *o)
{
    return checked(o)->data + o->key_len + o->head_len;
}

size_t obj_body_len(const struct obj *o)
{
    return checked(o)->body_len;
}

void *obj_head_mut(struct obj *o)
{
    checked(o);
    return o->data + o->key_len;
}

void *obj_body_mut(struct obj *o)
{
    checked(o);
    return o->data + o->key_len + o->head_len;
}

uint64_t obj_hash_lo(const struct obj *o)
{
    return checked(o)->hash_lo;
}

uint64_t obj_hash_hi(const struct obj *o)
{
    return checked(o)->hash_hi;
}

int obj_key_equal(const struct obj *o, const void *key, size_t key_len)
{
    checked(o);
    return o->key_len == key_len && (key_len == 0 || memcmp(o->data, key, key_len) == 0);
}

size_t obj_size(const struct obj *o)
{
    return checked(o)->charge;
}

/* Setters assert the object is not in a store: a write to a shared object would
 * race with readers on other threads. */
static void check_unshared(struct obj *o)
{
    checked(o);
    ASSERT(atomic_load_explicit(&o->l1.owner, memory_order_relaxed) == NULL);
}

void obj_set_times(struct obj *o, int64_t stored_at, int64_t expires_at, int64_t stale_until,
                   int64_t error_until)
{
    check_unshared(o);
    o->stored_at = stored_at;
    o->expires_at = expires_at;
    o->stale_until = stale_until;
    o->error_until = error_until;
}

int64_t obj_stored_at(const struct obj *o)
{
    return checked(o)->stored_at;
}

int64_t obj_expires_at(const struct obj *o)
{
    return checked(o)->expires_at;
}

int64_t obj_stale_until(const struct obj *o)
{
    return checked(o)->stale_until;
}

int64_t obj_error_until(const struct obj *o)
{
    return checked(o)->error_until;
}

int obj_is_dead(const struct obj *o, int64_t now)
{
    checked(o);
    return now >= o->expires_at && now >= o->stale_until && now >= o->error_until;
}

void obj_set_flags(struct obj *o, uint32_t flags)
{
    check_unshared(o);
    o->flags = flags;
}

uint32_t obj_flags(const struct obj *o)
{
    return checked(o)->flags;
}

struct obj__l1 *obj__l1(struct obj *o)
{
    checked(o);
    return &o->l1;
}

unsigned obj__refcount(const struct obj *o)
{
    return atomic_load_explicit(&checked(o)->refs, memory_order_relaxed);
}

/* Serialized form: explicit little-endian byte order, no struct overlay, so the
 * parser never reads a misaligned or host-dependent field. */

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
    uint32_t v = 0;

    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

size_t obj_serialized_size(const struct obj *o)
{
    checked(o);
    return OBJ_SER_OVERHEAD + o->key_len + o->head_len + o->body_len;
}

size_t obj_serialize(const struct obj *o, void *buf, size_t cap)
{
    size_t n = obj_serialized_size(o), payload = n - OBJ_SER_OVERHEAD;
    unsigned char *p = buf;

    if (cap < n)
        return 0;
    memcpy(p, SER_MAGIC, 4);
    p[4] = SER_VERSION;
    p[5] = p[6] = p[7] = 0;
    put32(p + 8, o->flags);
    put32(p + 12, o->key_len);
    put32(p + 16, o->head_len);
    put64(p + 20, o->body_len);
    put64(p + 28, o->hash_lo);
    put64(p + 36, o->hash_hi);
    put64(p + 44, (uint64_t)o->stored_at);
    put64(p + 52, (uint64_t)o->expires_at);
    put64(p + 60, (uint64_t)o->stale_until);
    put64(p + 68, (uint64_t)o->error_until);
    memcpy(p + SER_HEADER, o->data, payload);
    put64(p + n - SER_SUM, XXH3_64bits(p, n - SER_SUM));
    return n;
}

int obj_parse(const void *buf, size_t len, struct obj **out)
{
    const unsigned char *p = buf;
    uint64_t key_len, head_len, body_len, room;
    struct obj *o;

    *out = NULL;
    if (len < OBJ_SER_OVERHEAD)
        return OBJ_E_TRUNCATED;
    if (memcmp(p, SER_MAGIC, 4) != 0)
        return OBJ_E_MAGIC;
    if (p[4] != SER_VERSION)
        return OBJ_E_VERSION;
    if (p[5] != 0 || p[6] != 0 || p[7] != 0)
        return OBJ_E_FIELD;
    key_len = get32(p + 12);
    head_len = get32(p + 16);
    body_len = get64(p + 20);
    /* The lengths are checked against the bytes at hand one at a time, so no sum
     * can overflow however large the fields are. */
    room = len - OBJ_SER_OVERHEAD;
    if (key_len > room || head_len > room - key_len || body_len > room - key_len - head_len)
        return OBJ_E_TRUNCATED;
    if (key_len + head_len + body_len != room)
        return OBJ_E_LENGTH;
    if (get64(p + len - SER_SUM) != XXH3_64bits(p, len - SER_SUM))
        return OBJ_E_CHECKSUM;
    o = obj_new(p + SER_HEADER, (size_t)key_len, get64(p + 28), get64(p + 36), (size_t)head_len,
                (size_t)body_len);
    if (o == NULL)
        return OBJ_E_NOMEM;
    o->flags = get32(p + 8);
    o->stored_at = (int64_t)get64(p + 44);
    o->expires_at = (int64_t)get64(p + 52);
    o->stale_until = (int64_t)get64(p + 60);
    o->error_until = (int64_t)get64(p + 68);
    memcpy(o->data + key_len, p + SER_HEADER + key_len, (size_t)(head_len + body_len));
    *out = o;
    return OBJ_OK;
}
