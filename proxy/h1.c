/* SPDX-License-Identifier: Apache-2.0
 *
 * h1: strict HTTP/1.1 head parsers and chunked decoder (RFC 9112, see h1.h).
 *
 * The head parsers walk the buffer once, left to right, and return the first error
 * in byte order. An error is reported as soon as the bytes that prove it are in the
 * buffer and never earlier, so every prefix of a message parses to H1_NEED_MORE or to
 * the result of the whole message; this is what makes the stateless re-scan give the
 * same answer for any split (test_h1 checks every prefix of every case). Nothing at or
 * past lim->max_head is looked at. Garbage such as a TLS hello is rejected on its
 * first byte instead of being buffered up to the limit.
 *
 * Nothing is allocated; strings point into the caller's buffer. No global state but
 * constant tables. Thread: any.
 */
#include "h1.h"

#include <event2/buffer.h>

#include <stdint.h>
#include <string.h>

/* RFC 9112 2.2 asks servers to skip "at least one" empty line before a request-line
 * (some old clients send CRLF after a POST body). A few more are tolerated; a stream
 * of them is not a request. */
#define MAX_LEADING_EMPTY_LINES 4

#define CHUNK_LINE_DEFAULT 4096
/* A chunk size above this cannot take another hex digit and stay within 63 bits. */
#define CHUNK_SIZE_SHIFT_MAX (UINT64_C(0x7fffffffffffffff) >> 4)
/* Content-Length digits: 18 always fit in 63 bits, and no real body needs more. */
#define CONTENT_LENGTH_MAX_DIGITS 18

enum {
    C_TCHAR = 1,  /* token character, RFC 9110 5.6.2 */
    C_TARGET = 2, /* request-target byte: VCHAR 0x21-0x7e */
    C_FIELD = 4,  /* field-value byte: HTAB, SP, VCHAR, obs-text (RFC 9110 5.5) */
    C_HOST = 8,   /* Host byte: unreserved, sub-delims, pct, ":" "[" "]" (RFC 3986) */
};

/* clang-format off: 16 bytes a row */
static const unsigned char char_class[256] = {
    0,  0,  0,  0,  0,  0,  0,  0,  0,  4,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
    0,  0,  0,  0,  0,  0,  0,  0,  4,  15, 6,  7,  15, 15, 15, 15, 14, 14, 15, 15, 14, 15, 15, 6,
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 14, 14, 6,  14, 6,  6,  6,  15, 15, 15, 15, 15, 15, 15,
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 14, 6,  14, 7,  15,
    7,  15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,
    15, 15, 15, 6,  7,  6,  15, 0,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,
    4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,
    4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,
    4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,
    4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,
    4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,
};
/* clang-format on */

static inline int has_class(char c, int cls)
{
    return char_class[(unsigned char)c] & cls;
}

static inline int is_ws(char c)
{
    return c == ' ' || c == '\t';
}

static inline int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static inline unsigned char lower(char c)
{
    unsigned char u = (unsigned char)c;
    return u >= 'A' && u <= 'Z' ? (unsigned char)(u + 32) : u;
}

/* ASCII case-insensitive comparison of p[0..n) with a lower-case literal; the locale
 * must not matter here (strncasecmp follows it). */
static int ieq(const char *p, size_t n, const char *lit)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (lit[i] == '\0' || lower(p[i]) != (unsigned char)lit[i])
            return 0;
    return lit[n] == '\0';
}

/* Word-at-a-time tests, used only to skip runs of plain bytes quickly: they may flag
 * a word that is fine (the byte loop then decides) but never miss a bad byte. */
#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

static inline uint64_t has_byte_below(uint64_t w, unsigned n)
{
    return (w - ONES * n) & ~w & HIGHS;
}

static inline uint64_t has_byte(uint64_t w, unsigned v)
{
    return has_byte_below(w ^ (ONES * v), 1);
}

/* Index of the first byte of b[i..end) that is not in `cls` (C_FIELD or C_TARGET).
 * Field values are full of spaces, so SP does not stop their fast path. */
static size_t skip_class(const char *b, size_t i, size_t end, int cls)
{
    unsigned below = cls == C_TARGET ? 0x21 : 0x20;
    uint64_t high = cls == C_TARGET ? HIGHS : 0;

    for (;;) {
        uint64_t w;
        size_t stop;

        while (end - i >= 8) {
            memcpy(&w, b + i, 8);
            if (has_byte_below(w, below) || has_byte(w, 0x7f) || (w & high))
                break;
            i += 8;
        }
        stop = end - i > 8 ? i + 8 : end;
        for (; i < stop; i++)
            if (!has_class(b[i], cls))
                return i;
        if (i == end)
            return i;
    }
}

/* What ends a run at b[i], i < end. */
enum stop {
    STOP_MORE,    /* a CR whose next byte has not arrived */
    STOP_EOL,     /* CRLF or a bare LF (RFC 9112 2.2 lets us accept it); *next follows it */
    STOP_BARE_CR, /* CR followed by something else than LF (RFC 9112 2.2) */
    STOP_OTHER,
};

static enum stop stop_at(const char *b, size_t i, size_t end, size_t *next)
{
    if (b[i] == '\n') {
        *next = i + 1;
        return STOP_EOL;
    }
    if (b[i] != '\r')
        return STOP_OTHER;
    if (i + 1 == end)
        return STOP_MORE;
    if (b[i + 1] != '\n')
        return STOP_BARE_CR;
    *next = i + 2;
    return STOP_EOL;
}

static int stop_err(enum stop s, int eol_err, int other_err)
{
    switch (s) {
    case STOP_MORE: return H1_NEED_MORE;
    case STOP_BARE_CR: return H1_E_BARE_CR;
    case STOP_EOL: return eol_err;
    default: return other_err;
    }
}

/* "HTTP/" DIGIT "." DIGIT (RFC 9112 2.3). Any 1.x above 1.0 is handled as 1.1. */
static int parse_version(const char *p, size_t n, int *minor, int bad)
{
    if (n != 8 || memcmp(p, "HTTP/", 5) != 0 || !is_digit(p[5]) || p[6] != '.' || !is_digit(p[7]))
        return bad;
    if (p[5] == '1') {
        *minor = p[7] == '0' ? 0 : 1;
        return H1_OK;
    }
    return p[5] == '0' ? bad : H1_E_VERSION_UNSUPPORTED;
}

/* method SP request-target SP HTTP-version CRLF (RFC 9112 3). Leading empty lines
 * have been skipped. On H1_OK *pos is past the line end. */
static int parse_request_line(const char *b, size_t *pos, size_t end, size_t max_uri,
                              struct h1_msg *m)
{
    size_t start = *pos, i = start, t, v, next = 0, cap;
    enum stop s;
    int r;

    while (i < end && has_class(b[i], C_TCHAR))
        i++;
    if (i == end)
        return H1_NEED_MORE;
    if (b[i] != ' ' || i == start)
        return stop_err(stop_at(b, i, end, &next), H1_E_BAD_REQUEST_LINE, H1_E_BAD_METHOD);

    /* The target is looked at only up to one byte over the limit, so a long one is
     * rejected before its end arrives. */
    t = ++i;
    cap = end - t > max_uri ? t + max_uri + 1 : end;
    i = skip_class(b, t, cap, C_TARGET);
    if (i - t > max_uri)
        return H1_E_URI_TOO_LONG;
    if (i == end)
        return H1_NEED_MORE;
    if (b[i] != ' ' || i == t)
        return stop_err(stop_at(b, i, end, &next), H1_E_BAD_REQUEST_LINE,
                        b[i] == ' ' ? H1_E_BAD_REQUEST_LINE : H1_E_BAD_TARGET);

    v = ++i;
    while (i < end && b[i] != '\r' && b[i] != '\n')
        i++;
    if (i == end)
        return H1_NEED_MORE;
    s = stop_at(b, i, end, &next);
    if (s != STOP_EOL)
        return stop_err(s, H1_OK, H1_OK);
    if (memchr(b + v, ' ', i - v) != NULL)
        return H1_E_BAD_REQUEST_LINE; /* more than three fields, e.g. "GE T / HTTP/1.1" */
    r = parse_version(b + v, i - v, &m->minor_version, H1_E_BAD_VERSION);
    if (r != H1_OK)
        return r;

    m->method = b + start;
    m->method_len = t - 1 - start;
    m->target = b + t;
    m->target_len = v - 1 - t;
    *pos = next;
    return H1_OK;
}

/* HTTP-version SP 3DIGIT SP [ reason-phrase ] CRLF (RFC 9112 4). The SP before an
 * empty reason is often left out, and accepted. */
static int parse_status_line(const char *b, size_t *pos, size_t end, struct h1_msg *m)
{
    size_t start = *pos, i = start, next = 0, n, k;
    const char *p = b + start;
    enum stop s;

    while (i < end && b[i] != '\r' && b[i] != '\n')
        i++;
    if (i == end)
        return H1_NEED_MORE;
    s = stop_at(b, i, end, &next);
    if (s != STOP_EOL)
        return stop_err(s, H1_OK, H1_OK);
    n = i - start;
    if (n < 12 || parse_version(p, 8, &m->minor_version, H1_E_BAD_STATUS_LINE) != H1_OK ||
        p[8] != ' ' || !is_digit(p[9]) || !is_digit(p[10]) || !is_digit(p[11]) ||
        (n > 12 && p[12] != ' '))
        return H1_E_BAD_STATUS_LINE;
    m->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    if (m->status < 100 || m->status > 599)
        return H1_E_BAD_STATUS_LINE;
    k = n > 12 ? 13 : 12;
    if (skip_class(p, k, n, C_FIELD) != n)
        return H1_E_BAD_STATUS_LINE;
    m->reason = p + k;
    m->reason_len = n - k;
    *pos = next;
    return H1_OK;
}

/* field-name ":" OWS field-value OWS CRLF (RFC 9112 5). On H1_OK *pos is past it. */
static int parse_field_line(const char *b, size_t *pos, size_t end, struct h1_header *h)
{
    size_t start = *pos, i = start, j, v, e, next = 0;
    enum stop s;

    while (i < end && has_class(b[i], C_TCHAR))
        i++;
    if (i == end)
        return H1_NEED_MORE;
    if (b[i] != ':') {
        if (!is_ws(b[i]))
            return stop_err(stop_at(b, i, end, &next), H1_E_BAD_HEADER_NAME, H1_E_BAD_HEADER_NAME);
        /* RFC 9112 5.1: whitespace between name and colon is rejected (it lets
         * two parsers disagree on the name); "Na me: x" is a bad name instead. */
        for (j = i; j < end && is_ws(b[j]); j++)
            ;
        if (j == end)
            return H1_NEED_MORE;
        if (b[j] == ':')
            return H1_E_SPACE_BEFORE_COLON;
        return stop_err(stop_at(b, j, end, &next), H1_E_BAD_HEADER_NAME, H1_E_BAD_HEADER_NAME);
    }
    if (i == start)
        return H1_E_BAD_HEADER_NAME;

    for (v = i + 1; v < end && is_ws(b[v]); v++)
        ;
    e = skip_class(b, v, end, C_FIELD);
    if (e == end)
        return H1_NEED_MORE;
    s = stop_at(b, e, end, &next);
    if (s != STOP_EOL)
        return stop_err(s, H1_OK, H1_E_BAD_HEADER_VALUE);
    while (e > v && is_ws(b[e - 1]))
        e--;
    h->name = b + start;
    h->name_len = i - start;
    h->value = b + v;
    h->value_len = e - v;
    *pos = next;
    return H1_OK;
}

/* The next element of a comma-separated list (RFC 9110 5.6.1), OWS removed; empty
 * elements are skipped. Returns 0 at the end of the list. */
static int list_next(const char *p, size_t n, size_t *off, const char **el, size_t *el_len)
{
    size_t i = *off, s, e;

    while (i < n) {
        for (s = i; s < n && p[s] != ','; s++)
            ;
        e = s;
        while (i < e && is_ws(p[i]))
            i++;
        while (e > i && is_ws(p[e - 1]))
            e--;
        *off = s < n ? s + 1 : n;
        if (e > i) {
            *el = p + i;
            *el_len = e - i;
            return 1;
        }
        i = *off;
    }
    *off = n;
    return 0;
}

/* What the head says about framing and the connection, gathered line by line. */
struct fields {
    unsigned cl_count, te_count, host_count;
    const struct h1_header *cl, *te_last, *host;
    unsigned conn_close : 1, conn_keep_alive : 1, expect_continue : 1, upgrade : 1;
};

static void note_connection(struct fields *f, const struct h1_header *h)
{
    size_t off = 0, n;
    const char *el;

    while (list_next(h->value, h->value_len, &off, &el, &n)) {
        if (ieq(el, n, "close"))
            f->conn_close = 1;
        else if (ieq(el, n, "keep-alive"))
            f->conn_keep_alive = 1;
    }
}

/* Looks only at the fields that decide framing, routing and the connection; the
 * switch on the length keeps the common fields down to one comparison or none. */
static void note_field(struct fields *f, const struct h1_header *h)
{
    const char *n = h->name;

    switch (h->name_len) {
    case 4:
        if (ieq(n, 4, "host")) {
            f->host_count++;
            if (f->host == NULL)
                f->host = h;
        }
        break;
    case 6:
        if (ieq(n, 6, "expect") && ieq(h->value, h->value_len, "100-continue"))
            f->expect_continue = 1;
        break;
    case 7:
        if (ieq(n, 7, "upgrade"))
            f->upgrade = 1;
        break;
    case 10:
        if (ieq(n, 10, "connection"))
            note_connection(f, h);
        break;
    case 14:
        if (ieq(n, 14, "content-length")) {
            f->cl_count++;
            f->cl = h;
        }
        break;
    case 17:
        if (ieq(n, 17, "transfer-encoding")) {
            f->te_count++;
            f->te_last = h;
        }
        break;
    }
}

/* Header lines up to and including the empty line. On H1_OK *pos is the head end. */
static int parse_fields(const char *b, size_t *pos, size_t end, size_t max_headers,
                        struct h1_msg *m, struct fields *f)
{
    size_t i = *pos, next = 0;
    enum stop s;
    int r;

    for (;;) {
        if (i == end)
            return H1_NEED_MORE;
        if (b[i] == '\r' || b[i] == '\n') {
            s = stop_at(b, i, end, &next);
            if (s != STOP_EOL)
                return stop_err(s, H1_OK, H1_OK);
            *pos = next;
            return H1_OK;
        }
        /* RFC 9112 5.2 obs-fold; also whitespace before the first field (2.2). */
        if (is_ws(b[i]))
            return H1_E_OBS_FOLD;
        if (m->num_headers == max_headers)
            return H1_E_TOO_MANY_HEADERS;
        r = parse_field_line(b, &i, end, &m->headers[m->num_headers]);
        if (r != H1_OK)
            return r;
        note_field(f, &m->headers[m->num_headers]);
        m->num_headers++;
    }
}

/* 1*18DIGIT. Anything else, lists and signs included, is invalid (RFC 9112 6.3 5). */
static int parse_content_length(const char *p, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;

    if (n == 0 || n > CONTENT_LENGTH_MAX_DIGITS)
        return -1;
    for (i = 0; i < n; i++) {
        if (!is_digit(p[i]))
            return -1;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    *out = v;
    return 0;
}

static void msg_reset(struct h1_msg *m)
{
    m->method = NULL;
    m->method_len = 0;
    m->target = NULL;
    m->target_len = 0;
    m->status = 0;
    m->reason = NULL;
    m->reason_len = 0;
    m->minor_version = 1;
    m->head_len = 0;
    m->num_headers = 0;
    m->body = H1_BODY_NONE;
    m->content_length = 0;
    m->keep_alive = 0;
    m->expect_continue = 0;
    m->upgrade = 0;
    m->host = NULL;
    m->host_len = 0;
}

static size_t header_cap(const struct h1_limits *lim)
{
    return lim->max_headers < H1_MAX_HEADERS_CAP ? lim->max_headers : H1_MAX_HEADERS_CAP;
}

static int keep_alive(const struct h1_msg *m, const struct fields *f)
{
    if (f->conn_close)
        return 0;
    return m->minor_version >= 1 || f->conn_keep_alive;
}

/* RFC 9112 6.1-6.3 and 3.2 for a request. Ordered so that smuggling attempts get
 * their own error: CL with TE first, then each of them alone. */
static int finish_request(struct h1_msg *m, const struct fields *f)
{
    const struct h1_header *h;
    size_t i;

    if (f->cl_count > 0 && f->te_count > 0)
        return H1_E_CL_AND_TE;
    if (f->te_count > 0) {
        /* A request body can only be "chunked" (we decode nothing else), and
         * Transfer-Encoding is not HTTP/1.0 (6.1: faulty framing). */
        h = f->te_last;
        if (m->minor_version == 0 || f->te_count != 1 || !ieq(h->value, h->value_len, "chunked"))
            return H1_E_BAD_TRANSFER_ENCODING;
        m->body = H1_BODY_CHUNKED;
    } else if (f->cl_count > 0) {
        /* Strict: a repeat is rejected even when identical (6.3 allows merging). */
        if (f->cl_count != 1 ||
            parse_content_length(f->cl->value, f->cl->value_len, &m->content_length) != 0)
            return H1_E_BAD_CONTENT_LENGTH;
        m->body = m->content_length > 0 ? H1_BODY_LENGTH : H1_BODY_NONE;
    }

    /* 3.2: 400 for a 1.1 request without Host, for any request with more than one,
     * and for an invalid one (it becomes part of the cache key). An empty Host is
     * valid: the target had no authority. */
    if (f->host_count > 1 || (f->host_count == 0 && m->minor_version == 1))
        return H1_E_MISSING_HOST;
    if ((h = f->host) != NULL) {
        for (i = 0; i < h->value_len; i++)
            if (!has_class(h->value[i], C_HOST))
                return H1_E_MISSING_HOST;
        m->host = h->value;
        m->host_len = h->value_len;
    }

    m->keep_alive = (unsigned)keep_alive(m, f);
    /* RFC 9110 10.1.1: a 100-continue expectation in HTTP/1.0 is ignored. */
    m->expect_continue = f->expect_continue && m->minor_version == 1;
    m->upgrade = f->upgrade;
    return H1_OK;
}

/* The final transfer coding of the last Transfer-Encoding line is chunked. */
static int te_final_chunked(const struct h1_header *h)
{
    size_t off = 0, n = 0;
    const char *el = NULL, *p;

    while (list_next(h->value, h->value_len, &off, &p, &n))
        el = p;
    return el != NULL && ieq(el, n, "chunked");
}

/* RFC 9112 6.3 for a response. */
static int finish_response(struct h1_msg *m, const struct fields *f, int head_request)
{
    uint64_t cl;

    m->keep_alive = (unsigned)keep_alive(m, f);
    m->upgrade = f->upgrade;
    if (f->host != NULL) {
        m->host = f->host->value;
        m->host_len = f->host->value_len;
    }
    if (head_request || m->status < 200 || m->status == 204 || m->status == 304) {
        m->body = H1_BODY_NONE;
    } else if (f->te_count > 0) {
        /* 6.1: TE in HTTP/1.0 means the framing is faulty. Otherwise TE overrides
         * any Content-Length (6.3 3), and without a final chunked the body runs to
         * the close (6.3 4). */
        if (m->minor_version == 0)
            return H1_E_BAD_TRANSFER_ENCODING;
        m->body = te_final_chunked(f->te_last) ? H1_BODY_CHUNKED : H1_BODY_UNTIL_CLOSE;
    } else if (f->cl_count > 0) {
        if (f->cl_count != 1 || parse_content_length(f->cl->value, f->cl->value_len, &cl) != 0)
            return H1_E_BAD_CONTENT_LENGTH;
        m->content_length = cl;
        m->body = cl > 0 ? H1_BODY_LENGTH : H1_BODY_NONE;
    } else {
        m->body = H1_BODY_UNTIL_CLOSE;
    }
    if (m->body == H1_BODY_UNTIL_CLOSE)
        m->keep_alive = 0;
    return H1_OK;
}

int h1_parse_request(const char *buf, size_t len, const struct h1_limits *lim, struct h1_msg *msg)
{
    size_t end = len < lim->max_head ? len : lim->max_head, pos = 0;
    int over = len > lim->max_head, r, skipped;
    struct fields f;

    msg_reset(msg);
    memset(&f, 0, sizeof(f));

    for (skipped = 0; skipped < MAX_LEADING_EMPTY_LINES && pos < end; skipped++) {
        if (buf[pos] == '\n')
            pos++;
        else if (buf[pos] == '\r' && pos + 1 < end && buf[pos + 1] == '\n')
            pos += 2;
        else
            break;
    }

    /* A request line that does not fit in the head limit is a URI too long, as
     * with nginx; the target alone may be much shorter than max_uri then. */
    r = parse_request_line(buf, &pos, end, lim->max_uri, msg);
    if (r == H1_NEED_MORE && over)
        return H1_E_URI_TOO_LONG;
    if (r != H1_OK)
        return r;
    r = parse_fields(buf, &pos, end, header_cap(lim), msg, &f);
    if (r == H1_NEED_MORE && over)
        return H1_E_HEADERS_TOO_LARGE;
    if (r != H1_OK)
        return r;
    msg->head_len = pos;
    return finish_request(msg, &f);
}

int h1_parse_response(const char *buf, size_t len, const struct h1_limits *lim, int head_request,
                      struct h1_msg *msg)
{
    size_t end = len < lim->max_head ? len : lim->max_head, pos = 0;
    int over = len > lim->max_head, r;
    struct fields f;

    msg_reset(msg);
    memset(&f, 0, sizeof(f));

    r = parse_status_line(buf, &pos, end, msg);
    if (r == H1_OK)
        r = parse_fields(buf, &pos, end, header_cap(lim), msg, &f);
    if (r == H1_NEED_MORE && over)
        return H1_E_HEADERS_TOO_LARGE;
    if (r != H1_OK)
        return r;
    msg->head_len = pos;
    return finish_response(msg, &f, head_request);
}

int h1_header_find(const struct h1_msg *msg, const char *name, size_t start)
{
    size_t i, n = strlen(name);

    for (i = start; i < msg->num_headers; i++) {
        const struct h1_header *h = &msg->headers[i];
        size_t k;

        if (h->name_len != n)
            continue;
        for (k = 0; k < n && lower(h->name[k]) == lower(name[k]); k++)
            ;
        if (k == n)
            return (int)i;
    }
    return -1;
}

static int name_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t i;

    if (alen != blen)
        return 0;
    for (i = 0; i < alen; i++)
        if (lower(a[i]) != lower(b[i]))
            return 0;
    return 1;
}

int h1_header_is_hop(const struct h1_msg *msg, const char *name, size_t len)
{
    /* RFC 9110 7.6.1, plus the non-standard ones proxies must not forward. */
    static const char *const hop[] = {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-authenticate",
        "proxy-authorization",
    };
    size_t i, off, n;
    const char *el;
    int k = -1;

    for (i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
        if (ieq(name, len, hop[i]))
            return 1;
    while ((k = h1_header_find(msg, "connection", (size_t)(k + 1))) >= 0) {
        const struct h1_header *h = &msg->headers[k];

        off = 0;
        while (list_next(h->value, h->value_len, &off, &el, &n))
            if (name_eq(el, n, name, len))
                return 1;
    }
    return 0;
}

int h1_is_fatal(int err)
{
    return err < 0;
}

const char *h1_strerror(int err)
{
    switch (err) {
    case H1_OK: return "success";
    case H1_NEED_MORE: return "incomplete message";
    case H1_E_BAD_REQUEST_LINE: return "malformed request line";
    case H1_E_BAD_METHOD: return "invalid method";
    case H1_E_BAD_TARGET: return "invalid byte in request target";
    case H1_E_BAD_VERSION: return "invalid HTTP version";
    case H1_E_VERSION_UNSUPPORTED: return "HTTP version not supported";
    case H1_E_URI_TOO_LONG: return "request target too long";
    case H1_E_HEADERS_TOO_LARGE: return "header section too large";
    case H1_E_TOO_MANY_HEADERS: return "too many header fields";
    case H1_E_BAD_HEADER_NAME: return "invalid header field name";
    case H1_E_SPACE_BEFORE_COLON: return "whitespace between header field name and colon";
    case H1_E_OBS_FOLD: return "obsolete header line folding";
    case H1_E_BARE_CR: return "CR not followed by LF";
    case H1_E_BAD_HEADER_VALUE: return "control character in header field value";
    case H1_E_CL_AND_TE: return "Content-Length together with Transfer-Encoding";
    case H1_E_BAD_CONTENT_LENGTH: return "invalid or repeated Content-Length";
    case H1_E_BAD_TRANSFER_ENCODING: return "unsupported Transfer-Encoding";
    case H1_E_BAD_CHUNK: return "invalid chunked framing";
    case H1_E_MISSING_HOST: return "missing, repeated or invalid Host";
    case H1_E_BAD_STATUS_LINE: return "malformed status line";
    case H1_E_CHUNK_TOO_LARGE: return "chunk size too large";
    default: return "unknown h1 error";
    }
}

int h1_err_status(int err)
{
    switch (err) {
    case H1_OK:
    case H1_NEED_MORE: return 0;
    case H1_E_URI_TOO_LONG: return 414;
    case H1_E_HEADERS_TOO_LARGE:
    case H1_E_TOO_MANY_HEADERS: return 431;
    case H1_E_VERSION_UNSUPPORTED: return 505;
    default:
        /* BAD_TRANSFER_ENCODING also covers "chunked, chunked" and TE in 1.0,
         * which are framing errors, so 400 rather than 501. */
        return 400;
    }
}

/* ---- chunked decoder (RFC 9112 7.1); see the diagram at the end of the file ---- */

enum chunk_state {
    CS_SIZE_FIRST = 0, /* zero-initialised: the first hex digit of a chunk-size */
    CS_SIZE,           /* more hex digits */
    CS_SEMI_WS,        /* BWS after the size or an ext value: only ";" may follow */
    CS_EXT_NAME_PRE,   /* after ";": BWS, then the first name byte */
    CS_EXT_NAME,
    CS_EXT_NAME_WS,   /* BWS after a name: "=" or ";" must follow */
    CS_EXT_VALUE_PRE, /* after "=": BWS, then a token or a quoted-string */
    CS_EXT_TOKEN,
    CS_EXT_QUOTED,
    CS_EXT_QUOTED_ESC, /* after a backslash in a quoted-string */
    CS_EXT_QUOTED_END, /* after the closing quote */
    CS_SIZE_LF,        /* CR seen at the end of the size line */
    CS_DATA,
    CS_DATA_CR, /* CRLF that closes the data */
    CS_DATA_LF,
    CS_TRAILER_START, /* start of a trailer line or of the final empty line */
    CS_TRAILER_NAME,
    CS_TRAILER_NAME_WS,
    CS_TRAILER_VALUE,
    CS_TRAILER_LF, /* CR at the end of a trailer line */
    CS_END_LF,     /* CR of the final empty line */
    CS_DONE,
};

static int hex_value(unsigned char b)
{
    if (b >= '0' && b <= '9')
        return b - '0';
    b = (unsigned char)(b | 0x20);
    if (b >= 'a' && b <= 'f')
        return b - 'a' + 10;
    return -1;
}

static int size_line_done(struct h1_chunked *c)
{
    c->line_len = 0;
    /* For the last chunk, `remaining` (0) goes on as the trailer field count. */
    c->state = c->remaining == 0 ? CS_TRAILER_START : CS_DATA;
    return H1_NEED_MORE;
}

static int size_line_end(struct h1_chunked *c, unsigned char b)
{
    if (b == '\r') {
        c->state = CS_SIZE_LF;
        return H1_NEED_MORE;
    }
    if (b == '\n')
        return size_line_done(c);
    return H1_E_BAD_CHUNK;
}

/* chunk-size [ chunk-ext ] CRLF, one byte. chunk-ext = *( BWS ";" BWS name
 * [ BWS "=" BWS ( token / quoted-string ) ] ) (RFC 9112 7.1.1). */
static int step_size_line(struct h1_chunked *c, unsigned char b)
{
    int hex;

    switch (c->state) {
    case CS_SIZE_FIRST:
    case CS_SIZE:
        if ((hex = hex_value(b)) >= 0) {
            if (c->remaining > CHUNK_SIZE_SHIFT_MAX)
                return H1_E_CHUNK_TOO_LARGE;
            c->remaining = c->remaining << 4 | (uint64_t)hex;
            c->state = CS_SIZE;
            return H1_NEED_MORE;
        }
        if (c->state == CS_SIZE_FIRST)
            return H1_E_BAD_CHUNK;
        if (is_ws((char)b)) {
            c->state = CS_SEMI_WS; /* BWS, legal only before ";" */
            return H1_NEED_MORE;
        }
        break;
    case CS_SEMI_WS:
        if (b == ';' || is_ws((char)b)) {
            c->state = b == ';' ? CS_EXT_NAME_PRE : CS_SEMI_WS;
            return H1_NEED_MORE;
        }
        return H1_E_BAD_CHUNK;
    case CS_EXT_NAME_PRE:
    case CS_EXT_VALUE_PRE:
        if (is_ws((char)b))
            return H1_NEED_MORE;
        if (c->state == CS_EXT_VALUE_PRE && b == '"')
            c->state = CS_EXT_QUOTED;
        else if (has_class((char)b, C_TCHAR))
            c->state = c->state == CS_EXT_NAME_PRE ? CS_EXT_NAME : CS_EXT_TOKEN;
        else
            return H1_E_BAD_CHUNK;
        return H1_NEED_MORE;
    case CS_EXT_NAME:
    case CS_EXT_TOKEN:
        if (has_class((char)b, C_TCHAR))
            return H1_NEED_MORE;
        if (b == '=' && c->state == CS_EXT_NAME) {
            c->state = CS_EXT_VALUE_PRE;
            return H1_NEED_MORE;
        }
        if (is_ws((char)b)) {
            c->state = c->state == CS_EXT_NAME ? CS_EXT_NAME_WS : CS_SEMI_WS;
            return H1_NEED_MORE;
        }
        break;
    case CS_EXT_NAME_WS:
        if (is_ws((char)b))
            return H1_NEED_MORE;
        if (b != '=' && b != ';')
            return H1_E_BAD_CHUNK;
        c->state = b == '=' ? CS_EXT_VALUE_PRE : CS_EXT_NAME_PRE;
        return H1_NEED_MORE;
    case CS_EXT_QUOTED:
        if (b == '"')
            c->state = CS_EXT_QUOTED_END;
        else if (b == '\\')
            c->state = CS_EXT_QUOTED_ESC;
        else if (!has_class((char)b, C_FIELD))
            return H1_E_BAD_CHUNK;
        return H1_NEED_MORE;
    case CS_EXT_QUOTED_ESC:
        if (!has_class((char)b, C_FIELD))
            return H1_E_BAD_CHUNK;
        c->state = CS_EXT_QUOTED;
        return H1_NEED_MORE;
    case CS_EXT_QUOTED_END:
        if (is_ws((char)b)) {
            c->state = CS_SEMI_WS;
            return H1_NEED_MORE;
        }
        break;
    case CS_SIZE_LF: return b == '\n' ? size_line_done(c) : H1_E_BAD_CHUNK;
    }
    /* After a size, a name, a token or a closing quote: ";" or the line end. */
    if (b == ';') {
        c->state = CS_EXT_NAME_PRE;
        return H1_NEED_MORE;
    }
    return size_line_end(c, b);
}

/* The CRLF after chunk data (a bare LF is accepted, as for every line). */
static int step_data_end(struct h1_chunked *c, unsigned char b)
{
    if (c->state == CS_DATA_CR && b == '\r') {
        c->state = CS_DATA_LF;
        return H1_NEED_MORE;
    }
    if (b != '\n')
        return H1_E_BAD_CHUNK;
    c->state = CS_SIZE_FIRST;
    c->remaining = 0;
    c->line_len = 0;
    return H1_NEED_MORE;
}

/* trailer-section CRLF: validated as header lines, then dropped (RFC 9112 7.1.2
 * lets a recipient discard them). At most H1_MAX_HEADERS_CAP fields. */
static int step_trailer(struct h1_chunked *c, unsigned char b)
{
    switch (c->state) {
    case CS_TRAILER_START:
        if (b == '\n' || b == '\r') {
            c->state = b == '\n' ? CS_DONE : CS_END_LF;
            return b == '\n' ? H1_OK : H1_NEED_MORE;
        }
        if (is_ws((char)b))
            return H1_E_OBS_FOLD;
        if (!has_class((char)b, C_TCHAR))
            return H1_E_BAD_HEADER_NAME;
        if (++c->remaining > H1_MAX_HEADERS_CAP)
            return H1_E_TOO_MANY_HEADERS;
        c->state = CS_TRAILER_NAME;
        return H1_NEED_MORE;
    case CS_TRAILER_NAME:
        if (has_class((char)b, C_TCHAR))
            return H1_NEED_MORE;
        if (b != ':' && !is_ws((char)b))
            return H1_E_BAD_HEADER_NAME;
        c->state = b == ':' ? CS_TRAILER_VALUE : CS_TRAILER_NAME_WS;
        return H1_NEED_MORE;
    case CS_TRAILER_NAME_WS:
        if (is_ws((char)b))
            return H1_NEED_MORE;
        return b == ':' ? H1_E_SPACE_BEFORE_COLON : H1_E_BAD_HEADER_NAME;
    case CS_TRAILER_VALUE:
        if (has_class((char)b, C_FIELD))
            return H1_NEED_MORE;
        if (b == '\r') {
            c->state = CS_TRAILER_LF;
            return H1_NEED_MORE;
        }
        if (b != '\n')
            return H1_E_BAD_HEADER_VALUE;
        break;
    case CS_TRAILER_LF:
        if (b != '\n')
            return H1_E_BARE_CR;
        break;
    case CS_END_LF:
        if (b != '\n')
            return H1_E_BARE_CR;
        c->state = CS_DONE;
        return H1_OK;
    }
    c->state = CS_TRAILER_START;
    c->line_len = 0;
    return H1_NEED_MORE;
}

void h1_chunked_init(struct h1_chunked *c)
{
    memset(c, 0, sizeof(*c));
    c->max_line = CHUNK_LINE_DEFAULT;
}

int h1_chunked_feed(struct h1_chunked *c, const char *in, size_t len, size_t *consumed,
                    size_t *data_off, size_t *data_len)
{
    size_t i = 0, n, max_line = c->max_line ? c->max_line : CHUNK_LINE_DEFAULT;
    int r = H1_NEED_MORE;

    *data_off = 0;
    *data_len = 0;
    /* A negative state is the error that stopped the decoder: it sticks. */
    while (c->state >= 0 && c->state != CS_DONE && i < len) {
        unsigned char b = (unsigned char)in[i];

        if (c->state == CS_DATA) {
            n = len - i < c->remaining ? len - i : (size_t)c->remaining;
            *data_off = i;
            *data_len = n;
            i += n;
            c->remaining -= n;
            if (c->remaining == 0)
                c->state = CS_DATA_CR;
            break;
        }
        /* Lines are capped on their content; the CR and LF are not counted. */
        if (c->state != CS_DATA_CR && c->state != CS_DATA_LF && b != '\r' && b != '\n' &&
            ++c->line_len > max_line)
            r = H1_E_BAD_CHUNK;
        else if (c->state <= CS_SIZE_LF)
            r = step_size_line(c, b);
        else if (c->state <= CS_DATA_LF)
            r = step_data_end(c, b);
        else
            r = step_trailer(c, b);
        if (r < 0) {
            c->state = r;
            break;
        }
        i++;
    }
    *consumed = i;
    if (c->state < 0)
        return c->state;
    return c->state == CS_DONE ? H1_OK : H1_NEED_MORE;
}

int h1_chunked_drain(struct h1_chunked *c, struct evbuffer *in,
                     int (*on_data)(void *arg, const char *p, size_t n), void *arg)
{
    while (evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        size_t used, off, dlen;
        int rc = h1_chunked_feed(c, v.iov_base, v.iov_len, &used, &off, &dlen);
        if (rc < 0)
            return rc;
        if (dlen > 0) {
            int stop = on_data(arg, (const char *)v.iov_base + off, dlen);
            if (stop != 0)
                return stop;
        }
        evbuffer_drain(in, used);
        if (rc == H1_OK)
            return H1_OK;
        if (used == 0)
            break;
    }
    return H1_NEED_MORE;
}

/*
 * Chunked decoder states (h1_chunked_feed). Every line state also fails with
 * BAD_CHUNK when its line exceeds max_line; unlisted bytes are errors.
 *
 * digraph h1_chunked {
 *     SIZE_FIRST -> SIZE [label="HEXDIG"];
 *     SIZE -> SIZE [label="HEXDIG (63-bit cap: CHUNK_TOO_LARGE)"];
 *     SIZE -> SEMI_WS [label="SP HTAB (BWS)"];
 *     SIZE -> EXT_NAME_PRE [label="\";\""];
 *     SEMI_WS -> SEMI_WS [label="SP HTAB"];
 *     SEMI_WS -> EXT_NAME_PRE [label="\";\""];
 *     EXT_NAME_PRE -> EXT_NAME_PRE [label="SP HTAB"];
 *     EXT_NAME_PRE -> EXT_NAME [label="tchar"];
 *     EXT_NAME -> EXT_NAME [label="tchar"];
 *     EXT_NAME -> EXT_NAME_WS [label="SP HTAB"];
 *     EXT_NAME -> EXT_VALUE_PRE [label="\"=\""];
 *     EXT_NAME -> EXT_NAME_PRE [label="\";\""];
 *     EXT_NAME_WS -> EXT_VALUE_PRE [label="\"=\""];
 *     EXT_NAME_WS -> EXT_NAME_PRE [label="\";\""];
 *     EXT_VALUE_PRE -> EXT_TOKEN [label="tchar"];
 *     EXT_VALUE_PRE -> EXT_QUOTED [label="DQUOTE"];
 *     EXT_TOKEN -> SEMI_WS [label="SP HTAB"];
 *     EXT_TOKEN -> EXT_NAME_PRE [label="\";\""];
 *     EXT_QUOTED -> EXT_QUOTED_ESC [label="\"\\\\\""];
 *     EXT_QUOTED_ESC -> EXT_QUOTED [label="HTAB SP VCHAR obs-text"];
 *     EXT_QUOTED -> EXT_QUOTED_END [label="DQUOTE"];
 *     EXT_QUOTED_END -> SEMI_WS [label="SP HTAB"];
 *     EXT_QUOTED_END -> EXT_NAME_PRE [label="\";\""];
 *     { SIZE EXT_NAME EXT_TOKEN EXT_QUOTED_END } -> SIZE_LF [label="CR"];
 *     { SIZE EXT_NAME EXT_TOKEN EXT_QUOTED_END SIZE_LF } -> DATA [label="LF, size > 0"];
 *     { SIZE EXT_NAME EXT_TOKEN EXT_QUOTED_END SIZE_LF } -> TRAILER_START [label="LF, size 0"];
 *     DATA -> DATA_CR [label="size bytes, returned as a data run"];
 *     DATA_CR -> DATA_LF [label="CR"];
 *     DATA_CR -> SIZE_FIRST [label="LF"];
 *     DATA_LF -> SIZE_FIRST [label="LF"];
 *     TRAILER_START -> DONE [label="LF (H1_OK)"];
 *     TRAILER_START -> END_LF [label="CR"];
 *     END_LF -> DONE [label="LF (H1_OK)"];
 *     TRAILER_START -> TRAILER_NAME [label="tchar (at most 256 fields)"];
 *     TRAILER_NAME -> TRAILER_VALUE [label="\":\""];
 *     TRAILER_NAME -> TRAILER_NAME_WS [label="SP HTAB"];
 *     TRAILER_NAME_WS -> ERROR [label="\":\" (SPACE_BEFORE_COLON)"];
 *     TRAILER_VALUE -> TRAILER_VALUE [label="HTAB SP VCHAR obs-text"];
 *     TRAILER_VALUE -> TRAILER_LF [label="CR"];
 *     TRAILER_VALUE -> TRAILER_START [label="LF"];
 *     TRAILER_LF -> TRAILER_START [label="LF"];
 * }
 */
