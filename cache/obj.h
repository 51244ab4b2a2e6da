/* SPDX-License-Identifier: Apache-2.0
 *
 * obj: a stored object, one cached response in one malloc'd block: a fixed header,
 * then the full cache key bytes, then the response head exactly as it is sent
 * (status line and fields, without the per-response Age, Cache-Status and Date that
 * the server adds), then the body. The block is what the hit path writes (by
 * reference, never copied) and what the L2 stores in serialized form.
 *
 * Refcounts: obj_new and obj_parse return an object holding one reference. Every
 * holder (a request, the L1 store) owns one reference and releases it exactly once
 * with obj_unref; the block is freed when the count reaches zero. obj_ref and
 * obj_unref are atomic and may be called from any thread.
 *
 * Mutability: the head, body, times and flags are written by the thread that made
 * the object, before it is shared (inserted into the L1, handed to another thread).
 * After that the object is immutable; a changed response is a new object. The only
 * part written while shared is the L1 hook, under the L1 shard lock.
 *
 * Times are int64_t seconds since the Unix epoch, as in cache/cc.h (wall clock, not
 * monotonic: objects travel between nodes through the L2). TTL code passes `now`.
 * No function here takes a callback, so none re-enters the caller. Programming
 * errors (a bad magic, a refcount underflow) abort with file:line.
 */
#ifndef TESSERA_OBJ_H
#define TESSERA_OBJ_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct obj;

/* Largest key and head (bytes): the serialized form stores them as 32-bit lengths. */
#define OBJ_KEY_MAX UINT32_MAX
#define OBJ_HEAD_MAX UINT32_MAX

/* Fixed bytes of the serialized form: a 76-byte header and an 8-byte checksum. */
#define OBJ_SER_OVERHEAD 84

enum obj_err {
    OBJ_OK = 0,
    OBJ_E_TRUNCATED = -1, /* shorter than the header or than its own lengths say */
    OBJ_E_MAGIC = -2,     /* not a serialized object */
    OBJ_E_VERSION = -3,   /* a format version this build does not read */
    OBJ_E_FIELD = -4,     /* a reserved header byte is not zero */
    OBJ_E_LENGTH = -5,    /* lengths over the limits, or bytes after the checksum */
    OBJ_E_CHECKSUM = -6,  /* XXH3-64 of the bytes does not match */
    OBJ_E_NOMEM = -7,     /* the block could not be allocated */
};

/* The text of an obj_err ("truncated", ...); "unknown error" for other values.
 * Thread: any. */
const char *obj_strerror(int err);

/* Allocates an object in one block for a key of key_len bytes (copied in) whose
 * 128-bit hash is (hash_lo, hash_hi), with room for head_len head bytes and body_len
 * body bytes, both uninitialised: fill them through obj_head_mut/obj_body_mut before
 * sharing the object. Times and flags start at 0. Returns the object with one
 * reference, or NULL when the sizes exceed OBJ_KEY_MAX/OBJ_HEAD_MAX, overflow, or
 * malloc fails. Sizes from a peer must be capped by config first. Thread: any. */
struct obj *obj_new(const void *key, size_t key_len, uint64_t hash_lo, uint64_t hash_hi,
                    size_t head_len, size_t body_len);

/* Takes one more reference; returns o. o must already hold one. Thread: any. */
struct obj *obj_ref(struct obj *o);

/* Releases the reference *op holds and sets *op to NULL; frees the block when it was
 * the last one. A NULL *op is ignored. Never re-enters the caller. Thread: any. */
void obj_unref(struct obj **op);

/* The key bytes, the head bytes, the body bytes and their lengths. The pointers are
 * valid while the caller holds a reference. Thread: any. */
const void *obj_key(const struct obj *o);
size_t obj_key_len(const struct obj *o);
const void *obj_head(const struct obj *o);
size_t obj_head_len(const struct obj *o);
const void *obj_body(const struct obj *o);
size_t obj_body_len(const struct obj *o);

/* Writable head and body, for the maker of the object before it is shared. */
void *obj_head_mut(struct obj *o);
void *obj_body_mut(struct obj *o);

/* The two halves of the 128-bit key hash given to obj_new. */
uint64_t obj_hash_lo(const struct obj *o);
uint64_t obj_hash_hi(const struct obj *o);

/* 1 when the object's key is exactly key[0..key_len), else 0. This, not the hash,
 * decides a hit: two keys with the same hash never alias. Thread: any. */
int obj_key_equal(const struct obj *o, const void *key, size_t key_len);

/* Bytes the object costs in memory, what the L1 charges it against its budget:
 * the header (sizeof(struct obj): 120 bytes on LP64), the key, the head and the
 * body, rounded as glibc malloc rounds the block: an 8-byte chunk header plus
 * padding to a multiple of 16. So 128-143 bytes over the payload for blocks under
 * 128 KiB; larger blocks are mmap'd: 8 more bytes and rounding up to 4 KiB pages
 * (136-4231 bytes). test_l1 checks the figure against malloc_usable_size. The L1's
 * own index costs more per object, outside the budget: see l1_stats.index_bytes.
 * Constant for the object's life. Thread: any. */
size_t obj_size(const struct obj *o);

/* Freshness times, seconds since the epoch; with a struct cc_policy p for a response
 * received at p.response_time:
 *   stored_at   = response_time - age   the instant its age was 0, so the Age
 *                                       field to send is now - stored_at
 *   expires_at  = stored_at + ttl       fresh while now < expires_at
 *   stale_until = expires_at + swr      stale-while-revalidate window (RFC 5861 3)
 *   error_until = expires_at + sie      stale-if-error window (RFC 5861 4)
 * A window that does not apply ends at expires_at. Set before sharing.
 * Thread: the maker. */
void obj_set_times(struct obj *o, int64_t stored_at, int64_t expires_at, int64_t stale_until,
                   int64_t error_until);
int64_t obj_stored_at(const struct obj *o);
int64_t obj_expires_at(const struct obj *o);
int64_t obj_stale_until(const struct obj *o);
int64_t obj_error_until(const struct obj *o);

/* 1 when the object can no longer be served at all at `now`, fresh or stale: now is
 * at or past expires_at, stale_until and error_until. Thread: any. */
int obj_is_dead(const struct obj *o, int64_t now);

/* Flags: 32 bits whose meaning belongs to the caller (the cache module); stored and
 * serialized as given. Set before sharing. */
void obj_set_flags(struct obj *o, uint32_t flags);
uint32_t obj_flags(const struct obj *o);

/* Bytes obj_serialize writes for o: OBJ_SER_OVERHEAD plus key, head and body. */
size_t obj_serialized_size(const struct obj *o);

/* Writes o as a flat byte string (for the Redis L2) into buf, which has room for
 * cap bytes. The format is little-endian and independent of the host:
 *
 *   0  4  magic "TSOB"          28  8  hash_lo
 *   4  1  version (1)           36  8  hash_hi
 *   5  3  reserved, zero        44  8  stored_at (signed)
 *   8  4  flags                 52  8  expires_at (signed)
 *  12  4  key_len               60  8  stale_until (signed)
 *  16  4  head_len              68  8  error_until (signed)
 *  20  8  body_len              76     key, head, body
 *                              end-8 8 XXH3-64 of every byte before it
 *
 * The refcount and the L1 hook are not part of it. Returns the bytes written, or 0
 * when cap is smaller than obj_serialized_size(o). Thread: any. */
size_t obj_serialize(const struct obj *o, void *buf, size_t cap);

/* Rebuilds an object from len bytes written by obj_serialize, which may come from
 * Redis and so be anything: the magic, version, reserved bytes, lengths (they must
 * account for exactly len bytes) and checksum are validated before anything is
 * allocated; the allocation is at most len + sizeof(struct obj). On success sets
 * *out to a new object with one reference and returns OBJ_OK; otherwise returns a
 * negative obj_err and sets *out to NULL. The hash is not recomputed: the caller
 * compares obj_key with the key it asked for. Thread: any. */
int obj_parse(const void *buf, size_t len, struct obj **out);

/* Cross-module internal: the part of the header that belongs to the L1 store
 * (cache/l1.c). `owner` is the L1 shard holding the object, NULL when none; it is
 * claimed with a compare-and-swap so an object is in at most one store at a time.
 * The other fields are read and written only under that shard's lock. */
struct obj__l1 {
    struct obj *prev, *next; /* the store's queue (FIFO or LRU list) */
    _Atomic(void *) owner;
    uint8_t queue; /* which queue of the shard */
    uint8_t freq;  /* S3-FIFO access counter, 0-3 */
    uint32_t scan; /* l1_scan: the number of the last scan that visited it (fits the
                      padding: the struct stays 32 bytes on LP64) */
};
struct obj__l1 *obj__l1(struct obj *o);

/* Cross-module internal, for tests and assertions: the current reference count. */
unsigned obj__refcount(const struct obj *o);

#endif
