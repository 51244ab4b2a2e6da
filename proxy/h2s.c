/* SPDX-License-Identifier: Apache-2.0
 *
 * h2s: HTTP/2 server sessions on nghttp2 (see h2s.h).
 *
 * Frames are produced by nghttp2_session_send() on the next loop turn after
 * something changed (send_ev), never from inside a request callback, so a stream
 * cannot be closed under up.c's feet, and frames of several streams leave in one
 * write. DATA frames use NGHTTP2_DATA_FLAG_NO_COPY: the payload moves from the
 * stream's buffer into the socket buffer without a copy. Closed streams are freed
 * on the same deferred turn.
 */
#include "h2s.h"

#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include "cc.h"
#include "log.h"
#include "util.h"
#include "worker_int.h"

#define H2_SOCK_HIGH (256 * 1024) /* stop producing frames above this much unsent */
#define H2_STREAM_HEADERS 128     /* header fields kept per request */
#define H2_RESET_BURST 200        /* client resets tolerated in a burst ... */
#define H2_RESET_RATE 100         /* ... refilled per second (rapid reset, CVE-2023-44487) */

struct h2_stream {
    unsigned magic;
#define H2_STREAM_MAGIC 0x48325354u
    struct h2s *h;
    int32_t id;
    struct req req;
    struct evbuffer *out; /* response body bytes not yet in DATA frames */
    char *hbuf;           /* request header names and values, NUL-separated */
    size_t hlen, hcap;
    struct {
        size_t name, name_len, value, value_len;
    } hv[H2_STREAM_HEADERS];
    size_t nhv;
    int pseudo[4];      /* indexes in hv of :method :path :authority :scheme, or -1 */
    size_t unconsumed;  /* request body bytes not yet acknowledged (paused) */
    uint64_t body_seen; /* request body bytes received */
    unsigned too_large : 1;
    unsigned rst_after : 1; /* reset NO_ERROR once the response is sent (RFC 9113 8.1) */
    unsigned discard : 1;   /* the request body is not wanted: drop DATA */
    unsigned dispatched : 1;
    unsigned submitted : 1; /* response head submitted */
    unsigned ended : 1;     /* no more response body will come */
    unsigned deferred : 1;  /* the data source said DEFERRED */
    unsigned body_paused : 1;
    unsigned closed : 1;
    size_t low_mark;
    unsigned notify : 1;
    TAILQ_ENTRY(h2_stream) link;
};

struct h2s {
    unsigned magic;
#define H2S_MAGIC 0x48325353u
    struct worker *w;
    struct sock *sock;
    const char *peer;
    nghttp2_session *ng;
    void (*on_close)(void *);
    void *arg;
    struct event *send_ev; /* deferred nghttp2_session_send + stream reaping */
    struct event *timer;   /* idle / stalled-send timeout */
    TAILQ_HEAD(, h2_stream) streams;
    TAILQ_HEAD(, h2_stream) dead;
    unsigned nstreams;
    double reset_tokens;
    uint64_t reset_at_ms;
    uint64_t data_sent;      /* DATA payload bytes handed to the socket */
    uint64_t data_sent_tick; /* data_sent at the previous timer tick */
    uint64_t idle_since_ms;  /* when the last stream ended */
    unsigned timer_streams;  /* the timer runs for open streams (else idle) */
    unsigned closing : 1;
    unsigned closed : 1;
    unsigned draining : 1;
};

static const struct req_ops h2_ops;
static void h2_respond(struct req *r, int status, const char *extra, const char *body,
                       int close_after);
static void h2_response_abort(struct req *r);

static struct h2_stream *stream_of(struct req *r)
{
    return (struct h2_stream *)((char *)r - offsetof(struct h2_stream, req));
}

static void schedule_send(struct h2s *h)
{
    if (!h->closed)
        event_active(h->send_ev, EV_WRITE, 0);
}

static void session_end(struct h2s *h)
{
    if (h->closing)
        return;
    h->closing = 1;
    h->on_close(h->arg);
}

/* ---- nghttp2 callbacks ---------------------------------------------------- */

static ssize_t on_send(nghttp2_session *ng, const uint8_t *data, size_t len, int flags, void *arg)
{
    struct h2s *h = arg;
    evbuffer_add(sock_out(h->sock), data, len);
    return (ssize_t)len;
}

static int on_send_data(nghttp2_session *ng, nghttp2_frame *frame, const uint8_t *framehd,
                        size_t length, nghttp2_data_source *src, void *arg)
{
    struct h2s *h = arg;
    struct h2_stream *st = src->ptr;
    struct evbuffer *out = sock_out(h->sock);
    evbuffer_add(out, framehd, 9);
    if (frame->data.padlen > 0)
        evbuffer_add(out, "\0", 1); /* we never pad; keep the header honest */
    evbuffer_remove_buffer(st->out, out, length);
    h->data_sent += length;
    if (st->notify && evbuffer_get_length(st->out) <= st->low_mark) {
        st->notify = 0;
        up__on_client_writable(&st->req);
    }
    return 0;
}

static ssize_t read_body(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *arg)
{
    struct h2_stream *st = src->ptr;
    size_t have = evbuffer_get_length(st->out);
    if (have == 0 && !st->ended) {
        st->deferred = 1;
        return NGHTTP2_ERR_DEFERRED;
    }
    size_t n = have < len ? have : len;
    *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    if (st->ended && n == have)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static int on_frame_send(nghttp2_session *ng, const nghttp2_frame *frame, void *arg)
{
    if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM) ||
        (frame->hd.type != NGHTTP2_DATA && frame->hd.type != NGHTTP2_HEADERS))
        return 0;
    struct h2_stream *st = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
    if (st != NULL && st->rst_after) {
        st->rst_after = 0;
        nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR);
    }
    return 0;
}

static struct h2_stream *stream_new(struct h2s *h, int32_t id)
{
    struct h2_stream *st = xcalloc(1, sizeof(*st));
    st->magic = H2_STREAM_MAGIC;
    st->h = h;
    st->id = id;
    st->out = evbuffer_new();
    for (int i = 0; i < 4; i++)
        st->pseudo[i] = -1;
    req__init(&st->req, h->w, &h2_ops, h->peer);
    req__begin(&st->req);
    st->req.proto = "HTTP/2.0";
    TAILQ_INSERT_TAIL(&h->streams, st, link);
    h->nstreams++;
    return st;
}

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame, void *arg)
{
    struct h2s *h = arg;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    struct h2_stream *st = stream_new(h, frame->hd.stream_id);
    nghttp2_session_set_stream_user_data(ng, frame->hd.stream_id, st);
    return 0;
}

static size_t keep(struct h2_stream *st, const uint8_t *p, size_t n)
{
    if (st->hlen + n + 1 > st->hcap) {
        st->hcap = (st->hlen + n + 1) * 2;
        st->hbuf = xrealloc(st->hbuf, st->hcap);
    }
    size_t at = st->hlen;
    memcpy(st->hbuf + at, p, n);
    st->hbuf[at + n] = '\0';
    st->hlen += n + 1;
    return at;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *arg)
{
    struct h2_stream *st = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
    if (st == NULL || frame->hd.type != NGHTTP2_HEADERS ||
        frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0; /* trailers are dropped */
    if (st->too_large)
        return 0;
    const struct cfg *c = st->req.cfg;
    if (st->hlen + namelen + valuelen + 2 > c->limits.header_size || st->nhv >= H2_STREAM_HEADERS ||
        st->nhv >= c->limits.headers) {
        st->too_large = 1; /* answered 431 once the head is complete */
        return 0;
    }
    static const char *const pseudo[4] = {":method", ":path", ":authority", ":scheme"};
    size_t i = st->nhv++;
    st->hv[i].name = keep(st, name, namelen);
    st->hv[i].name_len = namelen;
    st->hv[i].value = keep(st, value, valuelen);
    st->hv[i].value_len = valuelen;
    if (namelen > 0 && name[0] == ':') {
        for (int k = 0; k < 4; k++)
            if (namelen == strlen(pseudo[k]) && memcmp(name, pseudo[k], namelen) == 0)
                st->pseudo[k] = (int)i;
    }
    return 0;
}

/* Builds the protocol-independent head from the stream's fields. */
static void build_msg(struct h2_stream *st, struct h1_msg *m, int end_stream)
{
    memset(m, 0, offsetof(struct h1_msg, headers));
    m->num_headers = 0;
    const char *b = st->hbuf;
    m->method = b + st->hv[st->pseudo[0]].value;
    m->method_len = st->hv[st->pseudo[0]].value_len;
    if (st->pseudo[1] >= 0) {
        m->target = b + st->hv[st->pseudo[1]].value;
        m->target_len = st->hv[st->pseudo[1]].value_len;
    } else {
        m->target = "*";
        m->target_len = 1;
    }
    m->minor_version = 1;
    m->keep_alive = 1;
    int has_host = 0, has_cl = 0;
    for (size_t i = 0; i < st->nhv; i++) {
        if (st->hbuf[st->hv[i].name] == ':')
            continue;
        struct h1_header *hd = &m->headers[m->num_headers++];
        hd->name = b + st->hv[i].name;
        hd->name_len = st->hv[i].name_len;
        hd->value = b + st->hv[i].value;
        hd->value_len = st->hv[i].value_len;
        if (util_ieq(hd->name, hd->name_len, "host")) {
            has_host = 1;
            m->host = hd->value;
            m->host_len = hd->value_len;
        } else if (util_ieq(hd->name, hd->name_len, "content-length")) {
            has_cl = 1;
            m->content_length = strtoull(hd->value, NULL, 10); /* nghttp2 validated it */
        }
    }
    if (!has_host && st->pseudo[2] >= 0) {
        /* RFC 9113 8.3.1: :authority stands for Host when going to HTTP/1.1. */
        struct h1_header *hd = &m->headers[m->num_headers++];
        hd->name = "Host";
        hd->name_len = 4;
        hd->value = b + st->hv[st->pseudo[2]].value;
        hd->value_len = st->hv[st->pseudo[2]].value_len;
        m->host = hd->value;
        m->host_len = hd->value_len;
    }
    if (end_stream)
        m->body = H1_BODY_NONE;
    else if (has_cl)
        m->body = m->content_length > 0 ? H1_BODY_LENGTH : H1_BODY_NONE;
    else
        m->body = H1_BODY_CHUNKED;
}

static void dispatch(struct h2s *h, struct h2_stream *st, int end_stream)
{
    struct req *r = &st->req;
    st->dispatched = 1;
    if (st->too_large) {
        r->ops->respond(r, 431, "", "request header fields over limits.header_size", 0);
        return;
    }
    if (st->pseudo[0] < 0) {
        nghttp2_submit_rst_stream(h->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_PROTOCOL_ERROR);
        return;
    }
    struct h1_msg *m = &h->w->msg;
    build_msg(st, m, end_stream);
    req__note(r, m->method, m->method_len, m->target, m->target_len, m);
    r->tls = sock_is_tls(h->sock);
    if (m->target_len > r->cfg->limits.uri_size) {
        r->ops->respond(r, 414, "", "request-target over limits.uri_size", 0);
        return;
    }
    int no_body = m->body == H1_BODY_NONE; /* m is scratch a cache hit may reuse */
    req__dispatch(r, m);
    if (no_body && !r->body_done)
        r->body_done = 1;
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *arg)
{
    struct h2s *h = arg;
    struct h2_stream *st = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
    if (st == NULL)
        return 0;
    int end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        dispatch(h, st, end);
        return 0;
    }
    if (end && st->dispatched && !st->req.body_done && st->req.status == 0)
        up__body_end(&st->req);
    else if (end)
        st->req.body_done = 1;
    return 0;
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *arg)
{
    struct h2s *h = arg;
    struct h2_stream *st = nghttp2_session_get_stream_user_data(ng, id);
    if (st == NULL || st->discard || st->req.status != 0 || st->req.fwd.up == NULL) {
        nghttp2_session_consume(ng, id, len); /* nobody wants it */
        return 0;
    }
    st->body_seen += len;
    if (st->body_seen > st->req.cfg->limits.body_size) {
        nghttp2_session_consume(ng, id, len);
        if (st->req.fwd.resp_started)
            h2_response_abort(&st->req);
        else
            h2_respond(&st->req, 413, "", "request body over limits.body_size", 1);
        return 0;
    }
    up__body_data(&st->req, data, len);
    if (st->body_paused)
        st->unconsumed += len;
    else
        nghttp2_session_consume(ng, id, len);
    up__body_added(&st->req);
    (void)h;
    return 0;
}

static void stream_free(struct h2_stream *st)
{
    req__fini(&st->req);
    evbuffer_free(st->out);
    free(st->hbuf);
    st->magic = 0;
    free(st);
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t error, void *arg)
{
    struct h2s *h = arg;
    struct h2_stream *st = nghttp2_session_get_stream_user_data(ng, id);
    if (st == NULL)
        return 0;
    if (error != NGHTTP2_NO_ERROR && !st->ended) {
        /* Reset by the client (or refused) before we finished: rapid-reset budget. */
        uint64_t now = util_now_ms();
        h->reset_tokens += (double)(now - h->reset_at_ms) * H2_RESET_RATE / 1000.0;
        if (h->reset_tokens > H2_RESET_BURST)
            h->reset_tokens = H2_RESET_BURST;
        h->reset_at_ms = now;
        h->reset_tokens -= 1;
        if (h->reset_tokens < 0) {
            log_warn("h2", "%s: too many streams reset; closing with ENHANCE_YOUR_CALM", h->peer);
            nghttp2_session_terminate_session(ng, NGHTTP2_ENHANCE_YOUR_CALM);
        }
        if (st->req.status == 0 && st->req.in_request)
            st->req.status = 499;
    }
    if (st->req.fwd.up != NULL)
        up__abort(&st->req);
    req__end(&st->req);
    st->closed = 1;
    nghttp2_session_set_stream_user_data(ng, id, NULL);
    TAILQ_REMOVE(&h->streams, st, link);
    if (--h->nstreams == 0)
        h->idle_since_ms = util_now_ms();
    TAILQ_INSERT_TAIL(&h->dead, st, link);
    schedule_send(h);
    return 0;
}

/* ---- the request side (req_ops) -------------------------------------------- */

static void add_nv(nghttp2_nv *nv, size_t *n, const char *name, size_t nlen, const char *value,
                   size_t vlen)
{
    nv[*n].name = (uint8_t *)name;
    nv[*n].namelen = nlen;
    nv[*n].value = (uint8_t *)value;
    nv[*n].valuelen = vlen;
    nv[*n].flags = NGHTTP2_NV_FLAG_NONE;
    (*n)++;
}

static void submit(struct h2_stream *st, nghttp2_nv *nv, size_t n, int with_body)
{
    nghttp2_data_provider prd = {.source.ptr = st, .read_callback = read_body};
    int rc = nghttp2_submit_response(st->h->ng, st->id, nv, n, with_body ? &prd : NULL);
    if (rc != 0)
        log_debug("h2", "submit_response: %s", nghttp2_strerror(rc));
    st->submitted = 1;
    if (!with_body)
        st->ended = 1;
    schedule_send(st->h);
}

static void h2_response_head(struct req *r, const struct h1_msg *m)
{
    struct h2_stream *st = stream_of(r);
    if (st->closed)
        return;
    nghttp2_nv nv[H1_MAX_HEADERS_CAP + 6];
    char names[H1_MAX_HEADERS_CAP][64];
    size_t n = 0;
    char status[4];
    snprintf(status, sizeof(status), "%03d", m->status);
    add_nv(nv, &n, ":status", 7, status, 3);
    int has_date = 0;
    int framing = m->body != H1_BODY_NONE;
    char via[512];
    size_t vlen = 0;
    for (size_t i = 0; i < m->num_headers && n < H1_MAX_HEADERS_CAP; i++) {
        const struct h1_header *h = &m->headers[i];
        /* Room for this value, ", " and our own "1.1 tessera" (fuzz_h2 regression). */
        if (util_ieq(h->name, h->name_len, "via") && vlen + h->value_len + 2 + 11 < sizeof(via)) {
            memcpy(via + vlen, h->value, h->value_len);
            vlen += h->value_len;
            memcpy(via + vlen, ", ", 2);
            vlen += 2;
        }
        if (!up__pass_field(m, h, framing) || h->name_len >= sizeof(names[0]) ||
            (r->rc.active && cc_strip_field(h->name, h->name_len)))
            continue;
        /* RFC 9113 8.2.1: field names are lower case in HTTP/2. */
        for (size_t k = 0; k < h->name_len; k++)
            names[n][k] =
                (char)(h->name[k] >= 'A' && h->name[k] <= 'Z' ? h->name[k] + 32 : h->name[k]);
        if (util_ieq(h->name, h->name_len, "date"))
            has_date = 1;
        add_nv(nv, &n, names[n], h->name_len, h->value, h->value_len);
    }
    memcpy(via + vlen, "1.1 tessera", 11);
    vlen += 11;
    add_nv(nv, &n, "via", 3, via, vlen);
    char age[24];
    if (r->age >= 0) {
        int al = snprintf(age, sizeof(age), "%lld", (long long)r->age);
        add_nv(nv, &n, "age", 3, age, (size_t)al);
    }
    if (r->cache_status[0] != '\0')
        add_nv(nv, &n, "cache-status", 12, r->cache_status, strlen(r->cache_status));
    const char *date = worker__date(r->w);
    if (!has_date)
        add_nv(nv, &n, "date", 4, date, strlen(date));
    char cl[24];
    if (m->body == H1_BODY_LENGTH) {
        int l = snprintf(cl, sizeof(cl), "%llu", (unsigned long long)m->content_length);
        add_nv(nv, &n, "content-length", 14, cl, (size_t)l);
    }
    int with_body = !r->head_method && m->body != H1_BODY_NONE;
    submit(st, nv, n, with_body);
}

static void h2_response_body(struct req *r, struct evbuffer *src, size_t n)
{
    struct h2_stream *st = stream_of(r);
    if (st->closed) {
        evbuffer_drain(src, n);
        return;
    }
    evbuffer_remove_buffer(src, st->out, n);
    r->bytes_out += n;
    if (st->deferred) {
        st->deferred = 0;
        nghttp2_session_resume_data(st->h->ng, st->id);
    }
    schedule_send(st->h);
}

static void h2_response_end(struct req *r)
{
    struct h2_stream *st = stream_of(r);
    st->ended = 1;
    if (st->closed)
        return;
    if (st->deferred) {
        st->deferred = 0;
        nghttp2_session_resume_data(st->h->ng, st->id);
    }
    schedule_send(st->h);
}

static void h2_response_abort(struct req *r)
{
    struct h2_stream *st = stream_of(r);
    if (st->closed)
        return;
    nghttp2_submit_rst_stream(st->h->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
    schedule_send(st->h);
}

static void h2_respond(struct req *r, int status, const char *extra, const char *body,
                       int close_after)
{
    struct h2_stream *st = stream_of(r);
    if (st->closed || st->submitted)
        return;
    if (r->fwd.up != NULL)
        up__abort(r);
    r->status = status;
    nghttp2_nv nv[8];
    size_t n = 0;
    char sbuf[4], lbuf[24];
    snprintf(sbuf, sizeof(sbuf), "%03d", status);
    add_nv(nv, &n, ":status", 7, sbuf, 3);
    add_nv(nv, &n, "server", 6, "tessera", 7);
    const char *date = worker__date(r->w);
    add_nv(nv, &n, "date", 4, date, strlen(date));
    add_nv(nv, &n, "content-type", 12, "text/plain; charset=utf-8", 25);
    size_t blen = strlen(body);
    int l = snprintf(lbuf, sizeof(lbuf), "%zu", blen ? blen + 1 : 0);
    add_nv(nv, &n, "content-length", 14, lbuf, (size_t)l);
    if (strncmp(extra, "Allow: ", 7) == 0) {
        const char *v = extra + 7;
        add_nv(nv, &n, "allow", 5, v, strcspn(v, "\r\n"));
    }
    if (blen > 0 && !r->head_method) {
        evbuffer_add(st->out, body, blen);
        evbuffer_add(st->out, "\n", 1);
        r->bytes_out += blen + 1;
    }
    st->ended = 1;
    submit(st, nv, n, blen > 0 && !r->head_method);
    if (!r->body_done) {
        /* The rest of the body is not wanted: once the whole response is out, a
         * RST_STREAM(NO_ERROR) tells the client to stop sending (RFC 9113 8.1);
         * until then its DATA is consumed and dropped. */
        st->discard = 1;
        st->rst_after = 1;
    }
}

static size_t h2_pending(struct req *r)
{
    return evbuffer_get_length(stream_of(r)->out);
}

static void h2_notify_below(struct req *r, size_t low)
{
    struct h2_stream *st = stream_of(r);
    st->low_mark = low;
    st->notify = 1;
}

static void h2_pause_body(struct req *r, int paused)
{
    struct h2_stream *st = stream_of(r);
    st->body_paused = paused != 0;
    if (!paused && st->unconsumed > 0 && !st->closed) {
        /* Flow control is the back-pressure: the window opens as the origin reads. */
        nghttp2_session_consume(st->h->ng, st->id, st->unconsumed);
        st->unconsumed = 0;
        schedule_send(st->h);
    }
}

static const struct req_ops h2_ops = {
    .response_head = h2_response_head,
    .response_body = h2_response_body,
    .response_end = h2_response_end,
    .response_abort = h2_response_abort,
    .respond = h2_respond,
    .pending = h2_pending,
    .notify_below = h2_notify_below,
    .pause_body = h2_pause_body,
};

/* ---- the connection ------------------------------------------------------- */

/* One timer serves both checks: with no stream open, the connection is idle and
 * closes timeouts.keepalive after its last stream ended; with streams open, a
 * tick (timeouts.send) with response data waiting and none sent closes it. Frames
 * the client sends (PING, SETTINGS) refresh neither. */
static void arm_timer(struct h2s *h)
{
    const struct cfg *c = h->w->cfg;
    uint64_t ms = c->timeouts.send_ms;
    h->timer_streams = h->nstreams > 0;
    if (h->nstreams == 0) {
        uint64_t idle = util_now_ms() - h->idle_since_ms;
        ms = idle < c->timeouts.keepalive_ms ? c->timeouts.keepalive_ms - idle : 1;
    }
    struct timeval tv = util_ms_tv(ms);
    evtimer_add(h->timer, &tv);
}

static void check_end(struct h2s *h)
{
    if (!nghttp2_session_want_read(h->ng) && !nghttp2_session_want_write(h->ng) &&
        evbuffer_get_length(sock_out(h->sock)) == 0)
        session_end(h);
}

static void do_send(struct h2s *h)
{
    if (h->closed)
        return;
    while (evbuffer_get_length(sock_out(h->sock)) < H2_SOCK_HIGH &&
           nghttp2_session_want_write(h->ng)) {
        size_t before = evbuffer_get_length(sock_out(h->sock));
        int rc = nghttp2_session_send(h->ng);
        if (rc != 0) {
            log_debug("h2", "%s: send: %s", h->peer, nghttp2_strerror(rc));
            session_end(h);
            return;
        }
        if (evbuffer_get_length(sock_out(h->sock)) == before)
            break;
    }
    sock_write(h->sock);
    check_end(h);
}

static void on_send_ev(evutil_socket_t fd, short what, void *arg)
{
    struct h2s *h = arg;
    struct h2_stream *st;
    while ((st = TAILQ_FIRST(&h->dead)) != NULL) {
        TAILQ_REMOVE(&h->dead, st, link);
        stream_free(st);
    }
    do_send(h);
    /* Re-armed only when it is not running for the current mode (idle or
     * streams open), so client frames cannot keep pushing it back. */
    if (!h->closed && (!evtimer_pending(h->timer, NULL) || h->timer_streams != (h->nstreams > 0)))
        arm_timer(h);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct h2s *h = arg;
    int blocked = 0;
    struct h2_stream *st;
    TAILQ_FOREACH(st, &h->streams, link)
    {
        if (evbuffer_get_length(st->out) > 0)
            blocked = 1;
    }
    if (h->nstreams == 0 && util_now_ms() - h->idle_since_ms >= h->w->cfg->timeouts.keepalive_ms) {
        log_debug("h2", "%s: idle for timeouts.keepalive; closing", h->peer);
        nghttp2_session_terminate_session(h->ng, NGHTTP2_NO_ERROR);
        do_send(h);
        session_end(h);
        return;
    }
    int stalled = h->nstreams > 0 && blocked && h->data_sent == h->data_sent_tick;
    h->data_sent_tick = h->data_sent;
    if (stalled) {
        /* A client that keeps its window at zero does not hold us forever. */
        log_info("h2", "%s: no progress sending for timeouts.send; closing", h->peer);
        session_end(h);
        return;
    }
    arm_timer(h);
}

struct h2s *h2s_new(struct worker *w, struct sock *s, const char *peer, void (*on_close)(void *),
                    void *arg)
{
    struct h2s *h = xcalloc(1, sizeof(*h));
    h->magic = H2S_MAGIC;
    h->w = w;
    h->sock = s;
    h->peer = peer;
    h->on_close = on_close;
    h->arg = arg;
    TAILQ_INIT(&h->streams);
    TAILQ_INIT(&h->dead);
    h->reset_tokens = H2_RESET_BURST;
    h->reset_at_ms = h->idle_since_ms = util_now_ms();
    nghttp2_session_callbacks *cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_send_callback(cb, on_send);
    nghttp2_session_callbacks_set_send_data_callback(cb, on_send_data);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
    nghttp2_option *opt;
    nghttp2_option_new(&opt);
    nghttp2_option_set_no_auto_window_update(opt, 0);
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_max_outbound_ack(opt, 1000); /* SETTINGS/PING floods */
    nghttp2_option_set_max_settings(opt, 32);       /* entries per SETTINGS frame */
    /* nghttp2's own limit is the backstop; ours, tighter, answers ENHANCE_YOUR_CALM. */
    nghttp2_option_set_stream_reset_rate_limit(opt, 4 * H2_RESET_BURST, 4 * H2_RESET_RATE);
    int rc = nghttp2_session_server_new2(&h->ng, cb, h, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    if (rc != 0) {
        free(h);
        return NULL;
    }
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, w->cfg->http2.max_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, (uint32_t)w->cfg->http2.initial_window},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)w->cfg->limits.header_size},
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
    };
    nghttp2_submit_settings(h->ng, NGHTTP2_FLAG_NONE, iv, ARRAY_SIZE(iv));
    h->send_ev = event_new(w->base, -1, 0, on_send_ev, h);
    h->timer = evtimer_new(w->base, on_timer, h);
    schedule_send(h);
    return h;
}

void h2s_on_read(struct h2s *h)
{
    if (h->closed || h->closing)
        return;
    struct evbuffer *in = sock_in(h->sock);
    while (evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        ssize_t n = nghttp2_session_mem_recv(h->ng, v.iov_base, v.iov_len);
        if (n < 0) {
            log_debug("h2", "%s: %s", h->peer, nghttp2_strerror((int)n));
            /* nghttp2 queued a GOAWAY for protocol errors and floods: send it. */
            do_send(h);
            session_end(h);
            return;
        }
        evbuffer_drain(in, (size_t)n);
    }
    schedule_send(h);
}

void h2s_on_drained(struct h2s *h)
{
    if (!h->closed)
        schedule_send(h);
}

void h2s_on_event(struct h2s *h, enum sock_event ev)
{
    if (ev == SOCK_WRITE_TIMEOUT)
        log_info("h2", "%s: client not reading for timeouts.send; closing", h->peer);
    session_end(h);
}

void h2s_drain(struct h2s *h)
{
    if (h->draining || h->closed)
        return;
    h->draining = 1;
    /* RFC 9113 6.8: streams up to the last one we took still complete. */
    nghttp2_submit_goaway(h->ng, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(h->ng),
                          NGHTTP2_NO_ERROR, NULL, 0);
    schedule_send(h);
}

void h2s_close(struct h2s *h)
{
    if (h->closed)
        return;
    h->closing = 1;
    struct h2_stream *st;
    while ((st = TAILQ_FIRST(&h->streams)) != NULL) {
        if (st->req.in_request && st->req.status == 0)
            st->req.status = 499;
        if (st->req.fwd.up != NULL)
            up__abort(&st->req);
        req__end(&st->req);
        st->closed = 1;
        TAILQ_REMOVE(&h->streams, st, link);
        TAILQ_INSERT_TAIL(&h->dead, st, link);
    }
    h->nstreams = 0;
    h->closed = 1;
    event_del(h->send_ev);
    evtimer_del(h->timer);
}

void h2s_free(struct h2s *h)
{
    h2s_close(h);
    struct h2_stream *st;
    while ((st = TAILQ_FIRST(&h->dead)) != NULL) {
        TAILQ_REMOVE(&h->dead, st, link);
        stream_free(st);
    }
    nghttp2_session_del(h->ng);
    event_free(h->send_ev);
    event_free(h->timer);
    h->magic = 0;
    free(h);
}
