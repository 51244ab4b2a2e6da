/* SPDX-License-Identifier: Apache-2.0
 *
 * fuzz_channel: libFuzzer target for client channel classification
 * (proxy/channel.c) under two fixed configurations loaded once with cfg_load:
 * ALL, with every kind of condition, and UA, with overlapping user_agent rules only.
 *
 * Input: byte 0 picks the mode. Even: the rest is an HTTP/1.1 request head, parsed
 * by h1_parse_request (the query is the target's part after '?'). Odd: the rest is
 * split on '\n'; the first line is the raw query and each further line a field,
 * "name:value" (no ':': a name with an empty value), set straight into struct
 * h1_msg as the HTTP/2 layer does, so any bytes reach the classifier.
 *
 * Invariants, checked with FUZZ_CHECK (which aborts even when NDEBUG is set):
 *   - the result is always one of the configured names (the very pointer of
 *     cfg->channel_names), and the same on a second call;
 *   - it depends only on the fields channel_vary lists and on the query: the same
 *     head reduced to those fields gives the same pointer;
 *   - under UA it equals a naive search (the rules in order, the alternatives as
 *     ASCII case-insensitive substrings of the first User-Agent field's first
 *     CHANNEL_UA_SCAN_MAX bytes).
 *
 * Built with -fsanitize=fuzzer, or linked with tests/fuzz/replay.c for ctest.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "channel.h"
#include "h1.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_channel: %s:%d: invariant failed: %s\n", __FILE__, __LINE__,     \
                    #cond);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define MAX_INPUT (64u << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char cfg_all[] =
    "listen = { { addr = \"127.0.0.1:0\" } }\n"
    "channels = {\n"
    "  { name = \"app\",    header = { [\"X-Channel\"] = \"app\" } },\n"
    "  { name = \"mobile\", header = { [\"x-channel\"] = \"mobile\" } },\n"
    "  { name = \"web\",    header = { [\"X-CHANNEL\"] = \"web\" } },\n"
    "  { name = \"mobile\", client_hint_mobile = true },\n"
    "  { name = \"mobile\", user_agent = \"Android|iPhone|Mobile\" },\n"
    "  { name = \"tablet\", user_agent = \"iPad|Tablet\" },\n"
    "  { name = \"beta\",   cookie = { bucket = \"b\" } },\n"
    "  { name = \"app\",    query = { channel = \"app\" } },\n"
    "  { name = \"tv\",     query = { [\"c.h\"] = \"t\\0v\" } },\n"
    "  { name = \"web\" },\n"
    "}\n";

/* Alternatives that overlap and nest, so the automaton's failure links matter. */
#define UA_RULES 5
static const char *const ua_alts[UA_RULES][4] = {
    {"abcab", "hers", NULL},
    {"bca", "she", "\xc3\xa9", NULL},
    {"aab", "he", NULL},
    {"b c", "his", "ab", NULL},
    {"a", NULL},
};
static const char cfg_ua[] = "listen = { { addr = \"127.0.0.1:0\" } }\n"
                             "channels = {\n"
                             "  { name = \"r0\", user_agent = \"abcAB|hers\" },\n"
                             "  { name = \"r1\", user_agent = \"bca|SHE|\\195\\169\" },\n"
                             "  { name = \"r2\", user_agent = \"aab|he\" },\n"
                             "  { name = \"r3\", user_agent = \"b c|his|ab\" },\n"
                             "  { name = \"r4\", user_agent = \"a\" },\n"
                             "  { name = \"none\" },\n"
                             "}\n";

static struct cfg *all, *ua;

static struct cfg *load(const char *text)
{
    char path[] = "/tmp/fuzz_channel.XXXXXX";
    int fd = mkstemp(path);
    FUZZ_CHECK(fd >= 0);
    FUZZ_CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    struct cfg *c = cfg_load(path, stderr);
    unlink(path);
    FUZZ_CHECK(c != NULL);
    return c;
}

static int ieq(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return 0;
    for (size_t i = 0; i < alen; i++) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z')
            x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (char)(y - 'A' + 'a');
        if (x != y)
            return 0;
    }
    return 1;
}

/* Is the field name one of the comma-separated names of vary? */
static int in_vary(const char *vary, const char *name, size_t nlen)
{
    const char *p = vary;
    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (ieq(p, n, name, nlen))
            return 1;
        p += n;
        while (*p == ',' || *p == ' ')
            p++;
    }
    return 0;
}

static const char *naive_ua(const struct h1_msg *m)
{
    const struct h1_header *h = NULL;
    for (size_t i = 0; i < m->num_headers && h == NULL; i++)
        if (ieq(m->headers[i].name, m->headers[i].name_len, "user-agent", 10))
            h = &m->headers[i];
    size_t n = h ? h->value_len : 0;
    if (n > CHANNEL_UA_SCAN_MAX)
        n = CHANNEL_UA_SCAN_MAX;
    for (size_t r = 0; r < UA_RULES; r++) {
        for (size_t a = 0; ua_alts[r][a] != NULL; a++) {
            size_t al = strlen(ua_alts[r][a]);
            for (size_t i = 0; i + al <= n; i++) {
                size_t k = 0;
                while (k < al) {
                    char ch = h->value[i + k];
                    if (ch >= 'A' && ch <= 'Z')
                        ch = (char)(ch - 'A' + 'a');
                    if (ch != ua_alts[r][a][k])
                        break;
                    k++;
                }
                if (k == al) {
                    static const char *const names[] = {"r0", "r1", "r2", "r3", "r4"};
                    return names[r];
                }
            }
        }
    }
    return "none";
}

static struct h1_msg msg, reduced;

static void check(const struct cfg *c, const struct h1_msg *m, const char *q, size_t qlen)
{
    const char *got = channel_classify(c, m, q, qlen);
    size_t i;
    for (i = 0; i < c->channel_names.n; i++)
        if (got == c->channel_names.items[i])
            break;
    FUZZ_CHECK(i < c->channel_names.n);
    FUZZ_CHECK(channel_classify(c, m, q, qlen) == got);

    const char *vary = channel_vary(c);
    memset(&reduced, 0, sizeof(reduced));
    for (i = 0; i < m->num_headers; i++)
        if (in_vary(vary, m->headers[i].name, m->headers[i].name_len))
            reduced.headers[reduced.num_headers++] = m->headers[i];
    FUZZ_CHECK(channel_classify(c, &reduced, q, qlen) == got);

    if (c == ua)
        FUZZ_CHECK(strcmp(got, naive_ua(m)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct h1_limits lim = {
        .max_head = 1 << 16, .max_uri = 1 << 14, .max_headers = 100};
    const char *q = NULL;
    size_t qlen = 0;

    if (all == NULL) {
        all = load(cfg_all);
        ua = load(cfg_ua);
    }
    if (size < 1 || size > MAX_INPUT)
        return 0;
    const char *in = (const char *)data + 1;
    size_t n = size - 1;
    memset(&msg, 0, sizeof(msg));
    if ((data[0] & 1) == 0) {
        if (h1_parse_request(in, n, &lim, &msg) != H1_OK)
            return 0;
        const char *mark = memchr(msg.target, '?', msg.target_len);
        if (mark != NULL) {
            q = mark + 1;
            qlen = msg.target_len - (size_t)(q - msg.target);
        }
    } else {
        const char *p = in, *end = in + n;
        const char *nl = memchr(p, '\n', n);
        q = p;
        qlen = nl ? (size_t)(nl - p) : n;
        p = nl ? nl + 1 : end;
        while (p < end && msg.num_headers < H1_MAX_HEADERS_CAP) {
            const char *e = memchr(p, '\n', (size_t)(end - p));
            if (e == NULL)
                e = end;
            const char *colon = memchr(p, ':', (size_t)(e - p));
            struct h1_header *h = &msg.headers[msg.num_headers++];
            h->name = p;
            h->name_len = (size_t)((colon ? colon : e) - p);
            h->value = colon ? colon + 1 : e;
            h->value_len = (size_t)(e - h->value);
            p = e < end ? e + 1 : end;
        }
    }
    check(all, &msg, q, qlen);
    check(ua, &msg, q, qlen);
    return 0;
}
