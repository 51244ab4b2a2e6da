/* SPDX-License-Identifier: Apache-2.0
 *
 * fuzz_obj: libFuzzer target for the stored-object parser (cache/obj.c), which
 * reads back what Redis returns for an L2 key and so must take any bytes.
 *
 * Two passes over each input:
 * - as a serialized object: obj_parse either fails with an obj_err or returns an
 *   object that serializes back to exactly the input (the format is canonical),
 *   whose every proper prefix is rejected;
 * - as material for an object: bytes 0-1 split the rest into key, head and body,
 *   the object is built, serialized and parsed back equal, and one truncation and
 *   one bit flip (positions taken from bytes 2-3) are rejected.
 * Invariants are checked with FUZZ_CHECK, which aborts even when NDEBUG is set.
 *
 * Built with -fsanitize=fuzzer, or linked with tests/fuzz/replay.c for ctest.
 * tests/fuzz/obj/mkcorpus.c writes the seed corpus.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obj.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_obj: %s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int rejected(const void *buf, size_t len)
{
    struct obj *o = (struct obj *)1;
    int r = obj_parse(buf, len, &o);

    FUZZ_CHECK(r < 0 && r >= OBJ_E_NOMEM && o == NULL);
    FUZZ_CHECK(strcmp(obj_strerror(r), "unknown error") != 0);
    return 1;
}

static void as_serialized(const uint8_t *data, size_t size)
{
    struct obj *o = (struct obj *)1;
    unsigned char *again;
    size_t payload, k;
    int r = obj_parse(data, size, &o);

    FUZZ_CHECK(r == OBJ_OK || (r < 0 && r >= OBJ_E_NOMEM));
    FUZZ_CHECK((r == OBJ_OK) == (o != NULL));
    FUZZ_CHECK(strcmp(obj_strerror(r), "unknown error") != 0);
    if (o == NULL)
        return;
    payload = obj_key_len(o) + obj_head_len(o) + obj_body_len(o);
    FUZZ_CHECK(size == OBJ_SER_OVERHEAD + payload);
    FUZZ_CHECK(obj_serialized_size(o) == size);
    FUZZ_CHECK(obj_size(o) >= payload + 128);
    FUZZ_CHECK(obj__refcount(o) == 1);
    /* the key follows the header, which is the fixed overhead less the checksum */
    FUZZ_CHECK(memcmp(obj_key(o), data + OBJ_SER_OVERHEAD - 8, obj_key_len(o)) == 0);
    again = malloc(size);
    FUZZ_CHECK(again != NULL && obj_serialize(o, again, size) == size);
    FUZZ_CHECK(memcmp(again, data, size) == 0);
    free(again);
    /* every prefix when small, else a few */
    for (k = 0; k < size; k += size <= 512 ? 1 : size / 64 + 1)
        rejected(data, k);
    rejected(data, size - 1);
    obj_unref(&o);
}

static void as_material(const uint8_t *data, size_t size)
{
    size_t rest, key_len, head_len, body_len, n, pos;
    struct obj *o, *back = NULL;
    unsigned char *buf;
    uint64_t h = 0;

    if (size < 4)
        return;
    rest = size - 4;
    key_len = data[0] % (rest + 1);
    head_len = data[1] % (rest - key_len + 1);
    body_len = rest - key_len - head_len;
    for (pos = 0; pos < size && pos < 16; pos++)
        h = (h << 8 | h >> 56) ^ data[pos];
    o = obj_new(data + 4, key_len, h, ~h, head_len, body_len);
    FUZZ_CHECK(o != NULL);
    memcpy(obj_head_mut(o), data + 4 + key_len, head_len);
    memcpy(obj_body_mut(o), data + 4 + key_len + head_len, body_len);
    obj_set_times(o, (int64_t)h, (int64_t)(h * 3), -(int64_t)(h >> 1), (int64_t)(h ^ 0xff));
    obj_set_flags(o, (uint32_t)(h >> 7));

    n = obj_serialized_size(o);
    FUZZ_CHECK(n == OBJ_SER_OVERHEAD + rest);
    buf = malloc(n);
    FUZZ_CHECK(buf != NULL && obj_serialize(o, buf, n) == n);
    FUZZ_CHECK(obj_serialize(o, buf, n - 1) == 0);
    FUZZ_CHECK(obj_parse(buf, n, &back) == OBJ_OK && back != NULL);
    FUZZ_CHECK(obj_key_equal(back, data + 4, key_len));
    FUZZ_CHECK(obj_head_len(back) == head_len && obj_body_len(back) == body_len);
    FUZZ_CHECK(memcmp(obj_head(back), obj_head(o), head_len) == 0);
    FUZZ_CHECK(memcmp(obj_body(back), obj_body(o), body_len) == 0);
    FUZZ_CHECK(obj_hash_lo(back) == h && obj_hash_hi(back) == ~h);
    FUZZ_CHECK(obj_stored_at(back) == obj_stored_at(o) &&
               obj_expires_at(back) == obj_expires_at(o) &&
               obj_stale_until(back) == obj_stale_until(o) &&
               obj_error_until(back) == obj_error_until(o) && obj_flags(back) == obj_flags(o));
    FUZZ_CHECK(obj_size(back) == obj_size(o));
    obj_unref(&back);

    rejected(buf, ((size_t)data[2] << 8 | data[3]) % n);
    /* one bit flipped anywhere: a field check or the checksum must notice (a 64-bit
     * checksum collision is the only way through, odds 2^-64) */
    pos = ((size_t)data[3] << 8 | data[2]) % (n * 8);
    buf[pos / 8] ^= (unsigned char)(1u << (pos % 8));
    rejected(buf, n);
    free(buf);
    obj_unref(&o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    as_serialized(data, size);
    as_material(data, size);
    return 0;
}
