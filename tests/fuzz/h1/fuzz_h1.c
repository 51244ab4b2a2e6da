/* SPDX-License-Identifier: Apache-2.0
 *
 * fuzz_h1: libFuzzer target for the h1 parsers (proxy/h1.c).
 *
 * Input: byte 0 picks a split point, byte 1 picks the limits and flags, the rest is
 * the message. The same bytes go to h1_parse_request, h1_parse_response and
 * h1_chunked_feed; invariants are checked with FUZZ_CHECK, which aborts even when
 * NDEBUG is set (the ctest replay is built in release modes too). Invariants: parsed
 * strings lie inside the head, the limits hold, and parsing a prefix (or feeding the
 * input in pieces) agrees with parsing the whole.
 *
 * Built with -fsanitize=fuzzer, or linked with tests/fuzz/replay.c for ctest.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h1.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_h1: %s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct h1_limits limits[] = {
    {.max_head = 8192, .max_uri = 1024, .max_headers = 100},
    {.max_head = 64, .max_uri = 16, .max_headers = 3},
    {.max_head = 32, .max_uri = 4096, .max_headers = 8},
    {.max_head = 1 << 20, .max_uri = 1 << 20, .max_headers = 100000},
};

/* Below this size every prefix is parsed; above it, two of them. */
#define ALL_PREFIXES_MAX 128
#define BYTEWISE_MAX 2048

static struct h1_msg msg, other;

struct parse_args {
    const char *buf;
    size_t len;
    const struct h1_limits *lim;
    int response, head_request;
};

static int parse(const struct parse_args *a, size_t len, struct h1_msg *m)
{
    if (a->response)
        return h1_parse_response(a->buf, len, a->lim, a->head_request, m);
    return h1_parse_request(a->buf, len, a->lim, m);
}

static int inside(const struct h1_msg *m, const char *base, const char *p, size_t n)
{
    return p != NULL && p >= base && n <= m->head_len && (size_t)(p - base) <= m->head_len - n;
}

static int has_crlf_or_edge_ws(const char *p, size_t n)
{
    return memchr(p, '\r', n) != NULL || memchr(p, '\n', n) != NULL ||
           (n > 0 && (p[0] == ' ' || p[0] == '\t' || p[n - 1] == ' ' || p[n - 1] == '\t'));
}

static void check_result(const struct parse_args *a, int r, const struct h1_msg *m)
{
    size_t i;

    FUZZ_CHECK(r == H1_OK || r == H1_NEED_MORE || (r < 0 && r >= H1_E_CHUNK_TOO_LARGE));
    FUZZ_CHECK(h1_strerror(r) != NULL && h1_is_fatal(r) == (r < 0));
    FUZZ_CHECK((h1_err_status(r) == 0) == (r >= 0));
    if (r == H1_NEED_MORE)
        FUZZ_CHECK(a->len <= a->lim->max_head);
    if (r != H1_OK)
        return;
    FUZZ_CHECK(m->head_len > 0 && m->head_len <= a->len && m->head_len <= a->lim->max_head);
    FUZZ_CHECK(a->buf[m->head_len - 1] == '\n');
    FUZZ_CHECK(m->minor_version == 0 || m->minor_version == 1);
    FUZZ_CHECK(m->num_headers <= a->lim->max_headers && m->num_headers <= H1_MAX_HEADERS_CAP);
    for (i = 0; i < m->num_headers; i++) {
        const struct h1_header *h = &m->headers[i];
        FUZZ_CHECK(h->name_len > 0 && inside(m, a->buf, h->name, h->name_len));
        FUZZ_CHECK(memchr(h->name, ':', h->name_len) == NULL);
        FUZZ_CHECK(h->value_len == 0 || inside(m, a->buf, h->value, h->value_len));
        FUZZ_CHECK(!has_crlf_or_edge_ws(h->name, h->name_len));
        FUZZ_CHECK(!has_crlf_or_edge_ws(h->value, h->value_len));
        FUZZ_CHECK(h1_header_find(m, "x", 0) != (int)i || h->name_len == 1);
    }
    if (m->body == H1_BODY_LENGTH)
        FUZZ_CHECK(m->content_length > 0 && m->content_length < UINT64_C(1000000000000000000));
    if (m->host != NULL)
        FUZZ_CHECK(m->host_len == 0 || inside(m, a->buf, m->host, m->host_len));
    if (a->response) {
        FUZZ_CHECK(m->status >= 100 && m->status <= 599);
        FUZZ_CHECK(m->reason_len == 0 || inside(m, a->buf, m->reason, m->reason_len));
        if (m->body == H1_BODY_UNTIL_CLOSE)
            FUZZ_CHECK(!m->keep_alive);
        if (a->head_request || m->status == 204 || m->status == 304 || m->status < 200)
            FUZZ_CHECK(m->body == H1_BODY_NONE);
    } else {
        FUZZ_CHECK(m->method_len > 0 && inside(m, a->buf, m->method, m->method_len));
        FUZZ_CHECK(m->target_len > 0 && m->target_len <= a->lim->max_uri &&
                   inside(m, a->buf, m->target, m->target_len));
        FUZZ_CHECK(m->body != H1_BODY_UNTIL_CLOSE);
        FUZZ_CHECK(m->minor_version == 0 || m->host != NULL);
        FUZZ_CHECK(!m->expect_continue || m->minor_version == 1);
    }
}

/* A prefix gives NEED_MORE or the result of the whole input; for an accepted head,
 * exactly the prefixes that hold the head give it. */
static void check_prefix(const struct parse_args *a, int whole, size_t head_len, size_t k)
{
    int r = parse(a, k, &other);

    if (whole == H1_OK && k < head_len)
        FUZZ_CHECK(r == H1_NEED_MORE);
    else if (whole == H1_OK)
        FUZZ_CHECK(r == H1_OK && other.head_len == head_len);
    else
        FUZZ_CHECK(r == H1_NEED_MORE || r == whole);
}

static int fuzz_head(const struct parse_args *a, size_t split)
{
    int r = parse(a, a->len, &msg);
    size_t k, head_len = msg.head_len;

    check_result(a, r, &msg);
    if (a->len <= ALL_PREFIXES_MAX) {
        for (k = 0; k < a->len; k++)
            check_prefix(a, r, head_len, k);
    } else {
        check_prefix(a, r, head_len, split);
        check_prefix(a, r, head_len, split + (a->len - split) / 2);
    }
    return r;
}

struct chunk_run {
    int r;
    size_t consumed;
    size_t data_len;
    uint64_t hash; /* FNV-1a of the body */
};

/* Feeds in[0..len) in pieces: the first of `first` bytes (when non-zero), then of
 * `step` bytes, until a result other than NEED_MORE. */
static void chunk_feed(const char *in, size_t len, size_t max_line, size_t first, size_t step,
                       struct chunk_run *run)
{
    struct h1_chunked c;
    size_t pos = 0, i;

    h1_chunked_init(&c);
    c.max_line = max_line;
    run->r = H1_NEED_MORE;
    run->data_len = 0;
    run->hash = UINT64_C(14695981039346656037);
    while (pos < len && run->r == H1_NEED_MORE) {
        size_t piece = pos == 0 && first ? first : step, used = 0, consumed, off, n;

        if (piece > len - pos)
            piece = len - pos;
        while (used < piece && run->r == H1_NEED_MORE) {
            run->r = h1_chunked_feed(&c, in + pos + used, piece - used, &consumed, &off, &n);
            FUZZ_CHECK(consumed <= piece - used);
            FUZZ_CHECK(n == 0 || off + n <= consumed);
            FUZZ_CHECK(consumed > 0 || run->r != H1_NEED_MORE);
            FUZZ_CHECK(run->r == H1_OK || run->r == H1_NEED_MORE ||
                       (run->r < 0 && run->r >= H1_E_CHUNK_TOO_LARGE));
            for (i = 0; i < n; i++)
                run->hash =
                    (run->hash ^ (uint8_t)in[pos + used + off + i]) * UINT64_C(1099511628211);
            run->data_len += n;
            used += consumed;
        }
        pos += used;
    }
    run->consumed = pos;
}

static void fuzz_chunked(const char *in, size_t len, size_t max_line, size_t split)
{
    struct chunk_run whole, part;

    chunk_feed(in, len, max_line, 0, len, &whole);
    FUZZ_CHECK(whole.data_len <= whole.consumed);
    if (whole.r == H1_NEED_MORE)
        FUZZ_CHECK(whole.consumed == len);
    chunk_feed(in, len, max_line, split, len, &part);
    FUZZ_CHECK(part.r == whole.r && part.consumed == whole.consumed &&
               part.data_len == whole.data_len && part.hash == whole.hash);
    if (len <= BYTEWISE_MAX) {
        chunk_feed(in, len, max_line, 0, 1, &part);
        FUZZ_CHECK(part.r == whole.r && part.consumed == whole.consumed &&
                   part.data_len == whole.data_len && part.hash == whole.hash);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct parse_args a;
    size_t split, max_line;
    uint8_t cfg;
    int r;

    if (size < 2)
        return 0;
    cfg = data[1];
    a.buf = (const char *)data + 2;
    a.len = size - 2;
    a.lim = &limits[cfg & 3];
    a.head_request = (cfg >> 2) & 1;
    split = (size_t)data[0] * a.len / 255;
    max_line = (cfg & 8) ? 8 : 0;

    a.response = 0;
    r = fuzz_head(&a, split);
    if (r == H1_OK && msg.body == H1_BODY_CHUNKED) {
        size_t head_len = msg.head_len;
        fuzz_chunked(a.buf + head_len, a.len - head_len, max_line, split / 2);
    }
    a.response = 1;
    fuzz_head(&a, split);
    fuzz_chunked(a.buf, a.len, max_line, split);
    return 0;
}
