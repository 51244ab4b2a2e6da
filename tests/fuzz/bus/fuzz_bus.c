/* SPDX-License-Identifier: Apache-2.0
 *
 * fuzz_bus: libFuzzer target for the cross-node purge messages (proxy/l2_bus.h,
 * l2_bus__decode): what arrives on the Redis channel is untrusted bytes.
 *
 * Invariants (FUZZ_CHECK aborts even under NDEBUG, as the ctest replay runs in
 * release builds): decoding never reads outside the input (ASan), and a message
 * that decodes is canonical: encoding it again gives the same bytes, which
 * decode to the same fields.
 *
 * Built with -fsanitize=fuzzer, or linked with tests/fuzz/replay.c for ctest.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "l2_bus.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_bus: %s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same_text(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct l2_bus__msg m, again;
    if (l2_bus__decode(data, size, &m) != 0)
        return 0;
    static unsigned char out[L2_BUS_MSG_MAX];
    size_t n = l2_bus__encode(&m, out, sizeof(out));
    FUZZ_CHECK(n == size);
    FUZZ_CHECK(memcmp(out, data, size) == 0);
    FUZZ_CHECK(l2_bus__decode(out, n, &again) == 0);
    FUZZ_CHECK(again.node == m.node && again.seq == m.seq && again.at == m.at);
    FUZZ_CHECK(again.pr.kind == m.pr.kind && again.pr.soft == m.pr.soft &&
               again.pr.https == m.pr.https);
    FUZZ_CHECK((again.pr.host == NULL) == (m.pr.host == NULL));
    if (m.pr.host != NULL)
        FUZZ_CHECK(same_text(again.pr.host, again.pr.host_len, m.pr.host, m.pr.host_len));
    FUZZ_CHECK(same_text(again.pr.value, again.pr.value_len, m.pr.value, m.pr.value_len));
    return 0;
}
