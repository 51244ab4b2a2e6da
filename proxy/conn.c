/* SPDX-License-Identifier: Apache-2.0
 *
 * conn: a client connection. It starts as HTTP/1.1 (or TLS, then whatever ALPN
 * chose); the HTTP/2 connection preface, or ALPN "h2", hands it to h2s.c.
 *
 * For HTTP/1.1 it reads and parses request heads, hands them to req.c and relays
 * request bodies; it writes response heads and bodies (re-chunked when needed)
 * and locally made responses. One request is served at a time: pipelined
 * requests wait in the input buffer, so responses leave in request order
 * (RFC 9112 9.3.2). The input limit bounds what a client can make us buffer.
 *
 * Ownership: the worker owns the conn; conn__close() is idempotent and puts the
 * conn on the worker's dead list, freed on the next loop turn, so callbacks up
 * the stack may still look at it (state CONN_CLOSED) but must not use it.
 * Thread: the owning worker's.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc.h"
#include "h2s.h"
#include "log.h"
#include "sock.h"
#include "util.h"
#include "worker_int.h"

#define BODY_CHUNK_HEAD_MAX 24
#define H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_PREFACE_LEN 24

static const char *const state_names[] = {"idle",       "read-head", "proxy",
                                          "send-local", "flush",     "closed"};

static const struct req_ops h1_ops;

static struct conn *conn_of(struct req *r)
{
    return (struct conn *)((char *)r - offsetof(struct conn, req));
}

static void set_state(struct conn *c, enum conn_state s)
{
    log_debug("conn", "w%u r%llu: %s -> %s", c->w->id, (unsigned long long)c->req.id,
              state_names[c->state], state_names[s]);
    c->state = s;
}

static void arm_timer(struct conn *c, uint64_t ms)
{
    struct timeval tv = util_ms_tv(ms);
    evtimer_add(c->timer, &tv);
}

static void set_read_timeout(struct conn *c, uint64_t ms)
{
    const struct cfg *g = c->req.cfg ? c->req.cfg : c->w->cfg;
    sock_set_timeouts(c->sock, ms, g->timeouts.send_ms);
}

static void enter_idle(struct conn *c)
{
    set_state(c, CONN_IDLE);
    arm_timer(c, c->w->cfg->timeouts.keepalive_ms);
}

static void schedule_next(struct conn *c);

/* The response is complete (queued to the output): log it and go on with the
 * next request, or close once the output is written. */
static void finish_response(struct conn *c)
{
    req__end(&c->req);
    if (c->close_after || !c->keep_alive || c->w->draining) {
        set_state(c, CONN_FLUSH);
        sock_pause_read(c->sock, 1);
        if (evbuffer_get_length(sock_out(c->sock)) == 0)
            conn__close(c);
        return;
    }
    enter_idle(c);
    set_read_timeout(c, 0);
    sock_set_low_mark(c->sock, 0);
    sock_pause_read(c->sock, 0);
    sock_read_more(c->sock);
    if (evbuffer_get_length(sock_in(c->sock)) > 0)
        schedule_next(c); /* pipelined: parsed on the next loop turn */
}

static void exchange_done(struct conn *c, int abort_client)
{
    if (c->state == CONN_CLOSED)
        return;
    if (abort_client) {
        /* The response was cut short after its head was sent: the only way to
         * tell the client is to close (RFC 9112 8). */
        c->close_after = 1;
        c->req.status = c->req.status ? c->req.status : 502;
        req__end(&c->req);
        conn__close(c);
        return;
    }
    if (!c->req.body_done)
        c->close_after = 1; /* the rest of the request body was not read */
    finish_response(c);
}

/* A locally made response; `extra` holds further header lines ("Name: v\r\n").
 * The request ends once the response is written (on_drained or on_next), never
 * from inside this call, so callers may go on using the head they parsed. */
static void h1_respond(struct req *r, int status, const char *extra, const char *body,
                       int close_after)
{
    struct conn *c = conn_of(r);
    if (c->state == CONN_CLOSED)
        return;
    if (r->fwd.up != NULL)
        up__abort(r);
    if (!r->body_done)
        close_after = 1;
    c->close_after |= close_after;
    r->status = status;
    size_t blen = strlen(body);
    struct evbuffer *out = sock_out(c->sock);
    size_t before = evbuffer_get_length(out);
    evbuffer_add_printf(out,
                        "HTTP/1.1 %d %s\r\nServer: tessera\r\nDate: %s\r\n%s"
                        "Content-Type: text/plain; charset=utf-8\r\nContent-Length: %zu\r\n%s\r\n",
                        status, req__reason(status), worker__date(c->w), extra, blen ? blen + 1 : 0,
                        (c->close_after || !c->keep_alive) ? "Connection: close\r\n" : "");
    if (!r->head_method && blen > 0) {
        evbuffer_add(out, body, blen);
        evbuffer_add(out, "\n", 1);
    }
    r->bytes_out += evbuffer_get_length(out) - before;
    set_read_timeout(c, 0);
    evtimer_del(c->timer);
    set_state(c, CONN_SEND_LOCAL);
    sock_write(c->sock);
    if (evbuffer_get_length(out) == 0)
        schedule_next(c);
}

/* The client's response head for the origin's head m (RFC 9112 6, 9110 7.6). */
/* A response head is written in one piece into space reserved in the output
 * buffer (its size bounded first): one evbuffer call, no printf. */
struct hbuf {
    char *p;
    size_t len;
};

static void hb_add(struct hbuf *b, const void *s, size_t n)
{
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

#define HB_LIT(b, s) hb_add((b), (s), sizeof(s) - 1)

static void hb_u64(struct hbuf *b, uint64_t v)
{
    char t[20];
    size_t i = sizeof(t);
    do {
        t[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    hb_add(b, t + i, sizeof(t) - i);
}

static void hb_field(struct hbuf *b, const char *name, size_t nlen, const char *v, size_t vlen)
{
    hb_add(b, name, nlen);
    HB_LIT(b, ": ");
    hb_add(b, v, vlen);
    HB_LIT(b, "\r\n");
}

/* Age and Cache-Status of a cached route's response. */
static void hb_cache_fields(struct hbuf *b, const struct req *r)
{
    if (r->age >= 0) {
        HB_LIT(b, "Age: ");
        hb_u64(b, (uint64_t)r->age);
        HB_LIT(b, "\r\n");
    }
    if (r->cache_status[0] != '\0')
        hb_field(b, "Cache-Status", 12, r->cache_status, strlen(r->cache_status));
}

/* Connection: close when this is the last response, the empty line, and the
 * head committed to the output buffer. */
static void hb_finish(struct hbuf *b, struct conn *c, struct req *r, struct evbuffer *out,
                      struct evbuffer_iovec *vec)
{
    if (c->close_after || !c->keep_alive || c->w->draining)
        HB_LIT(b, "Connection: close\r\n");
    HB_LIT(b, "\r\n");
    vec->iov_len = b->len;
    evbuffer_commit_space(out, vec, 1);
    r->bytes_out += b->len;
}

static void h1_response_head(struct req *r, const struct h1_msg *m)
{
    struct conn *c = conn_of(r);
    struct evbuffer *out = sock_out(c->sock);
    int framing = m->body != H1_BODY_NONE;
    /* Upper bound: the fields as received plus what is added below. */
    size_t cap = 512 + m->reason_len + sizeof(r->cache_status);
    for (size_t i = 0; i < m->num_headers; i++)
        cap += m->headers[i].name_len + m->headers[i].value_len + 6;
    struct evbuffer_iovec vec;
    if (evbuffer_reserve_space(out, (ev_ssize_t)cap, &vec, 1) < 1 || vec.iov_len < cap) {
        r->ops->respond(r, 500, "", "out of memory", 1);
        return;
    }
    struct hbuf b = {vec.iov_base, 0};
    HB_LIT(&b, "HTTP/1.1 ");
    hb_u64(&b, (uint64_t)(m->status > 0 ? m->status : 0));
    HB_LIT(&b, " ");
    hb_add(&b, m->reason, m->reason_len);
    HB_LIT(&b, "\r\n");
    int has_date = 0, has_cl = 0, nvia = 0;
    for (size_t i = 0; i < m->num_headers; i++) {
        const struct h1_header *h = &m->headers[i];
        if (h->name_len == 3 && util_ieq(h->name, 3, "via")) {
            nvia++; /* extended below */
            continue;
        }
        if (!up__pass_field(m, h, framing) ||
            (r->rc.active && cc_strip_field(h->name, h->name_len)))
            continue;
        if (util_ieq(h->name, h->name_len, "date"))
            has_date = 1;
        else if (util_ieq(h->name, h->name_len, "content-length"))
            has_cl = 1;
        hb_field(&b, h->name, h->name_len, h->value, h->value_len);
    }
    if (!has_date) {
        const char *d = worker__date(c->w);
        hb_field(&b, "Date", 4, d, strlen(d));
    }
    HB_LIT(&b, "Via: ");
    for (size_t i = 0; nvia > 0 && i < m->num_headers; i++) {
        const struct h1_header *h = &m->headers[i];
        if (h->name_len == 3 && util_ieq(h->name, 3, "via")) {
            hb_add(&b, h->value, h->value_len);
            HB_LIT(&b, ", ");
        }
    }
    HB_LIT(&b, "1.1 tessera\r\n");
    hb_cache_fields(&b, r);
    c->chunked_out = 0;
    switch (m->body) {
    case H1_BODY_LENGTH:
        HB_LIT(&b, "Content-Length: ");
        hb_u64(&b, m->content_length);
        HB_LIT(&b, "\r\n");
        break;
    case H1_BODY_CHUNKED:
    case H1_BODY_UNTIL_CLOSE:
        if (c->minor_version >= 1) {
            HB_LIT(&b, "Transfer-Encoding: chunked\r\n");
            c->chunked_out = 1;
        } else {
            c->close_after = 1; /* an HTTP/1.0 client reads until we close */
        }
        break;
    case H1_BODY_NONE:
        if (!has_cl && !r->head_method && m->status != 204 && m->status != 304)
            HB_LIT(&b, "Content-Length: 0\r\n");
        break;
    }
    hb_finish(&b, c, r, out, &vec);
}

/* A stored head from the cache, written as it is (rcache.c made it: status
 * line, end-to-end fields with Date, Content-Length, the empty line), with the
 * fields of this response added before the empty line. */
static void h1_stored_head(struct req *r, const char *head, size_t len)
{
    struct conn *c = conn_of(r);
    struct evbuffer *out = sock_out(c->sock);
    size_t cap = len + 128 + sizeof(r->cache_status);
    struct evbuffer_iovec vec;
    if (len < 4 || evbuffer_reserve_space(out, (ev_ssize_t)cap, &vec, 1) < 1 || vec.iov_len < cap) {
        r->ops->respond(r, 500, "", "out of memory", 1);
        return;
    }
    struct hbuf b = {vec.iov_base, 0};
    hb_add(&b, head, len - 2);
    HB_LIT(&b, "Via: 1.1 tessera\r\n");
    hb_cache_fields(&b, r);
    c->chunked_out = 0;
    hb_finish(&b, c, r, out, &vec);
}

static void h1_response_body(struct req *r, struct evbuffer *src, size_t n)
{
    struct conn *c = conn_of(r);
    struct evbuffer *out = sock_out(c->sock);
    if (n == 0)
        return;
    if (c->chunked_out) {
        char hdr[BODY_CHUNK_HEAD_MAX];
        int hl = snprintf(hdr, sizeof(hdr), "%zx\r\n", n);
        evbuffer_add(out, hdr, (size_t)hl);
    }
    evbuffer_remove_buffer(src, out, n);
    if (c->chunked_out)
        evbuffer_add(out, "\r\n", 2);
    r->bytes_out += n;
    sock_write(c->sock);
}

static void h1_response_end(struct req *r)
{
    struct conn *c = conn_of(r);
    if (c->chunked_out) {
        evbuffer_add(sock_out(c->sock), "0\r\n\r\n", 5);
        r->bytes_out += 5;
    }
    sock_write(c->sock);
    exchange_done(c, 0);
}

static void h1_response_abort(struct req *r)
{
    exchange_done(conn_of(r), 1);
}

static size_t h1_pending(struct req *r)
{
    return evbuffer_get_length(sock_out(conn_of(r)->sock));
}

static void h1_notify_below(struct req *r, size_t low)
{
    sock_set_low_mark(conn_of(r)->sock, low);
}

static void body_to_upstream(struct conn *c);

static void h1_pause_body(struct req *r, int paused)
{
    struct conn *c = conn_of(r);
    sock_pause_read(c->sock, paused);
    if (!paused && evbuffer_get_length(sock_in(c->sock)) > 0)
        body_to_upstream(c);
}

static const struct req_ops h1_ops = {
    .response_head = h1_response_head,
    .stored_head = h1_stored_head,
    .response_body = h1_response_body,
    .response_end = h1_response_end,
    .response_abort = h1_response_abort,
    .respond = h1_respond,
    .pending = h1_pending,
    .notify_below = h1_notify_below,
    .pause_body = h1_pause_body,
};

static void send_continue(struct conn *c)
{
    if (c->minor_version >= 1 && evbuffer_get_length(sock_in(c->sock)) == 0) {
        evbuffer_add(sock_out(c->sock), "HTTP/1.1 100 Continue\r\n\r\n", 25);
        sock_write(c->sock);
    }
}

/* A complete head is at the front of the input buffer. */
static void start_request(struct conn *c, const struct h1_msg *m)
{
    struct req *r = &c->req;
    evtimer_del(c->timer);
    set_state(c, CONN_PROXY);
    req__note(r, m->method, m->method_len, m->target, m->target_len, m);
    r->tls = sock_is_tls(c->sock);
    r->proto = m->minor_version ? "HTTP/1.1" : "HTTP/1.0";
    c->minor_version = m->minor_version;
    c->keep_alive = m->keep_alive && !c->w->draining;
    c->expect_continue = m->expect_continue;
    c->req_body_chunked = m->body == H1_BODY_CHUNKED;
    c->req_body_remaining = m->body == H1_BODY_LENGTH ? m->content_length : 0;
    c->req_body_seen = 0;
    if (c->req_body_chunked)
        h1_chunked_init(&c->req_chunk);
    size_t head_len = m->head_len; /* m is scratch a cache hit may reuse */
    req__dispatch(r, m);
    evbuffer_drain(sock_in(c->sock), head_len);
    if (c->state != CONN_PROXY || r->status != 0)
        return;
    if (!r->body_done) {
        if (c->expect_continue)
            send_continue(c);
        set_read_timeout(c, r->cfg->timeouts.body_ms);
        body_to_upstream(c);
    }
}

static int is_h2_preface(struct evbuffer *in)
{
    size_t len = evbuffer_get_length(in);
    size_t n = len < H2_PREFACE_LEN ? len : H2_PREFACE_LEN;
    const unsigned char *p = evbuffer_pullup(in, (ev_ssize_t)n);
    if (memcmp(p, H2_PREFACE, n) != 0)
        return 0;
    return len >= H2_PREFACE_LEN ? 1 : -1; /* -1: a prefix of it, wait */
}

static void on_h2_closed(void *arg)
{
    conn__close(arg);
}

static void switch_to_h2(struct conn *c)
{
    evtimer_del(c->timer);
    set_state(c, CONN_PROXY);
    sock_set_input_limit(c->sock, 0); /* nghttp2 consumes all it reads */
    c->h2 = h2s_new(c->w, c->sock, c->peer, on_h2_closed, c);
    if (c->h2 == NULL) {
        conn__close(c);
        return;
    }
    h2s_on_read(c->h2); /* the preface and what followed it */
}

static void try_parse(struct conn *c)
{
    struct worker *w = c->w;
    struct evbuffer *in = sock_in(c->sock);
    size_t len = evbuffer_get_length(in);
    if (len == 0)
        return;
    if (c->state == CONN_IDLE) {
        if (c->req.id == 0 && !sock_is_tls(c->sock)) {
            /* h2c with prior knowledge (RFC 9113 3.3) on the first request only. */
            int pre = is_h2_preface(in);
            if (pre == 1) {
                switch_to_h2(c);
                return;
            }
            if (pre == -1)
                return;
        }
        set_state(c, CONN_READ_HEAD);
        evtimer_del(c->timer);
        arm_timer(c, w->cfg->timeouts.header_ms);
        req__begin(&c->req);
        c->close_after = 0;
        c->keep_alive = 0;
        c->minor_version = 1;
    }
    struct h1_limits lim = {
        .max_head = w->cfg->limits.header_size,
        .max_uri = w->cfg->limits.uri_size,
        .max_headers = w->cfg->limits.headers,
    };
    size_t n = len < lim.max_head + 1 ? len : lim.max_head + 1;
    const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
    int rc = h1_parse_request(p, n, &lim, &w->msg);
    if (rc == H1_NEED_MORE)
        return;
    if (rc < 0) {
        log_debug("conn", "w%u r%llu: %s: %s", w->id, (unsigned long long)c->req.id, c->peer,
                  h1_strerror(rc));
        evbuffer_drain(in, len);
        h1_respond(&c->req, h1_err_status(rc), "", h1_strerror(rc), 1);
        return;
    }
    start_request(c, &w->msg);
}

/* Chunked request body: decoded and re-chunked upstream, so the origin sees
 * framing we validated (never the client's bytes as they came). */
#define BODY_OVER_LIMIT (-1000)

static int chunk_to_sink(void *arg, const char *p, size_t n)
{
    struct conn *c = arg;
    c->req_body_seen += n;
    if (c->req_body_seen > c->req.cfg->limits.body_size)
        return BODY_OVER_LIMIT;
    struct evbuffer *sink = up__body_sink(&c->req);
    char hdr[BODY_CHUNK_HEAD_MAX];
    int hl = snprintf(hdr, sizeof(hdr), "%zx\r\n", n);
    evbuffer_add(sink, hdr, (size_t)hl);
    evbuffer_add(sink, p, n);
    evbuffer_add(sink, "\r\n", 2);
    return 0;
}

static int relay_chunked(struct conn *c, struct evbuffer *in, struct evbuffer *sink)
{
    int rc = h1_chunked_drain(&c->req_chunk, in, chunk_to_sink, c);
    if (rc == H1_OK) {
        evbuffer_add(sink, "0\r\n\r\n", 5);
        c->req.body_done = 1;
        return 0;
    }
    return rc == H1_NEED_MORE ? 0 : rc;
}

static void body_to_upstream(struct conn *c)
{
    struct req *r = &c->req;
    struct evbuffer *in = sock_in(c->sock);
    struct evbuffer *sink = up__body_sink(r);
    if (sink == NULL || r->body_done)
        return;
    if (c->req_body_chunked) {
        int rc = relay_chunked(c, in, sink);
        if (rc < 0) {
            int over = rc == BODY_OVER_LIMIT;
            r->body_done = 1; /* nothing more will be read: we close */
            if (r->fwd.resp_started) {
                exchange_done(c, 1);
                return;
            }
            h1_respond(r, over ? 413 : 400, "",
                       over ? "request body over limits.body_size" : h1_strerror(rc), 1);
            return;
        }
    } else {
        size_t n = evbuffer_get_length(in);
        if (n > c->req_body_remaining)
            n = c->req_body_remaining;
        if (n > 0) {
            evbuffer_remove_buffer(in, sink, n);
            c->req_body_remaining -= n;
            c->req_body_seen += n;
        }
        if (c->req_body_remaining == 0)
            r->body_done = 1;
    }
    if (r->body_done)
        set_read_timeout(c, 0);
    up__body_added(r);
}

static void on_read(struct sock *so, void *arg)
{
    struct conn *c = arg;
    if (c->magic != CONN_MAGIC)
        abort();
    switch (c->state) {
    case CONN_IDLE:
    case CONN_READ_HEAD: try_parse(c); break;
    case CONN_PROXY:
        if (c->h2 != NULL)
            h2s_on_read(c->h2);
        else if (!c->req.body_done)
            body_to_upstream(c);
        break;
    default: break; /* pipelined bytes wait for the current response */
    }
}

static void on_drained(struct sock *so, void *arg)
{
    struct conn *c = arg;
    if (c->h2 != NULL) {
        h2s_on_drained(c->h2);
        return;
    }
    switch (c->state) {
    case CONN_PROXY:
        sock_set_low_mark(so, 0);
        up__on_client_writable(&c->req);
        break;
    case CONN_SEND_LOCAL:
        if (evbuffer_get_length(sock_out(so)) == 0)
            finish_response(c);
        break;
    case CONN_FLUSH:
        if (evbuffer_get_length(sock_out(so)) == 0)
            conn__close(c);
        break;
    default: break;
    }
}

static void on_connected(struct sock *so, void *arg)
{
    /* The TLS handshake is done: ALPN decides the protocol (RFC 7301). */
    struct conn *c = arg;
    const char *alpn = sock_alpn(so);
    if (alpn != NULL && strcmp(alpn, "h2") == 0)
        switch_to_h2(c);
}

static void on_event(struct sock *so, void *arg, enum sock_event ev)
{
    struct conn *c = arg;
    if (c->h2 != NULL) {
        h2s_on_event(c->h2, ev);
        return;
    }
    if (ev == SOCK_EOF) {
        /* The client half-closed. A request already read is still answered. */
        if ((c->state == CONN_PROXY && c->req.body_done) || c->state == CONN_SEND_LOCAL ||
            c->state == CONN_FLUSH) {
            c->close_after = 1;
            return;
        }
    }
    if (ev == SOCK_READ_TIMEOUT && c->state == CONN_PROXY && !c->req.fwd.resp_started) {
        h1_respond(&c->req, 408, "", "request body not received within timeouts.body", 1);
        return;
    }
    if (c->req.in_request && c->req.status == 0)
        c->req.status = 499; /* client went away before the response */
    req__end(&c->req);
    conn__close(c);
}

static void on_next(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    if (c->state == CONN_IDLE)
        try_parse(c);
    else if (c->state == CONN_SEND_LOCAL && evbuffer_get_length(sock_out(c->sock)) == 0)
        finish_response(c);
}

/* Work for the next loop turn: the next pipelined request, or the end of a local
 * response, so that neither recurses. */
static void schedule_next(struct conn *c)
{
    if (c->next_ev == NULL)
        c->next_ev = event_new(c->w->base, -1, 0, on_next, c);
    event_active(c->next_ev, EV_READ, 0);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    if (c->state == CONN_READ_HEAD) {
        evbuffer_drain(sock_in(c->sock), (size_t)-1);
        h1_respond(&c->req, 408, "", "request head not received within timeouts.header", 1);
        return;
    }
    conn__close(c);
}

static const struct sock_cbs conn_cbs = {
    .on_read = on_read,
    .on_drained = on_drained,
    .on_connected = on_connected,
    .on_event = on_event,
};

void conn__accept(struct worker *w, evutil_socket_t fd, struct sockaddr *sa, int salen,
                  struct tls_ctx *tls)
{
    struct conn *c = xcalloc(1, sizeof(*c));
    c->magic = CONN_MAGIC;
    c->w = w;
    c->state = CONN_IDLE;
    req__init(&c->req, w, &h1_ops, c->peer);
    const void *ip = sa->sa_family == AF_INET6
                         ? (const void *)&((struct sockaddr_in6 *)sa)->sin6_addr
                         : (const void *)&((struct sockaddr_in *)sa)->sin_addr;
    evutil_inet_ntop(sa->sa_family, ip, c->peer, sizeof(c->peer));
    c->sock = sock_new(w->base, fd, &conn_cbs, c);
    c->timer = evtimer_new(w->base, on_timer, c);
    if (c->sock == NULL || c->timer == NULL || (tls != NULL && sock_tls_accept(c->sock, tls) < 0)) {
        log_err("conn", "out of memory for a connection");
        if (c->sock == NULL)
            evutil_closesocket(fd);
        sock_free(c->sock);
        if (c->timer != NULL)
            event_free(c->timer);
        free(c);
        return;
    }
    /* Reading pauses while this much is buffered and unparsed (pipelined requests,
     * a body the origin reads slowly): the client's bytes wait in the kernel. */
    size_t high = w->cfg->limits.header_size + 1 > 65536 ? w->cfg->limits.header_size + 1 : 65536;
    sock_set_input_limit(c->sock, high);
    TAILQ_INSERT_TAIL(&w->conns, c, link);
    w->nconns++;
    enter_idle(c);
    set_read_timeout(c, 0);
}

void conn__close(struct conn *c)
{
    if (c->state == CONN_CLOSED)
        return;
    if (c->h2 != NULL)
        h2s_close(c->h2);
    if (c->req.fwd.up != NULL)
        up__abort(&c->req);
    if (c->req.in_request)
        req__end(&c->req);
    set_state(c, CONN_CLOSED);
    evtimer_del(c->timer);
    sock_close(c->sock);
    if (c->next_ev != NULL)
        event_del(c->next_ev);
    struct worker *w = c->w;
    TAILQ_REMOVE(&w->conns, c, link);
    TAILQ_INSERT_TAIL(&w->dead_conns, c, link);
    worker__reap_later(w);
    worker__conn_gone(w);
}

void conn__free(struct conn *c)
{
    event_free(c->timer);
    if (c->next_ev != NULL)
        event_free(c->next_ev);
    if (c->h2 != NULL)
        h2s_free(c->h2);
    sock_free(c->sock);
    req__fini(&c->req);
    c->magic = 0;
    free(c);
}

void conn__drain_idle(struct worker *w)
{
    struct conn *c, *next;
    for (c = TAILQ_FIRST(&w->conns); c != NULL; c = next) {
        next = TAILQ_NEXT(c, link);
        if (c->h2 != NULL)
            h2s_drain(c->h2);
        else if (c->state == CONN_IDLE)
            conn__close(c);
    }
}
