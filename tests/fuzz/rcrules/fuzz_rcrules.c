/* SPDX-License-Identifier: Apache-2.0
 *
 * fuzz_rcrules: libFuzzer target for a route's request-side cache rules
 * (proxy/rcrules.c). The input is used three ways: as a Cookie value stripped of
 * fixed names, as a query string checked for bypass names, and (when it parses)
 * as a request head checked for bypass cookies and fields. Invariants: stripping
 * never grows the value, leaves none of the stripped names, is idempotent, and a
 * too-small output buffer is reported rather than overrun.
 *
 * Built with -fsanitize=fuzzer, or linked with tests/fuzz/replay.c for ctest.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "h1.h"
#include "rcrules.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_rcrules: %s:%d: invariant failed: %s\n", __FILE__, __LINE__,     \
                    #cond);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static char *strip_items[] = {"_ga*", "sid", "*x"};
static char *names[] = {"session", "wp_*"};
static char *fields[] = {"x-preview", "authorization"};

/* Does the stripped value still hold a cookie whose name the list strips? */
static int holds_stripped(const struct cfg_strlist *l, const char *v, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t s = i;
        while (i < n && v[i] != ';')
            i++;
        size_t e = i;
        while (s < e && (v[s] == ' ' || v[s] == '\t'))
            s++;
        size_t ne = s;
        while (ne < e && v[ne] != '=')
            ne++;
        while (ne > s && (v[ne - 1] == ' ' || v[ne - 1] == '\t'))
            ne--;
        if (ne > s && rcr_list_match(l, v + s, ne - s, 0))
            return 1;
        i++;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *v = (const char *)data;
    struct cfg_strlist strip = {strip_items, 3};
    static char out[70000], again[70000];
    if (size > 65536)
        return 0;
    size_t n = rcr_strip_cookies(&strip, v, size, out, sizeof(out));
    FUZZ_CHECK(n != (size_t)-1 && n <= size + size / 2 + 1); /* ";" may become "; " */
    FUZZ_CHECK(!holds_stripped(&strip, out, n));
    size_t n2 = rcr_strip_cookies(&strip, out, n, again, sizeof(again));
    FUZZ_CHECK(n2 == n && memcmp(out, again, n) == 0);
    if (n > 0) {
        size_t small = rcr_strip_cookies(&strip, v, size, out, n - 1);
        FUZZ_CHECK(small == (size_t)-1);
    }

    struct cfg_route_cache rules;
    memset(&rules, 0, sizeof(rules));
    rules.bypass_cookies = (struct cfg_strlist){names, 2};
    rules.bypass_headers = (struct cfg_strlist){fields, 2};
    rules.bypass_query = (struct cfg_strlist){names, 2};
    static struct h1_msg m;
    memset(&m, 0, sizeof(m));
    const char *why = rcr_bypass(&rules, &m, v, size);
    FUZZ_CHECK(why == NULL || strcmp(why, "query") == 0);
    struct h1_limits lim = {65536, 65536, H1_MAX_HEADERS_CAP};
    if (h1_parse_request(v, size, &lim, &m) == H1_OK) {
        why = rcr_bypass(&rules, &m, NULL, 0);
        FUZZ_CHECK(why == NULL || strcmp(why, "header") == 0 || strcmp(why, "cookie") == 0);
    }
    return 0;
}
