/* SPDX-License-Identifier: Apache-2.0
 *
 * handlers: routing and the endpoints of the demo origin (the list is served
 * at "/" by catalogue_index and printed by `tessera-origin -h`).
 * Every callback runs on the worker thread that owns the connection. The hot
 * paths (catalogue documents, /bench/2k) add a prebuilt body to the reply by
 * reference: the only allocations are libevent's own (headers, chain).
 * Query options are parsed into a stack struct; a reply delayed with ?delay=
 * re-parses them when its timer fires, because event_base_once carries one
 * pointer and we want no per-request state on the heap.
 * Streamed bodies (/bench/size/:n) are the exception: one small struct per
 * stream, freed when the stream ends or its connection dies (see
 * on_stream_closed for who frees the request in each case).
 * ?hdr=Name:Value adds response fields for the cache tests (Expires, Vary,
 * Set-Cookie, CDN-Cache-Control...); they are applied last, so they replace a
 * field the endpoint set itself, and the 304 decision uses the ETag and
 * Last-Modified they give (tests/e2e/c0006-cache-freshness.test.js).
 */
#include "catalogue.h"
#include "origin_int.h"

#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#define STREAM_MAGIC 0x057e4a11u
/* A streamed body goes out 64 KB at a time; the next slice is queued only when
 * the connection's output buffer has drained, so memory stays bounded. */
#define STREAM_CHUNK (64u * 1024u)
#define MAX_STREAM_BYTES 100000000ull
#define MAX_DELAY_MS 600000ul
#define QUERY_VALUE_MAX 512
/* ?hdr= fields per request, and the bytes of all of them decoded. */
#define MAX_HDR_FIELDS 16
#define HDR_BUF_MAX 2048
/* ?lmago=N: at most about 100 years. */
#define MAX_LMAGO 3153600000ull

/* lm=1: every document claims this Last-Modified, Mon, 01 Jan 2024 00:00:00 GMT. */
#define LAST_MODIFIED_TIME ((time_t)1704067200)

static _Thread_local struct origin_worker *current_worker;

void origin__set_current_worker(struct origin_worker *w)
{
    current_worker = w;
}

/* Options every endpoint understands, from the query string. */
struct options {
    unsigned long delay_ms;
    bool etag, lm, close, cl, discard;
    time_t lm_time;      /* Last-Modified claimed by lm=1 or lmago=N; valid when lm */
    const char *cc, *sk; /* decoded, or NULL */
    unsigned nhdr;       /* hdr=Name:Value fields, in query order */
    size_t hdr_used;     /* bytes of hdr_buf in use */
    const char *hdr_name[MAX_HDR_FIELDS], *hdr_value[MAX_HDR_FIELDS]; /* into hdr_buf */
    char cc_buf[QUERY_VALUE_MAX], sk_buf[QUERY_VALUE_MAX];
    char hdr_buf[HDR_BUF_MAX];
    const char *error; /* set when the query is unusable: answer 400 */
};

/* What an endpoint wants sent. With `body` NULL, the body is whatever the
 * endpoint already put in the request's output buffer. */
struct reply {
    int code;
    const char *ctype;                 /* NULL: application/json */
    const struct catalogue_body *body; /* prebuilt, sent by reference */
    const char *cc, *sk;               /* endpoint defaults; ?cc= / ?sk= win */
};

struct stream {
    unsigned magic;
    struct evhttp_request *req;
    struct evhttp_connection *evcon;
    struct evbuffer *slice;
    uint64_t size, sent;
};

/* STREAM_CHUNK bytes of the pattern starting at any phase 0..25:
 * byte i of every streamed body is 'a' + i % 26. */
static char pattern[STREAM_CHUNK + 26];
static pthread_once_t pattern_once = PTHREAD_ONCE_INIT;

static void pattern_init(void)
{
    for (size_t i = 0; i < sizeof(pattern); i++)
        pattern[i] = (char)('a' + i % 26);
}

/* ---- small parsers ---- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..len) ('+' is a space, as in form encoding) into out,
 * NUL-terminated; *outlen (if not NULL) gets the decoded length, which tells a
 * decoded %00 from the end. Returns false when it does not fit or an escape is
 * malformed. */
static bool query_decode(const char *s, size_t len, char *out, size_t cap, size_t *outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (i + 2 >= len)
                return false;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                return false;
            c = hi * 16 + lo;
            i += 2;
        }
        if (o + 1 >= cap)
            return false;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    if (outlen != NULL)
        *outlen = o;
    return true;
}

/* Digits only, no sign, at most `max`. */
static bool parse_number(const char *s, size_t len, unsigned long long max, unsigned long long *out)
{
    if (len == 0 || len > 19)
        return false;
    unsigned long long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned long long)(s[i] - '0');
    }
    if (v > max)
        return false;
    *out = v;
    return true;
}

static bool flag_value(const char *v, size_t len)
{
    return (len == 1 && v[0] == '1') || (len == 4 && strncasecmp(v, "true", 4) == 0);
}

static bool key_is(const char *k, size_t klen, const char *name)
{
    return strlen(name) == klen && memcmp(k, name, klen) == 0;
}

/* RFC 9110 5.6.2 tchar */
static bool is_tchar(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* One hdr=Name:Value (percent-decoded): Name a token, Value without CR, LF or
 * NUL, optional whitespace around it dropped (RFC 9110 5.5). The framing fields
 * are evhttp's to set, so they are refused rather than sent twice. */
static void hdr_parse(struct options *o, const char *v, size_t vlen)
{
    char *dst = o->hdr_buf + o->hdr_used;
    size_t n;

    if (o->nhdr == MAX_HDR_FIELDS) {
        o->error = "hdr: at most 16 fields";
        return;
    }
    if (!query_decode(v, vlen, dst, sizeof(o->hdr_buf) - o->hdr_used, &n)) {
        o->error = "hdr: malformed, or more than 2047 bytes in all";
        return;
    }
    char *colon = memchr(dst, ':', n);
    if (colon == NULL || colon == dst) {
        o->error = "hdr: expected Name:Value";
        return;
    }
    for (const char *c = dst; c < colon; c++) {
        if (!is_tchar(*c)) {
            o->error = "hdr: the name must be a token (RFC 9110 5.6.2)";
            return;
        }
    }
    if (memchr(dst, '\0', n) != NULL || memchr(dst, '\r', n) != NULL ||
        memchr(dst, '\n', n) != NULL) {
        o->error = "hdr: the value must not contain CR, LF or NUL";
        return;
    }
    *colon = '\0';
    if (strcasecmp(dst, "Content-Length") == 0 || strcasecmp(dst, "Transfer-Encoding") == 0) {
        o->error = "hdr: Content-Length and Transfer-Encoding are set by the origin";
        return;
    }
    char *value = colon + 1;
    value += strspn(value, " \t");
    char *end = dst + n;
    while (end > value && (end[-1] == ' ' || end[-1] == '\t'))
        *--end = '\0';
    o->hdr_name[o->nhdr] = dst;
    o->hdr_value[o->nhdr] = value;
    o->nhdr++;
    o->hdr_used += n + 1;
}

/* API fragments (/api/...) carry an ETag unless ?etag=0: caches can revalidate
 * them. Other endpoints only with ?etag=1. */
static bool etag_by_default(struct evhttp_request *req)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    return path != NULL && strncmp(path, "/api/", 5) == 0;
}

static void options_parse(struct options *o, const char *query, bool slow_headers, bool etag)
{
    memset(o, 0, offsetof(struct options, cc_buf));
    o->error = NULL;
    o->etag = etag;
    if (query == NULL)
        return;
    const char *p = query;
    while (*p != '\0') {
        size_t plen = strcspn(p, "&");
        const char *eq = memchr(p, '=', plen);
        size_t klen = eq ? (size_t)(eq - p) : plen;
        const char *v = eq ? eq + 1 : p + plen;
        size_t vlen = eq ? plen - klen - 1 : 0;
        unsigned long long n;

        if (key_is(p, klen, "delay") || (slow_headers && key_is(p, klen, "ms"))) {
            if (!parse_number(v, vlen, MAX_DELAY_MS, &n))
                o->error = "delay/ms: expected milliseconds 0..600000";
            else if (n > o->delay_ms)
                o->delay_ms = (unsigned long)n;
        } else if (key_is(p, klen, "cc")) {
            if (!query_decode(v, vlen, o->cc_buf, sizeof(o->cc_buf), NULL))
                o->error = "cc: malformed or longer than 511 bytes";
            o->cc = o->cc_buf;
        } else if (key_is(p, klen, "sk")) {
            if (!query_decode(v, vlen, o->sk_buf, sizeof(o->sk_buf), NULL))
                o->error = "sk: malformed or longer than 511 bytes";
            o->sk = o->sk_buf;
        } else if (key_is(p, klen, "etag")) {
            o->etag = flag_value(v, vlen);
        } else if (key_is(p, klen, "lm")) {
            o->lm = flag_value(v, vlen);
            o->lm_time = LAST_MODIFIED_TIME;
        } else if (key_is(p, klen, "lmago")) {
            /* Read when the reply is made (a delayed one re-parses), so the
             * age of Last-Modified is N seconds against the reply's Date. */
            if (!parse_number(v, vlen, MAX_LMAGO, &n)) {
                o->error = "lmago: expected seconds 0..3153600000";
            } else {
                o->lm = true;
                o->lm_time = time(NULL) - (time_t)n;
            }
        } else if (key_is(p, klen, "hdr")) {
            hdr_parse(o, v, vlen);
        } else if (key_is(p, klen, "close")) {
            o->close = flag_value(v, vlen);
        } else if (key_is(p, klen, "cl")) {
            o->cl = flag_value(v, vlen);
        } else if (key_is(p, klen, "discard")) {
            o->discard = flag_value(v, vlen);
        }
        p += plen;
        if (*p == '&')
            p++;
    }
}

/* If-None-Match uses the weak comparison (RFC 9110 section 13.1.2). */
static bool etag_list_matches(const char *list, const char *etag)
{
    const char *p = list;
    size_t elen = strlen(etag);
    for (;;) {
        p += strspn(p, " \t,");
        if (*p == '\0')
            return false;
        if (*p == '*')
            return true;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        if (*p != '"')
            return false; /* malformed: no match, serve the full response */
        const char *end = strchr(p + 1, '"');
        if (end == NULL)
            return false;
        size_t tlen = (size_t)(end - p) + 1;
        if (tlen == elen && memcmp(p, etag, elen) == 0)
            return true;
        p = end + 1;
    }
}

/* IMF-fixdate only (RFC 9110 section 5.6.7); others are ignored, which just
 * means a full response. */
static bool parse_http_date(const char *s, time_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (end == NULL || *end != '\0')
        return false;
    *out = timegm(&tm);
    return true;
}

/* RFC 9110 section 13.2.2: If-None-Match first; If-Modified-Since only when it
 * is absent. `etag` is NULL when the reply carries none, `lm` false when it
 * has no (valid) Last-Modified, else lm_time is that time. */
static bool not_modified(struct evhttp_request *req, const char *etag, bool lm, time_t lm_time)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const char *inm = evhttp_find_header(in, "If-None-Match");
    if (inm != NULL) {
        if (strspn(inm, " \t") == strlen(inm))
            return false;
        if (etag == NULL)
            return inm[strspn(inm, " \t")] == '*';
        return etag_list_matches(inm, etag);
    }
    const char *ims = evhttp_find_header(in, "If-Modified-Since");
    time_t t;
    if (!lm || ims == NULL || !parse_http_date(ims, &t))
        return false;
    return t >= lm_time;
}

static const char *method_name(enum evhttp_cmd_type m)
{
    switch (m) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_TRACE: return "TRACE";
    case EVHTTP_REQ_CONNECT: return "CONNECT";
    case EVHTTP_REQ_PATCH: return "PATCH";
    }
    return "?";
}

/* ---- sending ---- */

/* evhttp 2.1 knows the RFC 2616 phrases only; the rest would read "Client
 * Error". NULL lets evhttp choose. */
static const char *reason_phrase(int code)
{
    switch (code) {
    case 308: return "Permanent Redirect";
    case 418: return "I'm a teapot";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 511: return "Network Authentication Required";
    default: return NULL;
    }
}

/* 1xx, 204 and 304 never carry a body (RFC 9110 section 6.4.1). */
static bool status_has_body(int code)
{
    return code >= 200 && code != 204 && code != 304;
}

static void log_request(struct origin_worker *w, struct evhttp_request *req, int code)
{
    if (!w->srv->log_requests)
        return;
    fprintf(stderr, "origin w%u %s %s -> %d\n", w->index,
            method_name(evhttp_request_get_command(req)), evhttp_request_get_uri(req), code);
}

/* The first hdr= value for `name`, or NULL. */
static const char *hdr_find(const struct options *o, const char *name)
{
    for (unsigned i = 0; i < o->nhdr; i++)
        if (strcasecmp(o->hdr_name[i], name) == 0)
            return o->hdr_value[i];
    return NULL;
}

/* The validators the reply ends up with once the hdr= fields replaced the
 * endpoint's own: the 304 decision must agree with what the client sees. */
struct validators {
    const char *etag; /* NULL: none */
    bool lm;          /* a valid Last-Modified, at lm_time */
    time_t lm_time;
};

static void validators_of(const struct options *o, const char *etag, struct validators *v)
{
    const char *h;
    v->etag = (h = hdr_find(o, "ETag")) != NULL ? h : etag;
    v->lm = o->lm;
    v->lm_time = o->lm_time;
    if ((h = hdr_find(o, "Last-Modified")) != NULL)
        v->lm = parse_http_date(h, &v->lm_time);
}

/* The hdr= fields, added last: the first one of a name removes every field of
 * that name the endpoint set, later ones of the same name add lines. */
static void add_hdr_fields(struct evkeyvalq *out, const struct options *o)
{
    for (unsigned i = 0; i < o->nhdr; i++) {
        bool first = true;
        for (unsigned j = 0; j < i && first; j++)
            first = strcasecmp(o->hdr_name[j], o->hdr_name[i]) != 0;
        if (first)
            while (evhttp_remove_header(out, o->hdr_name[i]) == 0)
                continue;
        evhttp_add_header(out, o->hdr_name[i], o->hdr_value[i]);
    }
}

static void count_not_modified(struct origin_worker *w)
{
    atomic_fetch_add_explicit(&w->not_modified, 1, memory_order_relaxed);
}

/* Validators and caching headers shared by plain and streamed replies. */
static void add_meta_headers(struct evkeyvalq *out, const struct options *o, const char *etag,
                             const char *cc, const char *sk)
{
    if (etag != NULL)
        evhttp_add_header(out, "ETag", etag);
    if (o->lm) {
        char date[64];
        struct tm tm;
        gmtime_r(&o->lm_time, &tm);
        strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        evhttp_add_header(out, "Last-Modified", date);
    }
    if (o->cc != NULL)
        cc = o->cc;
    if (o->sk != NULL)
        sk = o->sk;
    /* evhttp_add_header refuses values with bare CR/LF: a cc=%0d%0a... simply
     * leaves the header out. */
    if (cc != NULL && *cc != '\0')
        evhttp_add_header(out, "Cache-Control", cc);
    if (sk != NULL && *sk != '\0')
        evhttp_add_header(out, "Surrogate-Key", sk);
    if (o->close)
        evhttp_add_header(out, "Connection", "close");
}

static void send_reply(struct origin_worker *w, struct evhttp_request *req, const struct options *o,
                       const struct reply *r)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    struct evbuffer *buf = evhttp_request_get_output_buffer(req);
    char etag_buf[20];
    const char *etag = NULL;
    enum evhttp_cmd_type m = evhttp_request_get_command(req);

    if (o->etag && status_has_body(r->code)) {
        if (r->body != NULL) {
            etag = r->body->etag;
        } else {
            size_t n = evbuffer_get_length(buf);
            catalogue_etag(n ? evbuffer_pullup(buf, -1) : (const unsigned char *)"", n, etag_buf);
            etag = etag_buf;
        }
    }
    add_meta_headers(out, o, etag, r->cc, r->sk);

    struct validators val;
    validators_of(o, etag, &val);
    int code = r->code;
    if (code == 200 && (m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD) &&
        not_modified(req, val.etag, val.lm, val.lm_time))
        code = 304;

    size_t len = r->body != NULL ? r->body->len : evbuffer_get_length(buf);
    if (code != 304 && status_has_body(code))
        evhttp_add_header(out, "Content-Type", r->ctype != NULL ? r->ctype : "application/json");
    if (code == 304 || !status_has_body(code) || m == EVHTTP_REQ_HEAD) {
        /* evhttp writes whatever is in the output buffer, even for HEAD. */
        evbuffer_drain(buf, evbuffer_get_length(buf));
        if (code != 304 && status_has_body(code)) {
            char cl[24];
            snprintf(cl, sizeof(cl), "%zu", len);
            evhttp_add_header(out, "Content-Length", cl);
        }
    } else if (r->body != NULL) {
        evbuffer_add_reference(buf, r->body->data, r->body->len, NULL, NULL);
    }
    add_hdr_fields(out, o);
    if (code == 304)
        count_not_modified(w);
    log_request(w, req, code);
    evhttp_send_reply(req, code, reason_phrase(code), NULL);
}

/* A fixed text added by reference (it lives in .rodata). */
static void body_static(struct evhttp_request *req, const char *s)
{
    evbuffer_add_reference(evhttp_request_get_output_buffer(req), s, strlen(s), NULL, NULL);
}

static void send_error(struct origin_worker *w, struct evhttp_request *req, const struct options *o,
                       int code, const char *json)
{
    struct options plain = *o;
    plain.etag = plain.lm = false;
    body_static(req, json);
    struct reply r = {.code = code};
    send_reply(w, req, &plain, &r);
}

/* ---- streamed bodies: /bench/size/:n ---- */

static void stream_free(struct stream *st)
{
    evhttp_connection_set_closecb(st->evcon, NULL, NULL);
    evbuffer_free(st->slice);
    st->magic = 0;
    free(st);
}

static void on_slice_written(struct evhttp_connection *evcon, void *arg);

static void stream_next(struct stream *st)
{
    uint64_t left = st->size - st->sent;
    size_t n = left < STREAM_CHUNK ? (size_t)left : STREAM_CHUNK;
    evbuffer_add_reference(st->slice, pattern + st->sent % 26, n, NULL, NULL);
    st->sent += n;
    if (st->sent < st->size) {
        evhttp_send_reply_chunk_with_cb(st->req, st->slice, on_slice_written, st);
        return;
    }
    /* Last slice: hand over to evhttp, which finishes after the drain. */
    struct evhttp_request *req = st->req;
    evhttp_send_reply_chunk(req, st->slice);
    stream_free(st);
    evhttp_send_reply_end(req);
}

static void on_slice_written(struct evhttp_connection *evcon, void *arg)
{
    struct stream *st = arg;
    if (st->magic != STREAM_MAGIC)
        abort();
    stream_next(st);
}

/* The connection is being freed mid-stream. Two ways to get here:
 *  - the client went away: evhttp has detached the request (its connection is
 *    NULL) and left it to us, so we free it;
 *  - the server is shutting down (evhttp_free): the request is still attached
 *    and evhttp frees it right after this callback. */
static void on_stream_closed(struct evhttp_connection *evcon, void *arg)
{
    struct stream *st = arg;
    if (st->magic != STREAM_MAGIC)
        abort();
    struct evhttp_request *req = st->req;
    bool detached = evhttp_request_get_connection(req) == NULL;
    evbuffer_free(st->slice);
    st->magic = 0;
    free(st);
    if (detached)
        evhttp_request_free(req);
}

static void serve_stream(struct origin_worker *w, struct evhttp_request *req,
                         const struct options *o, uint64_t size)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    char etag[40], cl[24];
    /* The body is a function of its size, so the size is its validator. */
    snprintf(etag, sizeof(etag), "\"size-%" PRIu64 "\"", size);
    add_meta_headers(out, o, o->etag ? etag : NULL, NULL, NULL);
    struct validators val;
    validators_of(o, o->etag ? etag : NULL, &val);
    if ((m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD) &&
        not_modified(req, val.etag, val.lm, val.lm_time)) {
        add_hdr_fields(out, o);
        count_not_modified(w);
        log_request(w, req, 304);
        evhttp_send_reply(req, 304, NULL, NULL);
        return;
    }
    evhttp_add_header(out, "Content-Type", "application/octet-stream");
    add_hdr_fields(out, o);
    if (o->cl) {
        snprintf(cl, sizeof(cl), "%" PRIu64, size);
        evhttp_add_header(out, "Content-Length", cl);
    }
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    log_request(w, req, 200);
    if (m == EVHTTP_REQ_HEAD || size == 0 || evcon == NULL) {
        /* Nothing to stream (evhttp frees a detached request here). */
        evhttp_send_reply(req, 200, NULL, NULL);
        return;
    }
    struct stream *st = calloc(1, sizeof(*st));
    struct evbuffer *slice = evbuffer_new();
    if (st == NULL || slice == NULL) {
        free(st);
        if (slice != NULL)
            evbuffer_free(slice);
        evhttp_send_error(req, 503, NULL);
        return;
    }
    st->magic = STREAM_MAGIC;
    st->req = req;
    st->evcon = evcon;
    st->slice = slice;
    st->size = size;
    evhttp_connection_set_closecb(evcon, on_stream_closed, st);
    evhttp_send_reply_start(req, 200, NULL);
    stream_next(st);
}

/* ---- /echo ---- */

static void json_escape_into(struct evbuffer *b, const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            evbuffer_add_printf(b, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            evbuffer_add_printf(b, "\\u%04x", c); /* keeps the header ASCII */
        else
            evbuffer_add(b, s, 1);
    }
}

static void json_lower_key_into(struct evbuffer *b, const char *s)
{
    char tmp[256];
    size_t n = strlen(s);
    if (n >= sizeof(tmp)) {
        json_escape_into(b, s);
        return;
    }
    for (size_t i = 0; i <= n; i++)
        tmp[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32 : s[i]);
    json_escape_into(b, tmp);
}

/* The request headers as one JSON object with lowercased names; repeated
 * fields are joined with ", " in arrival order (RFC 9110 section 5.3). */
static char *headers_json(struct evkeyvalq *in)
{
    struct evbuffer *b = evbuffer_new();
    if (b == NULL)
        return NULL;
    evbuffer_add(b, "{", 1);
    bool first = true;
    for (struct evkeyval *kv = in->tqh_first; kv != NULL; kv = kv->next.tqe_next) {
        bool seen = false;
        for (struct evkeyval *e = in->tqh_first; e != kv && !seen; e = e->next.tqe_next)
            seen = strcasecmp(e->key, kv->key) == 0;
        if (seen)
            continue;
        evbuffer_add_printf(b, "%s\"", first ? "" : ",");
        first = false;
        json_lower_key_into(b, kv->key);
        evbuffer_add(b, "\":\"", 3);
        bool first_value = true;
        for (struct evkeyval *e = kv; e != NULL; e = e->next.tqe_next) {
            if (strcasecmp(e->key, kv->key) != 0)
                continue;
            if (!first_value)
                evbuffer_add(b, ", ", 2);
            first_value = false;
            json_escape_into(b, e->value);
        }
        evbuffer_add(b, "\"", 1);
    }
    evbuffer_add(b, "}", 2); /* with the NUL */
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n);
    if (s != NULL)
        evbuffer_remove(b, s, n);
    evbuffer_free(b);
    return s;
}

static void serve_echo(struct origin_worker *w, struct evhttp_request *req, const struct options *o)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    struct evbuffer *body = evhttp_request_get_output_buffer(req);
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    struct evkeyvalq *inh = evhttp_request_get_input_headers(req);
    size_t n = evbuffer_get_length(in);
    char len[24];

    snprintf(len, sizeof(len), "%zu", n);
    evhttp_add_header(out, "X-Echo-Method", method_name(evhttp_request_get_command(req)));
    evhttp_add_header(out, "X-Echo-Path", evhttp_request_get_uri(req));
    evhttp_add_header(out, "X-Echo-Length", len);
    /* The client's address and port: tests use it to see connection reuse. */
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    if (conn != NULL) {
        char *host = NULL;
        ev_uint16_t port = 0;
        evhttp_connection_get_peer(conn, &host, &port);
        char peer[96];
        snprintf(peer, sizeof(peer), "%s:%u", host ? host : "?", (unsigned)port);
        evhttp_add_header(out, "X-Echo-Peer", peer);
    }
    char *hj = headers_json(inh);
    if (hj != NULL) {
        evhttp_add_header(out, "X-Echo-Headers", hj);
        free(hj);
    }
    struct reply r = {.code = 200};
    if (o->discard) {
        evbuffer_drain(in, n);
        evbuffer_add_printf(body, "{\"received\":%zu}", n);
    } else {
        evbuffer_add_buffer(body, in); /* moves the chains, no copy */
        const char *ct = evhttp_find_header(inh, "Content-Type");
        r.ctype = ct != NULL ? ct : "application/octet-stream";
    }
    send_reply(w, req, o, &r);
}

/* ---- routing ---- */

static bool has_prefix(const char *s, const char *prefix, const char **rest)
{
    size_t n = strlen(prefix);
    if (strncmp(s, prefix, n) != 0)
        return false;
    *rest = s + n;
    return true;
}

static bool parse_id(const char *s, unsigned long long max, unsigned long long *out)
{
    return parse_number(s, strlen(s), max, out);
}

static void serve_item(struct origin_worker *w, struct evhttp_request *req, const struct options *o,
                       enum catalogue_kind kind, const char *id_text)
{
    unsigned long long id;
    const struct catalogue_body *b = NULL;
    if (parse_id(id_text, CATALOGUE_MAX_PRODUCTS, &id))
        b = catalogue_item(w->srv->cat, kind, (unsigned long)id);
    if (b == NULL) {
        send_error(w, req, o, 404, "{\"error\":\"not found\"}");
        return;
    }
    struct reply r = {.code = 200, .body = b};
    char sk[32];
    if (kind == CATALOGUE_PRODUCT) {
        snprintf(sk, sizeof(sk), "product-%llu", id);
        r.sk = sk;
        r.cc = "public, max-age=60";
    }
    send_reply(w, req, o, &r);
}

static void serve_stats(struct origin_worker *w, struct evhttp_request *req,
                        const struct options *o)
{
    struct evbuffer *buf = evhttp_request_get_output_buffer(req);
    const struct origin_server *srv = w->srv;
    evbuffer_add_printf(buf, "{\"requests\":%" PRIu64 ",\"workers\":[",
                        origin__requests_total(srv));
    for (unsigned i = 0; i < srv->nworkers; i++)
        evbuffer_add_printf(buf, "%s%" PRIu64, i ? "," : "",
                            atomic_load_explicit(&srv->workers[i].requests, memory_order_relaxed));
    /* New fields go after "workers": scripts read "requests" as the first. */
    evbuffer_add_printf(buf, "],\"conditional\":%" PRIu64 ",\"not_modified\":%" PRIu64 "}",
                        origin__conditional_total(srv), origin__not_modified_total(srv));
    struct reply r = {.code = 200, .cc = "no-store"};
    send_reply(w, req, o, &r);
}

static void dispatch(struct origin_worker *w, struct evhttp_request *req, const struct options *o)
{
    const struct catalogue *cat = w->srv->cat;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    const char *rest;
    unsigned long long n;
    struct reply r = {.code = 200};

    if (path == NULL || *path == '\0')
        path = "/";
    if (o->error != NULL) {
        struct evbuffer *buf = evhttp_request_get_output_buffer(req);
        evbuffer_add_printf(buf, "{\"error\":\"bad query\",\"detail\":\"%s\"}", o->error);
        r.code = 400;
        send_reply(w, req, o, &r);
    } else if (has_prefix(path, "/api/product/", &rest)) {
        serve_item(w, req, o, CATALOGUE_PRODUCT, rest);
    } else if (has_prefix(path, "/api/price/", &rest)) {
        serve_item(w, req, o, CATALOGUE_PRICE, rest);
    } else if (has_prefix(path, "/api/reviews/", &rest)) {
        serve_item(w, req, o, CATALOGUE_REVIEWS, rest);
    } else if (has_prefix(path, "/api/recs/", &rest)) {
        serve_item(w, req, o, CATALOGUE_RECS, rest);
    } else if (strcmp(path, "/bench/2k") == 0) {
        r.body = catalogue_bench(cat);
        send_reply(w, req, o, &r);
    } else if (strcmp(path, "/api/nav") == 0) {
        r.body = catalogue_nav(cat);
        send_reply(w, req, o, &r);
    } else if (strcmp(path, "/api/footer") == 0) {
        r.body = catalogue_footer(cat);
        send_reply(w, req, o, &r);
    } else if (has_prefix(path, "/api/category/", &rest)) {
        r.body = catalogue_category(cat, rest, strlen(rest));
        if (r.body == NULL)
            send_error(w, req, o, 404, "{\"error\":\"not found\"}");
        else
            send_reply(w, req, o, &r);
    } else if (has_prefix(path, "/bench/size/", &rest)) {
        if (parse_id(rest, MAX_STREAM_BYTES, &n))
            serve_stream(w, req, o, n);
        else
            send_error(w, req, o, 400, "{\"error\":\"size: expected bytes 0..100000000\"}");
    } else if (strcmp(path, "/echo") == 0 || strncmp(path, "/echo/", 6) == 0) {
        serve_echo(w, req, o);
    } else if (has_prefix(path, "/status/", &rest)) {
        if (!parse_id(rest, 599, &n) || n < 200) {
            send_error(w, req, o, 400, "{\"error\":\"status: expected a code 200..599\"}");
        } else {
            evbuffer_add_printf(evhttp_request_get_output_buffer(req), "{\"status\":%llu}", n);
            r.code = (int)n;
            send_reply(w, req, o, &r);
        }
    } else if (strcmp(path, "/slow-headers") == 0) {
        body_static(req, "{\"slow\":true}");
        send_reply(w, req, o, &r);
    } else if (strcmp(path, "/__stats") == 0) {
        serve_stats(w, req, o);
    } else if (strcmp(path, "/") == 0) {
        r.body = catalogue_index(cat);
        send_reply(w, req, o, &r);
    } else {
        send_error(w, req, o, 404, "{\"error\":\"not found\"}");
    }
}

static const char *request_query(struct evhttp_request *req)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    return uri != NULL ? evhttp_uri_get_query(uri) : NULL;
}

static bool is_slow_headers(struct evhttp_request *req)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    return path != NULL && strcmp(path, "/slow-headers") == 0;
}

static void on_delay_done(evutil_socket_t fd, short what, void *arg)
{
    struct evhttp_request *req = arg;
    struct origin_worker *w = current_worker;
    if (w == NULL || w->magic != ORIGIN_WORKER_MAGIC)
        abort();
    struct options o;
    options_parse(&o, request_query(req), is_slow_headers(req), etag_by_default(req));
    dispatch(w, req, &o);
}

void origin__on_request(struct evhttp_request *req, void *arg)
{
    struct origin_worker *w = arg;
    if (w->magic != ORIGIN_WORKER_MAGIC)
        abort();
    pthread_once(&pattern_once, pattern_init);

    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    /* /__stats does not count itself, so tests can poll it freely. */
    if (path == NULL || strcmp(path, "/__stats") != 0) {
        atomic_fetch_add_explicit(&w->requests, 1, memory_order_relaxed);
        /* Lets a test prove that a cache revalidated (RFC 9111 4.3.1). */
        struct evkeyvalq *in = evhttp_request_get_input_headers(req);
        if (evhttp_find_header(in, "If-None-Match") != NULL ||
            evhttp_find_header(in, "If-Modified-Since") != NULL)
            atomic_fetch_add_explicit(&w->conditional, 1, memory_order_relaxed);
    }

    struct options o;
    options_parse(&o, request_query(req), is_slow_headers(req), etag_by_default(req));
    if (o.delay_ms > 0 && o.error == NULL) {
        /* A timer on the loop, never a sleep: the worker keeps serving. The
         * event is libevent's (freed after it fires, or by event_base_free). */
        struct timeval tv = {.tv_sec = (time_t)(o.delay_ms / 1000),
                             .tv_usec = (suseconds_t)(o.delay_ms % 1000) * 1000};
        if (event_base_once(w->base, -1, EV_TIMEOUT, on_delay_done, req, &tv) == 0)
            return;
        /* could not arm the timer: answer now rather than never */
    }
    dispatch(w, req, &o);
}
