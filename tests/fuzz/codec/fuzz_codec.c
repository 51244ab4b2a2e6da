/* SPDX-License-Identifier: Apache-2.0
 *
 * fuzz_codec: libFuzzer target for the decoding of compressed fragment bodies
 * (proxy/codec.c), which come from origins. Byte 0 picks gzip or br; the rest is
 * decoded with a small cap. Invariants: the output never exceeds the cap, a
 * failed decode is reported (never a crash or a hang), and whatever decodes
 * re-encodes and decodes back to the same bytes.
 *
 * Built with -fsanitize=fuzzer, or linked with tests/fuzz/replay.c for ctest.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "codec.h"

#define CAP (256u * 1024)

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_codec: %s:%d: invariant failed: %s\n", __FILE__, __LINE__,       \
                    #cond);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    enum codec_enc e = (data[0] & 1) ? CODEC_BR : CODEC_GZIP;
    struct evbuffer *out = evbuffer_new();
    int rc = codec_decode(e, data + 1, size - 1, CAP, out);
    size_t n = evbuffer_get_length(out);
    FUZZ_CHECK(n <= CAP);
    if (rc == 0) {
        struct evbuffer *z = evbuffer_new(), *back = evbuffer_new();
        const unsigned char *p = n ? evbuffer_pullup(out, -1) : (const unsigned char *)"";
        FUZZ_CHECK(codec_encode(e, p, n, z) == 0);
        size_t zl = evbuffer_get_length(z);
        FUZZ_CHECK(codec_decode(e, zl ? evbuffer_pullup(z, -1) : p, zl, CAP, back) == 0);
        FUZZ_CHECK(evbuffer_get_length(back) == n &&
                   (n == 0 || memcmp(evbuffer_pullup(back, -1), p, n) == 0));
        evbuffer_free(z);
        evbuffer_free(back);
    }
    evbuffer_free(out);
    return 0;
}
