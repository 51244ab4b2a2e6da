/* SPDX-License-Identifier: Apache-2.0
 *
 * conn: a client's HTTP/1.1 connection. Reads and parses request heads, routes
 * them, hands them to up.c and relays request bodies; writes locally made
 * responses (errors, 404). One request is served at a time: pipelined requests
 * wait in the input buffer, so responses leave in request order (RFC 9112 9.3.2).
 * The input high watermark bounds what a client can make us buffer.
 *
 * Ownership: the worker owns the conn; conn__close() is idempotent and puts the
 * conn on the worker's dead list, freed on the next loop turn, so callbacks up
 * the stack may still look at it (state CONN_CLOSED) but must not use it.
 * Thread: the owning worker's.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "route.h"
#include "sock.h"
#include "util.h"
#include "worker_int.h"

#define BODY_CHUNK_HEAD_MAX 24

static const char *const state_names[] = {"idle",       "read-head", "proxy",
                                          "send-local", "flush",     "closed"};

static void set_state(struct conn *c, enum conn_state s)
{
    log_debug("conn", "w%u r%llu: %s -> %s", c->w->id, (unsigned long long)c->req_id,
              state_names[c->state], state_names[s]);
    c->state = s;
}

static void arm_timer(struct conn *c, uint64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    evtimer_add(c->timer, &tv);
}

static void set_read_timeout(struct conn *c, uint64_t ms)
{
    const struct cfg *g = c->cfg ? c->cfg : c->w->cfg;
    sock_set_timeouts(c->sock, ms, g->timeouts.send_ms);
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

static void enter_idle(struct conn *c)
{
    set_state(c, CONN_IDLE);
    arm_timer(c, c->w->cfg->timeouts.keepalive_ms);
}

static void end_request(struct conn *c)
{
    if (c->in_request) {
        access__log(c);
        c->in_request = 0;
    }
    cfg_unref(c->cfg);
    c->cfg = NULL;
}

static void try_parse(struct conn *c);
static void schedule_next(struct conn *c);

/* The response is complete (queued to the output): log it and go on with the
 * next request, or close once the output is written. */
static void finish_response(struct conn *c)
{
    end_request(c);
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
    if (evbuffer_get_length(sock_in(c->sock)) > 0)
        schedule_next(c); /* pipelined: parsed on the next loop turn */
}

void conn__exchange_done(struct conn *c, int abort_client)
{
    if (c->state == CONN_CLOSED)
        return;
    if (abort_client) {
        /* The response was cut short after its head was sent: the only way to
         * tell the client is to close (RFC 9112 8). */
        c->close_after = 1;
        c->status = c->status ? c->status : 502;
        end_request(c);
        conn__close(c);
        return;
    }
    if (!c->req_body_done)
        c->close_after = 1; /* the rest of the request body was not read */
    finish_response(c);
}

/* A locally made response; `extra` holds further header lines ("Name: v\r\n"). */
static void respond(struct conn *c, int status, const char *extra, const char *body,
                    int close_after)
{
    if (c->state == CONN_CLOSED)
        return;
    if (c->fwd.up != NULL)
        up__abort(c);
    if (!c->req_body_done)
        close_after = 1;
    c->close_after |= close_after;
    c->status = status;
    size_t blen = strlen(body);
    struct evbuffer *out = sock_out(c->sock);
    size_t before = evbuffer_get_length(out);
    evbuffer_add_printf(out,
                        "HTTP/1.1 %d %s\r\nServer: tessera\r\nDate: %s\r\n%s"
                        "Content-Type: text/plain; charset=utf-8\r\nContent-Length: %zu\r\n%s\r\n",
                        status, reason_phrase(status), worker__date(c->w), extra,
                        blen ? blen + 1 : 0,
                        (c->close_after || !c->keep_alive) ? "Connection: close\r\n" : "");
    if (!c->head_method && blen > 0) {
        evbuffer_add(out, body, blen);
        evbuffer_add(out, "\n", 1);
    }
    c->bytes_out += evbuffer_get_length(out) - before;
    set_read_timeout(c, 0);
    evtimer_del(c->timer);
    set_state(c, CONN_SEND_LOCAL);
    sock_write(c->sock);
    if (evbuffer_get_length(out) == 0)
        finish_response(c);
}

void conn__respond_local(struct conn *c, int status, const char *body, int close_after)
{
    respond(c, status, "", body, close_after);
}

static void copy_field(char *dst, size_t cap, const struct h1_msg *m, const char *name)
{
    int i = h1_header_find(m, name, 0);
    if (i < 0) {
        dst[0] = '\0';
        return;
    }
    size_t n = m->headers[i].value_len < cap - 1 ? m->headers[i].value_len : cap - 1;
    memcpy(dst, m->headers[i].value, n);
    dst[n] = '\0';
}

/* Records what the access log needs from the head before it is drained. */
static void note_request(struct conn *c, const struct h1_msg *m)
{
    size_t n = m->method_len < sizeof(c->method) - 1 ? m->method_len : sizeof(c->method) - 1;
    memcpy(c->method, m->method, n);
    c->method[n] = '\0';
    if (m->target_len + 1 > c->target_cap) {
        c->target_cap = m->target_len + 1;
        c->target = xrealloc(c->target, c->target_cap);
    }
    memcpy(c->target, m->target, m->target_len);
    c->target[m->target_len] = '\0';
    c->target_len = m->target_len;
    copy_field(c->ua, sizeof(c->ua), m, "user-agent");
    copy_field(c->referer, sizeof(c->referer), m, "referer");
}

/* The origin-form of the request-target: absolute-form ("http://h/p?q") is
 * reduced to its path and query, and its authority replaces Host (RFC 9112
 * 3.2.2). Returns -1 when the target has no path (authority-form) or carries
 * userinfo (RFC 9110 4.2.4). */
static int origin_form(const char *t, size_t len, struct up_target *out)
{
    out->authority = NULL;
    out->authority_len = 0;
    if (len > 0 && t[0] == '/') {
        out->uri = t;
        out->uri_len = len;
        return 0;
    }
    size_t skip = 0;
    if (len > 7 && strncasecmp(t, "http://", 7) == 0)
        skip = 7;
    else if (len > 8 && strncasecmp(t, "https://", 8) == 0)
        skip = 8;
    else
        return -1;
    const char *a = t + skip;
    size_t alen = 0;
    while (alen < len - skip && a[alen] != '/' && a[alen] != '?')
        alen++;
    if (alen == 0 || memchr(a, '@', alen) != NULL)
        return -1;
    out->authority = a;
    out->authority_len = alen;
    if (alen == len - skip || a[alen] == '?') {
        out->uri = "/"; /* "http://h" or "http://h?q": a query with no path is dropped */
        out->uri_len = 1;
        return 0;
    }
    out->uri = a + alen;
    out->uri_len = len - skip - alen;
    return 0;
}

/* Max-Forwards (RFC 9110 7.6.2): -1 when absent or not a number. */
static long max_forwards(const struct h1_msg *m)
{
    int i = h1_header_find(m, "max-forwards", 0);
    if (i < 0 || m->headers[i].value_len == 0 || m->headers[i].value_len > 9)
        return -1;
    long v = 0;
    for (size_t k = 0; k < m->headers[i].value_len; k++) {
        char ch = m->headers[i].value[k];
        if (ch < '0' || ch > '9')
            return -1;
        v = v * 10 + (ch - '0');
    }
    return v;
}

/* Requests answered here rather than forwarded. Returns 1 when answered. */
static int answer_locally(struct conn *c, const struct h1_msg *m)
{
    int options = util_ieq(m->method, m->method_len, "OPTIONS");
    int asterisk = m->target_len == 1 && m->target[0] == '*';
    if (util_ieq(m->method, m->method_len, "CONNECT")) {
        conn__respond_local(c, 405, "CONNECT is not supported", 1);
        return 1;
    }
    if (util_ieq(m->method, m->method_len, "TRACE")) {
        /* TRACE would reflect credentials and cookies: refused, as most proxies do. */
        respond(c, 405, "Allow: GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH\r\n",
                "TRACE is not supported", 0);
        return 1;
    }
    if (options && (asterisk || max_forwards(m) == 0)) {
        /* OPTIONS * is about this server; Max-Forwards: 0 means "you answer". */
        respond(c, 200, "Allow: GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH\r\n", "", 0);
        return 1;
    }
    return 0;
}

static void send_continue(struct conn *c)
{
    if (c->minor_version >= 1 && evbuffer_get_length(sock_in(c->sock)) == 0) {
        evbuffer_add(sock_out(c->sock), "HTTP/1.1 100 Continue\r\n\r\n", 25);
        sock_write(c->sock);
    }
}

/* A complete head is in p[0..m->head_len) at the front of the input buffer. */
static void start_request(struct conn *c, const struct h1_msg *m)
{
    struct worker *w = c->w;
    struct evbuffer *in = sock_in(c->sock);
    evtimer_del(c->timer);
    c->cfg = cfg_ref(w->cfg);
    set_state(c, CONN_PROXY);
    note_request(c, m);
    c->minor_version = m->minor_version;
    c->keep_alive = m->keep_alive && !w->draining;
    c->head_method = util_ieq(m->method, m->method_len, "HEAD");
    c->expect_continue = m->expect_continue;
    c->req_body_chunked = m->body == H1_BODY_CHUNKED;
    c->req_body_remaining = m->body == H1_BODY_LENGTH ? m->content_length : 0;
    c->req_body_done = m->body == H1_BODY_NONE;
    if (c->req_body_chunked)
        h1_chunked_init(&c->req_chunk);

    struct up_target tg;
    if (answer_locally(c, m)) {
        evbuffer_drain(in, m->head_len);
        return;
    }
    if (origin_form(m->target, m->target_len, &tg) < 0) {
        evbuffer_drain(in, m->head_len);
        conn__respond_local(c, 400, "invalid request-target", 1);
        return;
    }
    if (m->body == H1_BODY_LENGTH && m->content_length > c->cfg->limits.body_size) {
        evbuffer_drain(in, m->head_len);
        conn__respond_local(c, 413, "request body over limits.body_size", 1);
        return;
    }
    const char *qs = memchr(tg.uri, '?', tg.uri_len);
    size_t path_len = qs ? (size_t)(qs - tg.uri) : tg.uri_len;
    struct route_match rm;
    if (route_find(c->cfg, tg.uri, path_len, &rm) < 0 || rm.route->origin == NULL) {
        evbuffer_drain(in, m->head_len);
        conn__respond_local(c, 404, "no route for this path", 0);
        return;
    }
    up__prepare(c, m, &tg);
    evbuffer_drain(in, m->head_len);
    up__start(c, rm.route->origin);
    if (c->state != CONN_PROXY)
        return;
    if (!c->req_body_done) {
        if (c->expect_continue)
            send_continue(c);
        set_read_timeout(c, c->cfg->timeouts.body_ms);
        conn__body_to_upstream(c);
    }
}

static void try_parse(struct conn *c)
{
    struct worker *w = c->w;
    struct evbuffer *in = sock_in(c->sock);
    size_t len = evbuffer_get_length(in);
    if (len == 0)
        return;
    if (c->state == CONN_IDLE) {
        set_state(c, CONN_READ_HEAD);
        evtimer_del(c->timer);
        arm_timer(c, w->cfg->timeouts.header_ms);
        c->req_start_ms = util_now_ms();
        c->req_id = ++w->next_req_id;
        c->status = 0;
        c->bytes_out = 0;
        c->close_after = 0;
        c->keep_alive = 0;
        c->head_method = 0;
        c->req_body_done = 1;
        c->method[0] = '\0';
        c->target_len = 0;
        c->ua[0] = c->referer[0] = '\0';
        struct evbuffer *keep = c->fwd.req_head;
        memset(&c->fwd, 0, sizeof(c->fwd));
        c->fwd.req_head = keep;
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
    c->in_request = 1;
    if (rc < 0) {
        log_debug("conn", "w%u r%llu: %s: %s", w->id, (unsigned long long)c->req_id, c->peer,
                  h1_strerror(rc));
        c->cfg = cfg_ref(w->cfg);
        evbuffer_drain(in, len);
        conn__respond_local(c, h1_err_status(rc), h1_strerror(rc), 1);
        return;
    }
    start_request(c, &w->msg);
}

/* Chunked request body: decode what is buffered and re-chunk it upstream, so the
 * origin sees framing we validated (never the client's bytes as they came). */
static int relay_chunked(struct conn *c, struct evbuffer *in, struct evbuffer *sink)
{
    while (evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        size_t used, off, dlen;
        int rc = h1_chunked_feed(&c->req_chunk, v.iov_base, v.iov_len, &used, &off, &dlen);
        if (rc < 0)
            return rc;
        if (dlen > 0) {
            c->req_body_seen += dlen;
            if (c->req_body_seen > c->cfg->limits.body_size)
                return -1000;
            char hdr[BODY_CHUNK_HEAD_MAX];
            int hl = snprintf(hdr, sizeof(hdr), "%zx\r\n", dlen);
            evbuffer_add(sink, hdr, (size_t)hl);
            evbuffer_add(sink, (const char *)v.iov_base + off, dlen);
            evbuffer_add(sink, "\r\n", 2);
        }
        evbuffer_drain(in, used);
        if (rc == H1_OK) {
            evbuffer_add(sink, "0\r\n\r\n", 5);
            c->req_body_done = 1;
            return 0;
        }
        if (used == 0)
            break;
    }
    return 0;
}

void conn__body_to_upstream(struct conn *c)
{
    struct evbuffer *in = sock_in(c->sock);
    struct evbuffer *sink = up__body_sink(c);
    if (sink == NULL)
        return;
    if (c->req_body_chunked) {
        int rc = relay_chunked(c, in, sink);
        if (rc < 0) {
            int over = rc == -1000;
            c->req_body_done = 1; /* nothing more will be read: we close */
            if (c->fwd.resp_started) {
                conn__exchange_done(c, 1);
                return;
            }
            conn__respond_local(c, over ? 413 : 400,
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
            c->req_body_done = 1;
    }
    if (c->req_body_done)
        set_read_timeout(c, 0);
    up__body_added(c);
}

static void on_read(struct sock *so, void *arg)
{
    struct conn *c = arg;
    if (c->magic != CONN_MAGIC)
        abort();
    switch (c->state) {
    case CONN_IDLE:
    case CONN_READ_HEAD:
        try_parse(c);
        break;
    case CONN_PROXY:
        if (!c->req_body_done)
            conn__body_to_upstream(c);
        break;
    default:
        break; /* pipelined bytes wait for the current response */
    }
}

static void on_drained(struct sock *so, void *arg)
{
    struct conn *c = arg;
    switch (c->state) {
    case CONN_PROXY:
        up__on_client_writable(c);
        break;
    case CONN_SEND_LOCAL:
        if (evbuffer_get_length(sock_out(so)) == 0)
            finish_response(c);
        break;
    case CONN_FLUSH:
        if (evbuffer_get_length(sock_out(so)) == 0)
            conn__close(c);
        break;
    default:
        break;
    }
}

static void on_event(struct sock *so, void *arg, enum sock_event ev)
{
    struct conn *c = arg;
    if (ev == SOCK_EOF) {
        /* The client half-closed. A request already read is still answered. */
        if ((c->state == CONN_PROXY && c->req_body_done) || c->state == CONN_SEND_LOCAL ||
            c->state == CONN_FLUSH) {
            c->close_after = 1;
            return;
        }
    }
    if (ev == SOCK_READ_TIMEOUT && c->state == CONN_PROXY && !c->fwd.resp_started) {
        conn__respond_local(c, 408, "request body not received within timeouts.body", 1);
        return;
    }
    if (c->in_request && c->status == 0)
        c->status = 499; /* client went away before the response */
    end_request(c);
    conn__close(c);
}

static void on_next(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    if (c->state == CONN_IDLE)
        try_parse(c);
}

/* Pipelined requests are taken one loop turn apart, so a long pipeline of
 * locally answered requests cannot recurse. */
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
        c->in_request = 1;
        c->cfg = cfg_ref(c->w->cfg);
        evbuffer_drain(sock_in(c->sock), (size_t)-1);
        conn__respond_local(c, 408, "request head not received within timeouts.header", 1);
        return;
    }
    conn__close(c);
}

static const struct sock_cbs conn_cbs = {
    .on_read = on_read,
    .on_drained = on_drained,
    .on_event = on_event,
};

void conn__accept(struct worker *w, evutil_socket_t fd, struct sockaddr *sa, int salen)
{
    struct conn *c = xcalloc(1, sizeof(*c));
    c->magic = CONN_MAGIC;
    c->w = w;
    c->state = CONN_IDLE;
    c->req_body_done = 1;
    const void *ip = sa->sa_family == AF_INET6
                         ? (const void *)&((struct sockaddr_in6 *)sa)->sin6_addr
                         : (const void *)&((struct sockaddr_in *)sa)->sin_addr;
    evutil_inet_ntop(sa->sa_family, ip, c->peer, sizeof(c->peer));
    c->sock = sock_new(w->base, fd, &conn_cbs, c);
    c->timer = evtimer_new(w->base, on_timer, c);
    if (c->sock == NULL || c->timer == NULL) {
        log_err("conn", "out of memory for a connection");
        evutil_closesocket(fd);
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
    if (c->fwd.up != NULL)
        up__abort(c);
    if (c->in_request)
        end_request(c);
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
    sock_free(c->sock);
    cfg_unref(c->cfg);
    if (c->fwd.req_head != NULL)
        evbuffer_free(c->fwd.req_head);
    free(c->target);
    c->magic = 0;
    free(c);
}

void conn__drain_idle(struct worker *w)
{
    struct conn *c, *next;
    for (c = TAILQ_FIRST(&w->conns); c != NULL; c = next) {
        next = TAILQ_NEXT(c, link);
        if (c->state == CONN_IDLE)
            conn__close(c);
    }
}
