/* SPDX-License-Identifier: Apache-2.0
 *
 * test_h1: the HTTP/1.1 head parsers and the chunked decoder (proxy/h1.c).
 *
 * Table driven. Every head case, accepted or rejected, is also parsed at each of its
 * prefixes ("prefixes"): a prefix must give H1_NEED_MORE or the result of the whole
 * input, and once a prefix gives a result every longer one gives the same; for an
 * accepted head the first such prefix is the head itself. Every chunked case is fed
 * whole, one byte at a time and split in two at every point, with the same result.
 */
#include "h1.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "util.h"

#define IN(s) .in = (s), .len = sizeof(s) - 1

static const struct h1_limits lim_default = {.max_head = 8192, .max_uri = 1024, .max_headers = 64};
static const struct h1_limits lim_small = {.max_head = 64, .max_uri = 16, .max_headers = 3};
/* max_uri above max_head: only the head limit can cut the request line. */
static const struct h1_limits lim_line = {.max_head = 32, .max_uri = 4096, .max_headers = 8};
static const struct h1_limits lim_wide = {
    .max_head = 1 << 20, .max_uri = 1024, .max_headers = 100000};

static struct h1_msg msg; /* 8 KiB: not on the stack */

struct head_case {
    const char *name;
    const char *in;
    size_t len;
    int want;
    const struct h1_limits *lim; /* NULL: lim_default */
    int response, head_request;  /* response cases */
    /* checked when want == H1_OK */
    const char *method, *target; /* requests */
    int status;                  /* responses */
    const char *reason;
    int minor;
    size_t num_headers;
    enum h1_body body;
    uint64_t content_length;
    int keep_alive, expect_continue, upgrade;
    const char *host;
    size_t tail; /* bytes after the head (a body, the next request) */
};

static int parse(const struct head_case *c, size_t len)
{
    const struct h1_limits *lim = c->lim ? c->lim : &lim_default;

    if (c->response)
        return h1_parse_response(c->in, len, lim, c->head_request, &msg);
    return h1_parse_request(c->in, len, lim, &msg);
}

/* Any split gives the same result: the stateless parser is re-run on each prefix. */
static void check_prefixes(const struct head_case *c, int whole, size_t whole_head_len)
{
    size_t k, first = SIZE_MAX, bad = SIZE_MAX;
    int r;

    for (k = 0; k < c->len && bad == SIZE_MAX; k++) {
        r = parse(c, k);
        if (r == H1_NEED_MORE) {
            if (first != SIZE_MAX)
                bad = k; /* went back to NEED_MORE */
            continue;
        }
        if (first == SIZE_MAX)
            first = k;
        if (r != whole || (r == H1_OK && msg.head_len != whole_head_len))
            bad = k;
    }
    CHECK_MSG(bad == SIZE_MAX, "%s: prefix of %zu bytes gives %d, whole gives %d", c->name, bad,
              bad == SIZE_MAX ? 0 : parse(c, bad), whole);
    if (whole == H1_OK)
        CHECK_MSG(first == (whole_head_len < c->len ? whole_head_len : SIZE_MAX),
                  "%s: first complete prefix %zu, head_len %zu", c->name, first, whole_head_len);
}

static int in_buf(const struct head_case *c, const char *p, size_t n)
{
    return p >= c->in && p + n <= c->in + msg.head_len;
}

static void run_head_case(const struct head_case *c)
{
    size_t i, head_len;
    int r = parse(c, c->len);

    CHECK_MSG(r == c->want, "%s: got %d (%s), want %d (%s)", c->name, r, h1_strerror(r), c->want,
              h1_strerror(c->want));
    head_len = msg.head_len;
    if (r == H1_OK && c->want == H1_OK) {
        CHECK_MSG(head_len == c->len - c->tail, "%s: head_len %zu", c->name, head_len);
        if (c->response) {
            CHECK_INT(msg.status, c->status);
            CHECK_STRN(msg.reason, msg.reason_len, c->reason ? c->reason : "");
        } else {
            CHECK_STRN(msg.method, msg.method_len, c->method);
            CHECK_STRN(msg.target, msg.target_len, c->target);
        }
        CHECK_MSG(msg.minor_version == c->minor, "%s: minor %d", c->name, msg.minor_version);
        CHECK_MSG(msg.num_headers == c->num_headers, "%s: %zu headers", c->name, msg.num_headers);
        CHECK_MSG(msg.body == c->body, "%s: body %d", c->name, (int)msg.body);
        if (c->body == H1_BODY_LENGTH)
            CHECK_MSG(msg.content_length == c->content_length, "%s: content_length %llu", c->name,
                      (unsigned long long)msg.content_length);
        CHECK_MSG(msg.keep_alive == (unsigned)c->keep_alive, "%s: keep_alive", c->name);
        CHECK_MSG(msg.expect_continue == (unsigned)c->expect_continue, "%s: expect", c->name);
        CHECK_MSG(msg.upgrade == (unsigned)c->upgrade, "%s: upgrade", c->name);
        if (c->host != NULL)
            CHECK_STRN(msg.host, msg.host_len, c->host);
        else if (!c->response)
            CHECK_MSG(msg.host == NULL, "%s: host set", c->name);
        for (i = 0; i < msg.num_headers; i++) {
            const struct h1_header *h = &msg.headers[i];
            CHECK_MSG(h->name_len > 0 && in_buf(c, h->name, h->name_len) &&
                          in_buf(c, h->value, h->value_len),
                      "%s: header %zu outside the head", c->name, i);
        }
    }
    check_prefixes(c, r, head_len);
}

/* ---- requests that are accepted ---- */

/* clang-format off: one case per entry reads better than one field per line */
static const struct head_case accepted[] = {
    {.name = "get",
     IN("GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n"),
     .method = "GET",
     .target = "/index.html?q=1",
     .minor = 1,
     .num_headers = 2,
     .keep_alive = 1,
     .host = "example.com"},
    {.name = "post with content-length",
     IN("POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"),
     .method = "POST",
     .target = "/form",
     .minor = 1,
     .num_headers = 2,
     .body = H1_BODY_LENGTH,
     .content_length = 5,
     .keep_alive = 1,
     .host = "a",
     .tail = 5},
    {.name = "content-length 0",
     IN("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"),
     .method = "POST",
     .target = "/",
     .minor = 1,
     .num_headers = 2,
     .keep_alive = 1,
     .host = "a"},
    {.name = "content-length 18 digits with spaces around",
     IN("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length:  999999999999999999 \r\n\r\n"),
     .method = "PUT",
     .target = "/",
     .minor = 1,
     .num_headers = 2,
     .body = H1_BODY_LENGTH,
     .content_length = UINT64_C(999999999999999999),
     .keep_alive = 1,
     .host = "a"},
    {.name = "content-length leading zeros",
     IN("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n"),
     .method = "PUT",
     .target = "/",
     .minor = 1,
     .num_headers = 2,
     .body = H1_BODY_LENGTH,
     .content_length = 7,
     .keep_alive = 1,
     .host = "a"},
    {.name = "chunked",
     IN("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nHost: a\r\n\r\n5\r\n"),
     .method = "POST",
     .target = "/",
     .minor = 1,
     .num_headers = 2,
     .body = H1_BODY_CHUNKED,
     .keep_alive = 1,
     .host = "a",
     .tail = 3},
    {.name = "chunked any case",
     IN("POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding: ChUnKeD\r\n\r\n"),
     .method = "POST",
     .target = "/",
     .minor = 1,
     .num_headers = 2,
     .body = H1_BODY_CHUNKED,
     .keep_alive = 1,
     .host = "a"},
    {.name = "pipelined: head_len points at the second request",
     IN("GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n"),
     .method = "GET",
     .target = "/1",
     .minor = 1,
     .num_headers = 1,
     .keep_alive = 1,
     .host = "a",
     .tail = 28},
    {.name = "http/1.0 keep-alive",
     IN("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"),
     .method = "GET",
     .target = "/",
     .minor = 0,
     .num_headers = 1,
     .keep_alive = 1},
    {.name = "http/1.0 default close",
     IN("GET / HTTP/1.0\r\nHost: a\r\n\r\n"),
     .method = "GET",
     .target = "/",
     .minor = 0,
     .num_headers = 1,
     .keep_alive = 0,
     .host = "a"},
    {.name = "http/1.0 close wins over keep-alive",
     IN("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"),
     .method = "GET",
     .target = "/",
     .minor = 0,
     .num_headers = 1,
     .keep_alive = 0},
    {.name = "connection close in a list",
     IN("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo,, CLOSE ,bar\r\n\r\n"),
     .method = "GET",
     .target = "/",
     .minor = 1,
     .num_headers = 2,
     .keep_alive = 0,
     .host = "a"},
    {.name = "connection closed is not close",
     IN("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n"),
     .method = "GET",
     .target = "/",
     .minor = 1,
     .num_headers = 2,
     .keep_alive = 1,
     .host = "a"},
    {.name = "lf-only lines",
     IN("GET / HTTP/1.1\nHost: a\nX: y\n\n"),
     .method = "GET",
     .target = "/",
     .minor = 1,
     .num_headers = 2,
     .keep_alive = 1,
     .host = "a"},
    {.name = "mixed crlf and lf",
     IN("GET / HTTP/1.1\r\nHost: a\n\r\n"),
     .method = "GET",
     .target = "/",
     .minor = 1,
     .num_headers = 1,
     .keep_alive = 1,
     .host = "a"},
    {.name = "leading empty lines skipped",
     IN("\r\n\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
     .method = "GET",
     .target = "/",
     .minor = 1,
     .num_headers = 1,
     .keep_alive = 1,
     .host = "a"},
    {.name = "http/1.2 is handled as 1.1",
     IN("GET / HTTP/1.2\r\nHost: a\r\n\r\n"),
     .method = "GET",
     .target = "/",
     .minor = 1,
     .num_headers = 1,
     .keep_alive = 1,
     .host = "a"},
    {.name = "http/1.9 is handled as 1.1",
     IN("GET / HTTP/1.9\r\nHost: a\r\n\r\n"),
     .method = "GET",
     .target = "/",
     .minor = 1,
     .num_headers = 1,
     .keep_alive = 1,
     .host = "a"},
    {.name = "expect 100-continue",
     IN("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n\r\n"),
     .method = "PUT",
     .target = "/",
     .minor = 1,
     .num_headers = 2,
     .keep_alive = 1,
     .expect_continue = 1,
     .host = "a"},
    {.name = "expect ignored in 1.0",
     IN("PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n"),
     .method = "PUT",
     .target = "/",
     .minor = 0,
     .num_headers = 1},
    {.name = "upgrade",
     IN("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"),
     .method = "GET",
     .target = "/ws",
     .minor = 1,
     .num_headers = 3,
     .keep_alive = 1,
     .upgrade = 1,
     .host = "a"},
    {.name = "all tchars in method and name",
     IN("!#$%&'*+-.^_`|~09azAZ * HTTP/1.1\r\nHost: a\r\n!#$%&'*+-.^_`|~09azAZ: v\r\n\r\n"),
     .method = "!#$%&'*+-.^_`|~09azAZ",
     .target = "*",
     .minor = 1,
     .num_headers = 2,
     .keep_alive = 1,
     .host = "a"},
    {.name = "all vchars in target",
     IN("GET /!\"#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~ HTTP/1.1\r\nHost: a\r\n\r\n"),
     .method = "GET",
     .target = "/!\"#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~",
     .minor = 1,
     .num_headers = 1,
     .keep_alive = 1,
     .host = "a"},
    {.name = "htab and obs-text in a value",
     IN("GET / HTTP/1.1\r\nHost: a\r\nX-V: \t a\tb \xc3\xa9\xff \t\r\n\r\n"),
     .method = "GET",
     .target = "/",
     .minor = 1,
     .num_headers = 2,
     .keep_alive = 1,
     .host = "a"},
    {.name = "empty values",
     IN("GET / HTTP/1.1\r\nHost:\r\nX:   \r\n\r\n"),
     .method = "GET",
     .target = "/",
     .minor = 1,
     .num_headers = 2,
     .keep_alive = 1,
     .host = ""},
    {.name = "host with port, ipv6 and pct",
     IN("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"),
     .method = "GET",
     .target = "/",
     .minor = 1,
     .num_headers = 1,
     .keep_alive = 1,
     .host = "[::1]:8080"},
    {.name = "absolute-form target",
     IN("GET http://h.example/p?x HTTP/1.1\r\nHost: h.example\r\n\r\n"),
     .method = "GET",
     .target = "http://h.example/p?x",
     .minor = 1,
     .num_headers = 1,
     .keep_alive = 1,
     .host = "h.example"},
    {.name = "long value crosses the word fast path",
     IN("GET / HTTP/1.1\r\nHost: a\r\nCookie: aaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbb; c=dddddddddddddddd"
        "eeeeeeeeeeeeeeeeffffffffffffffff\r\n\r\n"),
     .method = "GET",
     .target = "/",
     .minor = 1,
     .num_headers = 2,
     .keep_alive = 1,
     .host = "a"},
    {.name = "target exactly max_uri",
     IN("GET /234567890123456 HTTP/1.1\r\nHost: a\r\n\r\n"),
     .lim = &lim_small,
     .method = "GET",
     .target = "/234567890123456",
     .minor = 1,
     .num_headers = 1,
     .keep_alive = 1,
     .host = "a"},
    {.name = "exactly max_headers",
     IN("GET / HTTP/1.1\r\nHost: a\r\nB: 1\r\nC: 2\r\n\r\n"),
     .lim = &lim_small,
     .method = "GET",
     .target = "/",
     .minor = 1,
     .num_headers = 3,
     .keep_alive = 1,
     .host = "a"},
    {.name = "head fits max_head, the buffer does not",
     IN("GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /next-request-is-much-longer HTTP/1.1\r\n"),
     .lim = &lim_line,
     .method = "GET",
     .target = "/",
     .minor = 1,
     .num_headers = 1,
     .keep_alive = 1,
     .host = "a",
     .tail = 43},
};
/* clang-format on */

/* ---- requests that are rejected ---- */

#define REJECT(n, s, err)                                                                          \
    {                                                                                              \
        .name = (n), IN(s), .want = (err)                                                          \
    }
#define REJECT_LIM(n, s, err, l)                                                                   \
    {                                                                                              \
        .name = (n), IN(s), .want = (err), .lim = (l)                                              \
    }

/* clang-format off: one case per entry reads better than one field per line */
static const struct head_case rejected[] = {
    /* framing, RFC 9112 6.1-6.3 */
    REJECT("cl and te",
           "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
           "Transfer-Encoding: chunked\r\n\r\n",
           H1_E_CL_AND_TE),
    REJECT("te and cl",
           "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nHost: a\r\n"
           "Content-Length: 5\r\n\r\n",
           H1_E_CL_AND_TE),
    REJECT("te and invalid cl",
           "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
           "Content-Length: x\r\n\r\n",
           H1_E_CL_AND_TE),
    REJECT("repeated identical cl",
           "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
           "content-length: 5\r\n\r\n",
           H1_E_BAD_CONTENT_LENGTH),
    REJECT("differing cl",
           "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
           "Content-Length: 6\r\n\r\n",
           H1_E_BAD_CONTENT_LENGTH),
    REJECT("cl 1x", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n",
           H1_E_BAD_CONTENT_LENGTH),
    REJECT("cl -1", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
           H1_E_BAD_CONTENT_LENGTH),
    REJECT("cl +1", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n",
           H1_E_BAD_CONTENT_LENGTH),
    REJECT("cl empty", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n",
           H1_E_BAD_CONTENT_LENGTH),
    REJECT("cl blank", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:  \r\n\r\n",
           H1_E_BAD_CONTENT_LENGTH),
    REJECT("cl 1 2", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n",
           H1_E_BAD_CONTENT_LENGTH),
    REJECT("cl list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n",
           H1_E_BAD_CONTENT_LENGTH),
    REJECT("cl hex", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n",
           H1_E_BAD_CONTENT_LENGTH),
    REJECT("cl 19 digits",
           "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000000000000000\r\n\r\n",
           H1_E_BAD_CONTENT_LENGTH),
    REJECT("te gzip, chunked",
           "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
           H1_E_BAD_TRANSFER_ENCODING),
    REJECT("te chunked, chunked",
           "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
           H1_E_BAD_TRANSFER_ENCODING),
    REJECT("te twice",
           "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
           "Transfer-Encoding: chunked\r\n\r\n",
           H1_E_BAD_TRANSFER_ENCODING),
    REJECT("te gzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
           H1_E_BAD_TRANSFER_ENCODING),
    REJECT("te chunked with a parameter",
           "POST / HTTP/1.1\r\nHost: a\r\n"
           "Transfer-Encoding: chunked;q=1\r\n\r\n",
           H1_E_BAD_TRANSFER_ENCODING),
    REJECT("te chunked,", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\r\n\r\n",
           H1_E_BAD_TRANSFER_ENCODING),
    REJECT("te chunkedx", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunkedx\r\n\r\n",
           H1_E_BAD_TRANSFER_ENCODING),
    REJECT("te in http/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
           H1_E_BAD_TRANSFER_ENCODING),
    /* field syntax, RFC 9112 5 */
    REJECT("obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n  c\r\n\r\n", H1_E_OBS_FOLD),
    REJECT("obs-fold htab", "GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n\tc\r\n\r\n", H1_E_OBS_FOLD),
    REJECT("whitespace before the first field", "GET / HTTP/1.1\r\n Host: a\r\n\r\n",
           H1_E_OBS_FOLD),
    REJECT("space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", H1_E_SPACE_BEFORE_COLON),
    REJECT("htab before colon", "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", H1_E_SPACE_BEFORE_COLON),
    REJECT("space inside a name", "GET / HTTP/1.1\r\nHo st: a\r\n\r\n", H1_E_BAD_HEADER_NAME),
    REJECT("empty name", "GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", H1_E_BAD_HEADER_NAME),
    REJECT("separator in a name", "GET / HTTP/1.1\r\nHo(st: a\r\n\r\n", H1_E_BAD_HEADER_NAME),
    REJECT("non-ascii name", "GET / HTTP/1.1\r\nH\xc3\xb3st: a\r\n\r\n", H1_E_BAD_HEADER_NAME),
    REJECT("line without colon", "GET / HTTP/1.1\r\nHost\r\n\r\n", H1_E_BAD_HEADER_NAME),
    REJECT("name then spaces then eol", "GET / HTTP/1.1\r\nHost  \r\n\r\n", H1_E_BAD_HEADER_NAME),
    REJECT("lf inside a value splits the line", "GET / HTTP/1.1\r\nHost: a\nb\r\n\r\n",
           H1_E_BAD_HEADER_NAME),
    REJECT("nul in a value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", H1_E_BAD_HEADER_VALUE),
    REJECT("0x01 in a value", "GET / HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\n",
           H1_E_BAD_HEADER_VALUE),
    REJECT("0x1f in a value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x1f\r\n\r\n",
           H1_E_BAD_HEADER_VALUE),
    REJECT("del in a value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n",
           H1_E_BAD_HEADER_VALUE),
    REJECT("ctl far into a long value",
           "GET / HTTP/1.1\r\nHost: a\r\nX: aaaaaaaaaaaaaaaaaaaaaaa"
           "aaaaaaaaa\x0b"
           "aaaaaaaa\r\n\r\n",
           H1_E_BAD_HEADER_VALUE),
    /* bare CR, RFC 9112 2.2 */
    REJECT("bare cr ending the request line", "GET / HTTP/1.1\rHost: a\r\n\r\n", H1_E_BARE_CR),
    REJECT("bare cr in the target", "GET /a\rb HTTP/1.1\r\nHost: a\r\n\r\n", H1_E_BARE_CR),
    REJECT("bare cr after the method", "GET\r / HTTP/1.1\r\nHost: a\r\n\r\n", H1_E_BARE_CR),
    REJECT("bare cr in a value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", H1_E_BARE_CR),
    REJECT("bare cr ending a value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\r\n\r\n", H1_E_BARE_CR),
    REJECT("bare cr in a name", "GET / HTTP/1.1\r\nHost: a\r\nX\rY: a\r\n\r\n", H1_E_BARE_CR),
    REJECT("bare cr as the empty line", "GET / HTTP/1.1\r\nHost: a\r\n\rX\r\n\r\n", H1_E_BARE_CR),
    REJECT("bare cr before the request", "\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", H1_E_BARE_CR),
    /* request line, RFC 9112 3 */
    REJECT("method GE T", "GE T / HTTP/1.1\r\nHost: a\r\n\r\n", H1_E_BAD_REQUEST_LINE),
    REJECT("method G\\x01T", "G\x01T / HTTP/1.1\r\nHost: a\r\n\r\n", H1_E_BAD_METHOD),
    REJECT("method empty", " / HTTP/1.1\r\nHost: a\r\n\r\n", H1_E_BAD_METHOD),
    REJECT("method with a separator", "GE@T / HTTP/1.1\r\nHost: a\r\n\r\n", H1_E_BAD_METHOD),
    REJECT("tls client hello", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", H1_E_BAD_METHOD),
    REJECT("method only", "GET\r\nHost: a\r\n\r\n", H1_E_BAD_REQUEST_LINE),
    REJECT("empty request line after too many empty lines",
           "\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n", H1_E_BAD_REQUEST_LINE),
    REJECT("http/0.9", "GET /\r\n\r\n", H1_E_BAD_REQUEST_LINE),
    REJECT("empty target", "GET  HTTP/1.1\r\nHost: a\r\n\r\n", H1_E_BAD_REQUEST_LINE),
    REJECT("two spaces before the version", "GET /  HTTP/1.1\r\nHost: a\r\n\r\n",
           H1_E_BAD_REQUEST_LINE),
    REJECT("space after the version", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", H1_E_BAD_REQUEST_LINE),
    REJECT("htab between fields", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", H1_E_BAD_METHOD),
    REJECT("ctl in the target", "GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", H1_E_BAD_TARGET),
    REJECT("htab in the target", "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", H1_E_BAD_TARGET),
    REJECT("del in the target", "GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", H1_E_BAD_TARGET),
    REJECT("non-ascii in the target", "GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", H1_E_BAD_TARGET),
    REJECT("non-ascii deep in a long target",
           "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\x80 HTTP/1.1\r\n\r\n", H1_E_BAD_TARGET),
    REJECT("version HTTP/1", "GET / HTTP/1\r\nHost: a\r\n\r\n", H1_E_BAD_VERSION),
    REJECT("version HTTP/1.", "GET / HTTP/1.\r\nHost: a\r\n\r\n", H1_E_BAD_VERSION),
    REJECT("version HTTP/1.1x", "GET / HTTP/1.1x\r\nHost: a\r\n\r\n", H1_E_BAD_VERSION),
    REJECT("version http/1.1", "GET / http/1.1\r\nHost: a\r\n\r\n", H1_E_BAD_VERSION),
    REJECT("version HTTP/11.1", "GET / HTTP/11.1\r\nHost: a\r\n\r\n", H1_E_BAD_VERSION),
    REJECT("version HTTP/1.10", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", H1_E_BAD_VERSION),
    REJECT("version HTTP/0.9", "GET / HTTP/0.9\r\nHost: a\r\n\r\n", H1_E_BAD_VERSION),
    REJECT("version HTTP/1,1", "GET / HTTP/1,1\r\nHost: a\r\n\r\n", H1_E_BAD_VERSION),
    REJECT("version with htab", "GET / HTTP/1.1\t\r\nHost: a\r\n\r\n", H1_E_BAD_VERSION),
    REJECT("version HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", H1_E_VERSION_UNSUPPORTED),
    REJECT("version HTTP/3.0", "GET / HTTP/3.0\r\nHost: a\r\n\r\n", H1_E_VERSION_UNSUPPORTED),
    REJECT("version HTTP/9.9", "GET / HTTP/9.9\r\nHost: a\r\n\r\n", H1_E_VERSION_UNSUPPORTED),
    REJECT("h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", H1_E_VERSION_UNSUPPORTED),
    /* Host, RFC 9112 3.2 */
    REJECT("missing host", "GET / HTTP/1.1\r\nX: a\r\n\r\n", H1_E_MISSING_HOST),
    REJECT("duplicate host", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", H1_E_MISSING_HOST),
    REJECT("duplicate host in 1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
           H1_E_MISSING_HOST),
    REJECT("host with a slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", H1_E_MISSING_HOST),
    REJECT("host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", H1_E_MISSING_HOST),
    REJECT("host with a space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", H1_E_MISSING_HOST),
    /* limits */
    REJECT_LIM("414 complete", "GET /2345678901234567 HTTP/1.1\r\nHost: a\r\n\r\n",
               H1_E_URI_TOO_LONG, &lim_small),
    REJECT_LIM("414 before the target ends", "GET /2345678901234567890", H1_E_URI_TOO_LONG,
               &lim_small),
    REJECT_LIM("414 request line over max_head", "GET /234567890123456789012345678901234",
               H1_E_URI_TOO_LONG, &lim_line),
    REJECT_LIM("414 long method over max_head", "GETGETGETGETGETGETGETGETGETGETGETGET",
               H1_E_URI_TOO_LONG, &lim_line),
    REJECT_LIM("431 by size",
               "GET / HTTP/1.1\r\nHost: a\r\nX-Long: 0123456789012345678901234567890"
               "123456789\r\n\r\n",
               H1_E_HEADERS_TOO_LARGE, &lim_small),
    REJECT_LIM("431 by size, head never ends",
               "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\nY: 2\r\nZ: 3\r\n", H1_E_HEADERS_TOO_LARGE,
               &lim_line),
    REJECT_LIM("431 the final empty line is over", "GET / HTTP/1.1\r\nHost: a\r\nB: 1\r\n\r\n",
               H1_E_HEADERS_TOO_LARGE, &lim_line),
    REJECT_LIM("431 by count", "GET / HTTP/1.1\r\nHost: a\r\nB: 1\r\nC: 2\r\nD: 3\r\n\r\n",
               H1_E_TOO_MANY_HEADERS, &lim_small),
    REJECT_LIM("error before the limit wins", "GET / HTTP/1.1\r\nHost: a\x01\r\nX: 012345678901234",
               H1_E_BAD_HEADER_VALUE, &lim_line),
};
/* clang-format on */

/* ---- responses ---- */

#define RESP(n, s) .name = (n), IN(s), .response = 1

/* clang-format off: one case per entry reads better than one field per line */
static const struct head_case responses[] = {
    {RESP("200 with content-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"),
     .status = 200, .reason = "OK", .minor = 1, .num_headers = 1, .body = H1_BODY_LENGTH,
     .content_length = 5, .keep_alive = 1, .tail = 5},
    {RESP("content-length 0", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), .status = 200,
     .reason = "OK", .minor = 1, .num_headers = 1, .keep_alive = 1},
    {RESP("204 ignores content-length", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"),
     .status = 204, .reason = "No Content", .minor = 1, .num_headers = 1, .keep_alive = 1},
    {RESP("304 ignores content-length", "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n"),
     .status = 304, .reason = "Not Modified", .minor = 1, .num_headers = 1, .keep_alive = 1},
    {RESP("100 continue", "HTTP/1.1 100 Continue\r\n\r\n"), .status = 100, .reason = "Continue",
     .minor = 1, .keep_alive = 1},
    {RESP("101 switching", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                           "Connection: upgrade\r\n\r\n"),
     .status = 101, .reason = "Switching Protocols", .minor = 1, .num_headers = 2, .keep_alive = 1,
     .upgrade = 1},
    {RESP("head request: no body", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"),
     .head_request = 1, .status = 200, .reason = "OK", .minor = 1, .num_headers = 1,
     .keep_alive = 1},
    {RESP("head request with chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
     .head_request = 1, .status = 200, .reason = "OK", .minor = 1, .num_headers = 1,
     .keep_alive = 1},
    {RESP("chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), .status = 200,
     .reason = "OK", .minor = 1, .num_headers = 1, .body = H1_BODY_CHUNKED, .keep_alive = 1},
    {RESP("gzip, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
     .status = 200, .reason = "OK", .minor = 1, .num_headers = 1, .body = H1_BODY_CHUNKED,
     .keep_alive = 1},
    {RESP("te over two lines", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n"
                               "Transfer-Encoding: CHUNKED\r\n\r\n"),
     .status = 200, .reason = "OK", .minor = 1, .num_headers = 2, .body = H1_BODY_CHUNKED,
     .keep_alive = 1},
    {RESP("chunked not final: until close",
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
     .status = 200, .reason = "OK", .minor = 1, .num_headers = 1, .body = H1_BODY_UNTIL_CLOSE},
    {RESP("te wins over cl",
          "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
     .status = 200, .reason = "OK", .minor = 1, .num_headers = 2, .body = H1_BODY_CHUNKED,
     .keep_alive = 1},
    {RESP("te wins over an invalid cl", "HTTP/1.1 200 OK\r\nContent-Length: x\r\n"
                                        "Transfer-Encoding: chunked\r\n\r\n"),
     .status = 200, .reason = "OK", .minor = 1, .num_headers = 2, .body = H1_BODY_CHUNKED,
     .keep_alive = 1},
    {RESP("until close", "HTTP/1.1 200 OK\r\nServer: x\r\n\r\nbody..."), .status = 200,
     .reason = "OK", .minor = 1, .num_headers = 1, .body = H1_BODY_UNTIL_CLOSE, .tail = 7},
    {RESP("no reason", "HTTP/1.1 200\r\nContent-Length: 1\r\n\r\n"), .status = 200, .minor = 1,
     .num_headers = 1, .body = H1_BODY_LENGTH, .content_length = 1, .keep_alive = 1},
    {RESP("empty reason", "HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n"), .status = 404, .minor = 1,
     .num_headers = 1, .keep_alive = 1},
    {RESP("reason with obs-text and htab", "HTTP/1.1 599 a\tb \xe9\r\nContent-Length: 0\r\n\r\n"),
     .status = 599, .reason = "a\tb \xe9", .minor = 1, .num_headers = 1, .keep_alive = 1},
    {RESP("http/1.0 keep-alive",
          "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n"),
     .status = 200, .reason = "OK", .minor = 0, .num_headers = 2, .body = H1_BODY_LENGTH,
     .content_length = 2, .keep_alive = 1},
    {RESP("http/1.0 default close", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n"), .status = 200,
     .reason = "OK", .minor = 0, .num_headers = 1, .body = H1_BODY_LENGTH, .content_length = 2},
    {RESP("connection close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n"),
     .status = 200, .reason = "OK", .minor = 1, .num_headers = 2, .body = H1_BODY_LENGTH,
     .content_length = 2},
    {RESP("lf-only", "HTTP/1.1 200 OK\nContent-Length: 2\n\n"), .status = 200, .reason = "OK",
     .minor = 1, .num_headers = 1, .body = H1_BODY_LENGTH, .content_length = 2, .keep_alive = 1},
    {RESP("404 body until close", "HTTP/1.1 404 Not Found\r\n\r\n"), .status = 404,
     .reason = "Not Found", .minor = 1, .body = H1_BODY_UNTIL_CLOSE},
    {RESP("bad status 99", "HTTP/1.1 99 X\r\n\r\n"), .want = H1_E_BAD_STATUS_LINE},
    {RESP("bad status 600", "HTTP/1.1 600 X\r\n\r\n"), .want = H1_E_BAD_STATUS_LINE},
    {RESP("bad status 2000", "HTTP/1.1 2000 X\r\n\r\n"), .want = H1_E_BAD_STATUS_LINE},
    {RESP("bad status 20x", "HTTP/1.1 20x X\r\n\r\n"), .want = H1_E_BAD_STATUS_LINE},
    {RESP("bad status two spaces", "HTTP/1.1  200 OK\r\n\r\n"), .want = H1_E_BAD_STATUS_LINE},
    {RESP("bad status htab", "HTTP/1.1 200\tOK\r\n\r\n"), .want = H1_E_BAD_STATUS_LINE},
    {RESP("bad status http/2.0", "HTTP/2.0 200 OK\r\n\r\n"), .want = H1_E_BAD_STATUS_LINE},
    {RESP("bad status http/1", "HTTP/1 200 OK\r\n\r\n"), .want = H1_E_BAD_STATUS_LINE},
    {RESP("bad status icy", "ICY 200 OK\r\n\r\n"), .want = H1_E_BAD_STATUS_LINE},
    {RESP("bad status ctl in reason", "HTTP/1.1 200 O\x01K\r\n\r\n"), .want = H1_E_BAD_STATUS_LINE},
    {RESP("bad status empty", "\r\nHTTP/1.1 200 OK\r\n\r\n"), .want = H1_E_BAD_STATUS_LINE},
    {RESP("bare cr in the status line", "HTTP/1.1 200 O\rK\r\n\r\n"), .want = H1_E_BARE_CR},
    {RESP("invalid cl", "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n"),
     .want = H1_E_BAD_CONTENT_LENGTH},
    {RESP("repeated cl", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n"),
     .want = H1_E_BAD_CONTENT_LENGTH},
    {RESP("te in http/1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
     .want = H1_E_BAD_TRANSFER_ENCODING},
    {RESP("obs-fold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n"), .want = H1_E_OBS_FOLD},
    {RESP("space before colon", "HTTP/1.1 200 OK\r\nX : a\r\n\r\n"),
     .want = H1_E_SPACE_BEFORE_COLON},
    {RESP("ctl in value", "HTTP/1.1 200 OK\r\nX: a\x02\r\n\r\n"), .want = H1_E_BAD_HEADER_VALUE},
    {RESP("431", "HTTP/1.1 200 OK\r\nX: 0123456789012345678901234567890123456789012345\r\n\r\n"),
     .want = H1_E_HEADERS_TOO_LARGE, .lim = &lim_small},
    {RESP("431 status line alone", "HTTP/1.1 200 0123456789012345678901234567890123456789012345678"
                                   "9\r\n\r\n"),
     .want = H1_E_HEADERS_TOO_LARGE, .lim = &lim_small},
    {RESP("too many headers", "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n"),
     .want = H1_E_TOO_MANY_HEADERS, .lim = &lim_small},
};
/* clang-format on */

/* Header counts: the configured limit, and the hard cap above a larger limit. */
static void test_header_counts(void)
{
    static char buf[8192];
    struct head_case c = {.name = "cap", .lim = &lim_wide};
    size_t n, i;
    int r;

    for (n = H1_MAX_HEADERS_CAP - 1; n <= H1_MAX_HEADERS_CAP; n++) {
        size_t len = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\n");
        for (i = 1; i < n; i++)
            len += (size_t)snprintf(buf + len, sizeof(buf) - len, "X%zu: %zu\r\n", i, i);
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "\r\n");
        r = h1_parse_request(buf, len, &lim_wide, &msg);
        CHECK_INT(r, H1_OK);
        CHECK_INT(msg.num_headers, n);
        /* one more field than the cap */
        len -= 2;
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "Y: 1\r\n\r\n");
        r = h1_parse_request(buf, len, &lim_wide, &msg);
        CHECK_INT(r, n == H1_MAX_HEADERS_CAP ? H1_E_TOO_MANY_HEADERS : H1_OK);
    }
    c.in = buf;
    c.len = strlen(buf);
    check_prefixes(&c, H1_E_TOO_MANY_HEADERS, 0);
}

/* A long target is rejected by its first byte over the limit, before the line ends. */
static void test_early_rejection(void)
{
    CHECK_INT(h1_parse_request("GET /23456789012345", 19, &lim_small, &msg), H1_NEED_MORE);
    CHECK_INT(h1_parse_request("GET /234567890123456", 20, &lim_small, &msg), H1_NEED_MORE);
    CHECK_INT(h1_parse_request("GET /2345678901234567", 21, &lim_small, &msg), H1_E_URI_TOO_LONG);
    CHECK_INT(h1_parse_request("\x16", 1, &lim_default, &msg), H1_E_BAD_METHOD);
    CHECK_INT(h1_parse_request("", 0, &lim_default, &msg), H1_NEED_MORE);
    CHECK_INT(h1_parse_request("\r", 1, &lim_default, &msg), H1_NEED_MORE);
    /* exactly max_head bytes without an end: wait; one more byte: reject */
#define REQ(str) (str), sizeof(str) - 1
    CHECK_INT(h1_parse_request(REQ("GET / HTTP/1.1\r\nHost: a\r\nX: 1234"), &lim_line, &msg),
              H1_NEED_MORE);
    CHECK_INT(h1_parse_request(REQ("GET / HTTP/1.1\r\nHost: a\r\nX: 12345"), &lim_line, &msg),
              H1_E_HEADERS_TOO_LARGE);
    CHECK_INT(h1_parse_request(REQ("GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\n"), &lim_line, &msg),
              H1_OK);
#undef REQ
    CHECK_INT(msg.head_len, 32);
}

static void test_pipelined_second(void)
{
    static const char two[] = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: b\r\n"
                              "Content-Length: 3\r\n\r\nabc";
    size_t off;

    CHECK_INT(h1_parse_request(two, sizeof(two) - 1, &lim_default, &msg), H1_OK);
    off = msg.head_len;
    CHECK_INT(off, 28);
    CHECK_INT(h1_parse_request(two + off, sizeof(two) - 1 - off, &lim_default, &msg), H1_OK);
    CHECK_STRN(msg.method, msg.method_len, "POST");
    CHECK_STRN(msg.target, msg.target_len, "/2");
    CHECK_STRN(msg.host, msg.host_len, "b");
    CHECK_INT(msg.body, H1_BODY_LENGTH);
    CHECK_INT(msg.content_length, 3);
    CHECK_INT(off + msg.head_len + 3, sizeof(two) - 1);
}

static void test_header_helpers(void)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nConnection: close, X-Hop\r\n"
                              "x-a:  2 \r\nconnection: other\r\n\r\n";
    int i;

    CHECK_INT(h1_parse_request(req, sizeof(req) - 1, &lim_default, &msg), H1_OK);
    i = h1_header_find(&msg, "x-a", 0);
    CHECK_INT(i, 1);
    CHECK_STRN(msg.headers[i].value, msg.headers[i].value_len, "1");
    i = h1_header_find(&msg, "X-A", (size_t)i + 1);
    CHECK_INT(i, 3);
    CHECK_STRN(msg.headers[i].value, msg.headers[i].value_len, "2");
    CHECK_INT(h1_header_find(&msg, "x-a", 4), -1);
    CHECK_INT(h1_header_find(&msg, "x-", 0), -1);
    CHECK_INT(h1_header_find(&msg, "HOST", 0), 0);
    CHECK_INT(h1_header_find(&msg, "host", 99), -1);

    CHECK(h1_header_is_hop(&msg, "Connection", 10));
    CHECK(h1_header_is_hop(&msg, "keep-alive", 10));
    CHECK(h1_header_is_hop(&msg, "Proxy-Connection", 16));
    CHECK(h1_header_is_hop(&msg, "TE", 2));
    CHECK(h1_header_is_hop(&msg, "Trailer", 7));
    CHECK(h1_header_is_hop(&msg, "transfer-encoding", 17));
    CHECK(h1_header_is_hop(&msg, "UPGRADE", 7));
    CHECK(h1_header_is_hop(&msg, "Proxy-Authenticate", 18));
    CHECK(h1_header_is_hop(&msg, "proxy-authorization", 19));
    CHECK(h1_header_is_hop(&msg, "x-hop", 5));
    CHECK(h1_header_is_hop(&msg, "Other", 5));       /* from the second Connection line */
    CHECK(h1_header_is_hop(&msg, "X-Hop-Extra", 5)); /* only len bytes count */
    CHECK(!h1_header_is_hop(&msg, "X-A", 3));
    CHECK(!h1_header_is_hop(&msg, "Host", 4));
    CHECK(!h1_header_is_hop(&msg, "T", 1));
    CHECK(!h1_header_is_hop(&msg, "Content-Length", 14));
}

static void test_errors(void)
{
    int e;

    for (e = H1_E_CHUNK_TOO_LARGE; e <= H1_NEED_MORE; e++) {
        const char *s = h1_strerror(e);
        CHECK_MSG(s != NULL && s[0] != '\0' && strcmp(s, h1_strerror(-1000)) != 0, "no text for %d",
                  e);
        CHECK_MSG(h1_is_fatal(e) == (e < 0), "fatal %d", e);
        if (e >= 0)
            CHECK_INT(h1_err_status(e), 0);
    }
    CHECK_INT(h1_err_status(H1_E_URI_TOO_LONG), 414);
    CHECK_INT(h1_err_status(H1_E_HEADERS_TOO_LARGE), 431);
    CHECK_INT(h1_err_status(H1_E_TOO_MANY_HEADERS), 431);
    CHECK_INT(h1_err_status(H1_E_VERSION_UNSUPPORTED), 505);
    CHECK_INT(h1_err_status(H1_E_CL_AND_TE), 400);
    CHECK_INT(h1_err_status(H1_E_BAD_TRANSFER_ENCODING), 400);
    CHECK_INT(h1_err_status(H1_E_BARE_CR), 400);
    CHECK_INT(h1_err_status(H1_E_MISSING_HOST), 400);
    CHECK(strcmp(h1_strerror(H1_E_CL_AND_TE), "Content-Length together with Transfer-Encoding") ==
          0);
}

/* ---- chunked ---- */

struct chunk_case {
    const char *name;
    const char *in;
    size_t len;
    int want;
    const char *data; /* the body, when want >= 0 */
    size_t consumed;  /* bytes used when want >= 0; 0: all */
    size_t max_line;  /* 0: default */
};

struct chunk_result {
    int r;
    size_t consumed;
    char data[512];
    size_t data_len;
    int broken; /* a data run outside its call's input, or no progress */
};

/* Feeds in[0..len) in pieces of `step` bytes, except that the first piece is `first`
 * bytes when non-zero; stops at the first result other than NEED_MORE. */
static void chunk_feed(const struct chunk_case *cc, size_t first, size_t step,
                       struct chunk_result *res)
{
    struct h1_chunked c;
    size_t pos = 0;

    h1_chunked_init(&c);
    if (cc->max_line)
        c.max_line = cc->max_line;
    memset(res, 0, sizeof(*res));
    res->r = H1_NEED_MORE;
    while (pos < cc->len && res->r == H1_NEED_MORE) {
        size_t piece = pos == 0 && first ? first : step, used = 0, consumed, off, n;

        if (piece > cc->len - pos)
            piece = cc->len - pos;
        while (used < piece && res->r == H1_NEED_MORE) {
            res->r = h1_chunked_feed(&c, cc->in + pos + used, piece - used, &consumed, &off, &n);
            if (consumed > piece - used || (n > 0 && off + n > consumed) ||
                (consumed == 0 && res->r == H1_NEED_MORE) ||
                res->data_len + n > sizeof(res->data)) {
                res->broken = 1;
                return;
            }
            memcpy(res->data + res->data_len, cc->in + pos + used + off, n);
            res->data_len += n;
            used += consumed;
        }
        pos += used;
    }
    res->consumed = pos;
    /* a finished or failed decoder stays so */
    if (res->r != H1_NEED_MORE) {
        size_t consumed, off, n;
        int again = h1_chunked_feed(&c, "0\r\n\r\n", 5, &consumed, &off, &n);
        if (again != res->r || consumed != 0 || n != 0)
            res->broken = 1;
    }
}

/* clang-format off: one case per entry reads better than one field per line */
static const struct chunk_case chunk_cases[] = {
    {"one chunk", IN("5\r\nhello\r\n0\r\n\r\n"), H1_OK, "hello"},
    {"two chunks", IN("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), H1_OK, "hello world"},
    {"hex sizes any case", IN("a\r\n0123456789\r\nB\r\nabcdefghijk\r\n0\r\n\r\n"), H1_OK,
     "0123456789abcdefghijk"},
    {"leading zeros", IN("0005\r\nhello\r\n000\r\n\r\n"), H1_OK, "hello"},
    {"lf only", IN("5\nhello\n0\n\n"), H1_OK, "hello"},
    {"no chunks", IN("0\r\n\r\n"), H1_OK, ""},
    {"bytes after the end belong to the next message", IN("1\r\nx\r\n0\r\n\r\nGET / HTTP/1.1"),
     H1_OK, "x", 11},
    {"data containing crlf", IN("4\r\n\r\n\r\n\r\n0\r\n\r\n"), H1_OK, "\r\n\r\n"},
    {"extension name", IN("5;foo\r\nhello\r\n0\r\n\r\n"), H1_OK, "hello"},
    {"extension token value", IN("5;foo=bar\r\nhello\r\n0;last=1\r\n\r\n"), H1_OK, "hello"},
    {"extension quoted value", IN("5;a=\"x y;\\\"z\\\\\"\r\nhello\r\n0\r\n\r\n"), H1_OK, "hello"},
    {"several extensions", IN("5;a=1;b;c=\"\"\r\nhello\r\n0\r\n\r\n"), H1_OK, "hello"},
    {"extension bws", IN("5 ; a = 1 ;\tb\r\nhello\r\n0\r\n\r\n"), H1_OK, "hello"},
    {"extension obs-text in quotes", IN("5;a=\"\xe9\"\r\nhello\r\n0\r\n\r\n"), H1_OK, "hello"},
    {"trailers", IN("5\r\nhello\r\n0\r\nX-Sum: 1\r\nY:\t2 \r\n\r\n"), H1_OK, "hello"},
    {"trailer lf only", IN("0\nX: 1\n\n"), H1_OK, ""},
    {"largest size", IN("7fffffffffffffff\r\nab"), H1_NEED_MORE, "ab"},
    {"incomplete data", IN("5\r\nhel"), H1_NEED_MORE, "hel"},
    {"incomplete size line", IN("5;a=\"b"), H1_NEED_MORE, ""},
    {"incomplete trailers", IN("0\r\nX: 1\r\n"), H1_NEED_MORE, ""},
    {"line at max_line", IN("00000005\r\nhello\r\n0\r\n\r\n"), H1_OK, "hello", 0, 8},
    {"empty size", IN("\r\nhello\r\n"), H1_E_BAD_CHUNK},
    {"non-hex size", IN("x\r\n"), H1_E_BAD_CHUNK},
    {"0x prefix", IN("0x5\r\nhello\r\n"), H1_E_BAD_CHUNK},
    {"negative size", IN("-5\r\nhello\r\n"), H1_E_BAD_CHUNK},
    {"leading space", IN(" 5\r\nhello\r\n"), H1_E_BAD_CHUNK},
    {"trailing space", IN("5 \r\nhello\r\n"), H1_E_BAD_CHUNK},
    {"size then garbage", IN("5g\r\nhello\r\n"), H1_E_BAD_CHUNK},
    {"bare cr after size", IN("5\rhello\r\n"), H1_E_BAD_CHUNK},
    {"17 hex digits", IN("10000000000000000\r\n"), H1_E_CHUNK_TOO_LARGE},
    {"2^63", IN("8000000000000000\r\n"), H1_E_CHUNK_TOO_LARGE},
    {"huge size", IN("ffffffffffffffffffff\r\n"), H1_E_CHUNK_TOO_LARGE},
    {"data longer than size", IN("5\r\nhello!\r\n0\r\n\r\n"), H1_E_BAD_CHUNK, "hello"},
    {"cr without lf after data", IN("5\r\nhello\rX0\r\n\r\n"), H1_E_BAD_CHUNK, "hello"},
    {"no crlf after last data", IN("1\r\nab"), H1_E_BAD_CHUNK, "a"},
    {"empty extension", IN("5;\r\nhello\r\n"), H1_E_BAD_CHUNK},
    {"extension without value", IN("5;a=\r\nhello\r\n"), H1_E_BAD_CHUNK},
    {"extension two equals", IN("5;a=b=c\r\nhello\r\n"), H1_E_BAD_CHUNK},
    {"extension trailing bws", IN("5;a=b \r\nhello\r\n"), H1_E_BAD_CHUNK},
    {"extension ctl", IN("5;a\x01\r\nhello\r\n"), H1_E_BAD_CHUNK},
    {"extension ctl in quotes", IN("5;a=\"\x01\"\r\nhello\r\n"), H1_E_BAD_CHUNK},
    {"extension quote not closed", IN("5;a=\"b\r\nhello\r\n"), H1_E_BAD_CHUNK},
    {"extension separator in name", IN("5;a/b\r\nhello\r\n"), H1_E_BAD_CHUNK},
    {"extension bare cr", IN("5;a\rb\r\nhello\r\n"), H1_E_BAD_CHUNK},
    {"size line over max_line", IN("000000005\r\nhello\r\n0\r\n\r\n"), H1_E_BAD_CHUNK, "", 0, 8},
    {"extension over max_line", IN("5;abcdefgh\r\nhello\r\n"), H1_E_BAD_CHUNK, "", 0, 8},
    {"trailer over max_line", IN("0\r\nX: 1234567\r\n\r\n"), H1_E_BAD_CHUNK, "", 0, 8},
    {"trailer obs-fold", IN("0\r\nX: 1\r\n 2\r\n\r\n"), H1_E_OBS_FOLD},
    {"trailer space before colon", IN("0\r\nX : 1\r\n\r\n"), H1_E_SPACE_BEFORE_COLON},
    {"trailer empty name", IN("0\r\n: 1\r\n\r\n"), H1_E_BAD_HEADER_NAME},
    {"trailer without colon", IN("0\r\nX\r\n\r\n"), H1_E_BAD_HEADER_NAME},
    {"trailer ctl in value", IN("0\r\nX: a\x01\r\n\r\n"), H1_E_BAD_HEADER_VALUE},
    {"trailer bare cr", IN("0\r\nX: a\rb\r\n\r\n"), H1_E_BARE_CR},
    {"bare cr as the final line", IN("0\r\n\rX"), H1_E_BARE_CR},
};
/* clang-format on */

static void run_chunk_case(const struct chunk_case *cc)
{
    struct chunk_result whole, other;
    size_t k, want_data_len = cc->data ? strlen(cc->data) : 0;

    chunk_feed(cc, 0, cc->len, &whole);
    CHECK_MSG(!whole.broken, "%s: broken call contract", cc->name);
    CHECK_MSG(whole.r == cc->want, "%s: got %d (%s), want %d", cc->name, whole.r,
              h1_strerror(whole.r), cc->want);
    CHECK_MSG(whole.data_len == want_data_len &&
                  memcmp(whole.data, cc->data ? cc->data : "", want_data_len) == 0,
              "%s: data \"%.*s\"", cc->name, (int)whole.data_len, whole.data);
    if (cc->want >= 0)
        CHECK_MSG(whole.consumed == (cc->consumed ? cc->consumed : cc->len), "%s: consumed %zu",
                  cc->name, whole.consumed);

    /* byte by byte, then every split in two */
    for (k = 0; k < cc->len; k++) {
        chunk_feed(cc, k, k == 0 ? 1 : cc->len, &other);
        if (other.broken || other.r != whole.r || other.consumed != whole.consumed ||
            other.data_len != whole.data_len || memcmp(other.data, whole.data, whole.data_len) != 0)
            break;
    }
    CHECK_MSG(k == cc->len, "%s: split at %zu differs (%d, %zu consumed)", cc->name, k, other.r,
              other.consumed);
}

static void test_chunked_calls(void)
{
    struct h1_chunked c;
    size_t consumed, off, n;
    static const char in[] = "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";

    /* a zeroed decoder works without init and uses the default line cap */
    memset(&c, 0, sizeof(c));
    CHECK_INT(h1_chunked_feed(&c, in, sizeof(in) - 1, &consumed, &off, &n), H1_NEED_MORE);
    CHECK_INT(consumed, 6);
    CHECK_INT(off, 3);
    CHECK_STRN(in + off, n, "abc");
    CHECK_INT(h1_chunked_feed(&c, in + 6, sizeof(in) - 7, &consumed, &off, &n), H1_NEED_MORE);
    CHECK_INT(consumed, 7);
    CHECK_STRN(in + 6 + off, n, "de");
    CHECK_INT(h1_chunked_feed(&c, in + 13, sizeof(in) - 14, &consumed, &off, &n), H1_OK);
    CHECK_INT(consumed, 7);
    CHECK_INT(n, 0);
    CHECK_INT(h1_chunked_feed(&c, "", 0, &consumed, &off, &n), H1_OK);

    h1_chunked_init(&c);
    CHECK_INT(c.max_line, 4096);
    CHECK_INT(h1_chunked_feed(&c, "", 0, &consumed, &off, &n), H1_NEED_MORE);
    CHECK_INT(consumed, 0);
    CHECK_INT(h1_chunked_feed(&c, "5\r\nab", 5, &consumed, &off, &n), H1_NEED_MORE);
    CHECK_INT(c.remaining, 3);
    CHECK_INT(h1_chunked_feed(&c, "cde\r\n", 5, &consumed, &off, &n), H1_NEED_MORE);
    CHECK_INT(consumed, 3); /* stops at the end of the data run */
    CHECK_INT(n, 3);
    CHECK_INT(h1_chunked_feed(&c, "\r\n", 2, &consumed, &off, &n), H1_NEED_MORE);
    CHECK_INT(consumed, 2);
    CHECK_INT(n, 0);
    /* an error is reported at the offending byte, which is not consumed */
    h1_chunked_init(&c);
    CHECK_INT(h1_chunked_feed(&c, "5x", 2, &consumed, &off, &n), H1_E_BAD_CHUNK);
    CHECK_INT(consumed, 1);
}

/* More trailer fields than H1_MAX_HEADERS_CAP. */
static void test_chunked_trailer_cap(void)
{
    static char buf[4096];
    struct chunk_case cc = {.name = "trailer cap"};
    struct chunk_result res;
    size_t len, i;

    for (i = H1_MAX_HEADERS_CAP; i <= H1_MAX_HEADERS_CAP + 1; i++) {
        size_t k;
        len = (size_t)snprintf(buf, sizeof(buf), "0\r\n");
        for (k = 0; k < i; k++)
            len += (size_t)snprintf(buf + len, sizeof(buf) - len, "T:\r\n");
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "\r\n");
        cc.in = buf;
        cc.len = len;
        chunk_feed(&cc, 0, len, &res);
        CHECK_INT(res.r, i == H1_MAX_HEADERS_CAP ? H1_OK : H1_E_TOO_MANY_HEADERS);
    }
}

int main(void)
{
    size_t i;

    for (i = 0; i < ARRAY_SIZE(accepted); i++)
        run_head_case(&accepted[i]);
    for (i = 0; i < ARRAY_SIZE(rejected); i++)
        run_head_case(&rejected[i]);
    for (i = 0; i < ARRAY_SIZE(responses); i++)
        run_head_case(&responses[i]);
    for (i = 0; i < ARRAY_SIZE(chunk_cases); i++)
        run_chunk_case(&chunk_cases[i]);
    test_header_counts();
    test_early_rejection();
    test_pipelined_second();
    test_header_helpers();
    test_errors();
    test_chunked_calls();
    test_chunked_trailer_cap();
    return check_report("test_h1");
}
