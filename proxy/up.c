/* SPDX-License-Identifier: Apache-2.0
 *
 * up: the exchange with an origin for a client's request. Per worker, each origin
 * server address has an up_server: its passive health (failures in a row, a
 * cool-down) and a LIFO pool of idle keep-alive connections. Servers of an origin
 * are chosen round robin, skipping those cooling down.
 *
 * A request that fails before any response byte is retried once on another
 * server when it is idempotent and has no body; a pooled connection the origin
 * had closed does not count as a server failure and is replaced by a fresh one.
 * Bodies stream both ways; each direction pauses reading its source while the
 * destination's output holds more than OUT_HIGH bytes (sock low marks).
 *
 * Ownership: a client conn owns fwd.up while it uses it; up_close() puts the
 * connection on the worker's dead list. Thread: the owning worker's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookrun.h"
#include "log.h"
#include "rcache.h"
#include "util.h"
#include "worker_int.h"

#define OUT_HIGH (256 * 1024)
#define MAX_STALE_RETRIES 2

static const char *const up_state_names[] = {"idle", "connecting", "wait-head", "body", "closed"};

static void set_state(struct up_conn *u, enum up_state s)
{
    log_debug("up", "%s: %s -> %s", u->server->key, up_state_names[u->state], up_state_names[s]);
    u->state = s;
}

static void up_close(struct up_conn *u)
{
    if (u->state == UP_CLOSED)
        return;
    if (u->state == UP_IDLE) {
        TAILQ_REMOVE(&u->server->idle, u, link);
        u->server->nidle--;
    }
    set_state(u, UP_CLOSED);
    sock_close(u->sock);
    u->owner = NULL;
    TAILQ_INSERT_TAIL(&u->w->dead_ups, u, link);
    worker__reap_later(u->w);
}

void up__free(struct up_conn *u)
{
    sock_free(u->sock);
    u->magic = 0;
    free(u);
}

static struct up_server *server_get(struct worker *w, const struct cfg_addr *a)
{
    struct up_server *s;
    TAILQ_FOREACH(s, &w->servers, link)
    {
        if (strcmp(s->key, a->text) == 0)
            return s;
    }
    s = xcalloc(1, sizeof(*s));
    s->magic = UP_SERVER_MAGIC;
    s->key = xstrdup(a->text);
    s->sa = a->sa;
    s->sa_len = a->sa_len;
    TAILQ_INIT(&s->idle);
    TAILQ_INSERT_TAIL(&w->servers, s, link);
    return s;
}

static struct up_origin_rr *rr_get(struct worker *w, const char *name)
{
    struct up_origin_rr *r;
    TAILQ_FOREACH(r, &w->rr, link)
    {
        if (strcmp(r->name, name) == 0)
            return r;
    }
    r = xcalloc(1, sizeof(*r));
    r->name = xstrdup(name);
    TAILQ_INSERT_TAIL(&w->rr, r, link);
    return r;
}

static int tried(const struct fwd *f, const struct up_server *s)
{
    for (unsigned i = 0; i < f->ntried; i++)
        if (f->tried[i] == s)
            return 1;
    return 0;
}

/* Round robin over the servers not tried yet for this request, healthy ones
 * first; when every untried server is cooling down, one of them is tried anyway
 * (better a likely failure than a certain 502). */
static struct up_server *pick(struct worker *w, struct fwd *f)
{
    const struct cfg_origin *o = f->origin;
    struct up_origin_rr *r = rr_get(w, o->name);
    uint64_t now = util_now_ms();
    struct up_server *fallback = NULL;
    for (size_t i = 0; i < o->nservers; i++) {
        size_t idx = (r->next + i) % o->nservers;
        struct up_server *s = server_get(w, &o->servers[idx]);
        if (tried(f, s))
            continue;
        if (s->down_until > now) {
            if (fallback == NULL)
                fallback = s;
            continue;
        }
        r->next = (unsigned)(idx + 1);
        return s;
    }
    return fallback;
}

static void server_failed(struct up_server *s, const struct cfg_origin *o)
{
    s->fails++;
    if (o->max_fails > 0 && s->fails >= o->max_fails) { /* 0: never skipped */
        s->down_until = util_now_ms() + o->fail_timeout_ms;
        log_warn("up", "origin %s server %s: %u failures in a row, skipped for %llums", o->name,
                 s->key, s->fails, (unsigned long long)o->fail_timeout_ms);
        s->fails = 0;
    }
}

static int is_idempotent(const char *m, size_t n)
{
    static const char *const list[] = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"};
    for (size_t i = 0; i < ARRAY_SIZE(list); i++)
        if (n == strlen(list[i]) && memcmp(m, list[i], n) == 0)
            return 1;
    return 0;
}

/* Appends "Name: old, new" for a list-valued field we extend (Via, XFF). */
static void add_list_field(struct evbuffer *b, const struct h1_msg *m, const char *name,
                           const char *add)
{
    evbuffer_add_printf(b, "%s: ", name);
    int first = 1;
    for (int i = h1_header_find(m, name, 0); i >= 0; i = h1_header_find(m, name, (size_t)i + 1)) {
        evbuffer_add_printf(b, "%s%.*s", first ? "" : ", ", (int)m->headers[i].value_len,
                            m->headers[i].value);
        first = 0;
    }
    evbuffer_add_printf(b, "%s%s\r\n", first ? "" : ", ", add);
}

static int skip_request_field(const struct h1_msg *m, const struct h1_header *h)
{
    static const char *const own[] = {"content-length", "expect", "via", "x-forwarded-for",
                                      "x-forwarded-proto"};
    for (size_t i = 0; i < ARRAY_SIZE(own); i++)
        if (util_ieq(h->name, h->name_len, own[i]))
            return 1;
    return h1_header_is_hop(m, h->name, h->name_len);
}

void up__prepare(struct req *r, const struct h1_msg *m, const struct up_target *t)
{
    struct fwd *f = &r->fwd;
    if (f->req_head == NULL)
        f->req_head = evbuffer_new();
    struct evbuffer *b = f->req_head;
    evbuffer_drain(b, evbuffer_get_length(b));
    evbuffer_add(b, m->method, m->method_len);
    evbuffer_add(b, " ", 1);
    evbuffer_add(b, t->uri, t->uri_len);
    evbuffer_add(b, " HTTP/1.1\r\n", 11);
    int options = util_ieq(m->method, m->method_len, "OPTIONS");
    const struct h1_header *forwards = NULL;
    for (size_t i = 0; i < m->num_headers; i++) {
        const struct h1_header *h = &m->headers[i];
        if (skip_request_field(m, h))
            continue;
        if (t->authority != NULL && util_ieq(h->name, h->name_len, "host"))
            continue;
        if (r->rc.active && rc_forward_field(r, h, b))
            continue;
        if (options && util_ieq(h->name, h->name_len, "max-forwards")) {
            forwards = h;
            continue;
        }
        evbuffer_add(b, h->name, h->name_len);
        evbuffer_add(b, ": ", 2);
        evbuffer_add(b, h->value, h->value_len);
        evbuffer_add(b, "\r\n", 2);
    }
    if (t->authority != NULL)
        evbuffer_add_printf(b, "Host: %.*s\r\n", (int)t->authority_len, t->authority);
    else if (m->host == NULL)
        evbuffer_add_printf(b, "Host: %s\r\n", r->cfg->listen[0].addr.text);
    if (forwards != NULL) {
        /* RFC 9110 7.6.2: an OPTIONS we forward carries Max-Forwards minus one
         * (zero was answered by conn.c). */
        unsigned long v = strtoul(forwards->value, NULL, 10);
        evbuffer_add_printf(b, "Max-Forwards: %lu\r\n", v > 0 ? v - 1 : 0);
    }
    if (r->rc.active)
        rc_forward_extra(r, b);
    add_list_field(b, m, "X-Forwarded-For", r->peer);
    if (r->tls)
        evbuffer_add(b, "X-Forwarded-Proto: https\r\n", 26);
    else
        evbuffer_add(b, "X-Forwarded-Proto: http\r\n", 25);
    /* RFC 9110 7.6.3: the protocol version we received the request with. */
    const char *via = r->proto && strcmp(r->proto, "HTTP/2.0") == 0 ? "2 tessera"
                      : m->minor_version                            ? "1.1 tessera"
                                                                    : "1.0 tessera";
    add_list_field(b, m, "Via", via);
    if (m->body == H1_BODY_LENGTH)
        evbuffer_add_printf(b, "Content-Length: %llu\r\n", (unsigned long long)m->content_length);
    else if (m->body == H1_BODY_CHUNKED)
        evbuffer_add(b, "Transfer-Encoding: chunked\r\n", 28);
    f->req_chunked = m->body == H1_BODY_CHUNKED;
    evbuffer_add(b, "\r\n", 2);
    f->idempotent = is_idempotent(m->method, m->method_len) && m->body == H1_BODY_NONE;
}

static void on_up_read(struct sock *so, void *arg);
static void on_up_drained(struct sock *so, void *arg);
static void on_up_connected(struct sock *so, void *arg);
static void on_up_event(struct sock *so, void *arg, enum sock_event ev);

static const struct sock_cbs up_cbs = {
    .on_read = on_up_read,
    .on_drained = on_up_drained,
    .on_connected = on_up_connected,
    .on_event = on_up_event,
};
static void connect_and_send(struct req *r);

static struct up_conn *pool_take(struct up_server *s)
{
    struct up_conn *u = TAILQ_FIRST(&s->idle);
    if (u == NULL)
        return NULL;
    TAILQ_REMOVE(&s->idle, u, link);
    s->nidle--;
    return u;
}

static void pool_put(struct up_conn *u, const struct cfg_origin *o)
{
    struct up_server *s = u->server;
    if (s->nidle >= o->keepalive || u->w->draining) {
        up_close(u);
        return;
    }
    u->owner = NULL;
    set_state(u, UP_IDLE);
    TAILQ_INSERT_HEAD(&s->idle, u, link);
    s->nidle++;
    /* Idle: any byte or close from the origin ends it; so does keepalive_timeout. */
    sock_set_timeouts(u->sock, o->keepalive_timeout_ms, 0);
    sock_set_low_mark(u->sock, 0);
    sock_pause_read(u->sock, 0);
}

static struct up_conn *up_new(struct worker *w, struct up_server *s, const struct cfg_origin *o)
{
    struct up_conn *u = xcalloc(1, sizeof(*u));
    u->sock = sock_connect(w->base, (struct sockaddr *)&s->sa, s->sa_len, &up_cbs, u);
    if (u->sock == NULL) {
        free(u);
        return NULL;
    }
    u->magic = UP_CONN_MAGIC;
    u->server = s;
    u->w = w;
    u->state = UP_CONNECTING;
    sock_set_timeouts(u->sock, 0, o->connect_timeout_ms);
    return u;
}

/* The response timeout runs only once the whole request is with the origin: an
 * origin may rightly say nothing while a large upload is still arriving. */
static void arm_timeouts(struct req *r, struct up_conn *u)
{
    const struct cfg_origin *o = r->fwd.origin;
    sock_set_timeouts(u->sock, r->body_done ? o->timeout_ms : 0,
                      u->state == UP_CONNECTING ? o->connect_timeout_ms : o->timeout_ms);
}

static void fail_request(struct req *r, int timeout)
{
    char msg[256];
    const char *name = r->fwd.origin->name;
    if (timeout)
        snprintf(msg, sizeof(msg), "origin %s timed out", name);
    else
        snprintf(msg, sizeof(msg), "origin %s unreachable", name);
    /* RFC 5861 4: a stale copy within stale-if-error beats an error. */
    if (rc_serve_stale(r, timeout ? 504 : 502))
        return;
    r->ops->respond(r, timeout ? 504 : 502, "", msg, 0);
}

static void connect_and_send(struct req *r)
{
    struct worker *w = r->w;
    struct fwd *f = &r->fwd;
    struct up_server *s;
    struct up_conn *u = NULL;
    while ((s = pick(w, f)) != NULL) {
        if (f->ntried < ARRAY_SIZE(f->tried))
            f->tried[f->ntried++] = s;
        u = pool_take(s);
        if (u != NULL) {
            u->reused = 1;
            set_state(u, UP_WAIT_HEAD);
            break;
        }
        u = up_new(w, s, f->origin);
        if (u != NULL)
            break;
        log_warn("up", "origin %s server %s: connect failed", f->origin->name, s->key);
        server_failed(s, f->origin);
        if (f->ntried >= ARRAY_SIZE(f->tried))
            break;
    }
    if (u == NULL) {
        fail_request(r, 0);
        return;
    }
    f->attempts++;
    f->up = u;
    u->owner = r;
    u->got_bytes = 0;
    f->up_start_ms = util_now_ms();
    arm_timeouts(r, u);
    struct evbuffer *out = sock_out(u->sock);
    evbuffer_add(out, evbuffer_pullup(f->req_head, -1), evbuffer_get_length(f->req_head));
    sock_pause_read(u->sock, 0);
    sock_write(u->sock);
}

void up__start(struct req *r, const struct cfg_origin *o)
{
    struct fwd *f = &r->fwd;
    f->origin = o;
    connect_and_send(r);
}

void up__abort(struct req *r)
{
    struct up_conn *u = r->fwd.up;
    if (u == NULL)
        return;
    r->fwd.up = NULL;
    up_close(u);
}

struct evbuffer *up__body_sink(struct req *r)
{
    return r->fwd.up ? sock_out(r->fwd.up->sock) : NULL;
}

void up__body_added(struct req *r)
{
    struct up_conn *u = r->fwd.up;
    if (u == NULL)
        return;
    if (r->body_done)
        arm_timeouts(r, u);
    sock_write(u->sock);
    if (evbuffer_get_length(sock_out(u->sock)) > OUT_HIGH) {
        r->ops->pause_body(r, 1);
        sock_set_low_mark(u->sock, OUT_HIGH / 2);
    }
}

void up__body_data(struct req *r, const void *data, size_t n)
{
    struct evbuffer *sink = up__body_sink(r);
    if (sink == NULL || n == 0)
        return;
    if (r->fwd.req_chunked)
        evbuffer_add_printf(sink, "%zx\r\n", n);
    evbuffer_add(sink, data, n);
    if (r->fwd.req_chunked)
        evbuffer_add(sink, "\r\n", 2);
}

void up__body_end(struct req *r)
{
    struct evbuffer *sink = up__body_sink(r);
    r->body_done = 1;
    if (sink != NULL && r->fwd.req_chunked)
        evbuffer_add(sink, "0\r\n\r\n", 5);
    up__body_added(r);
}

static void on_up_drained(struct sock *so, void *arg)
{
    struct up_conn *u = arg;
    struct req *r = u->owner;
    if (r == NULL || r->body_done)
        return;
    /* The origin took the body we had queued: take more from the client. */
    sock_set_low_mark(so, 0);
    r->ops->pause_body(r, 0);
}

void up__on_client_writable(struct req *r)
{
    struct up_conn *u = r->fwd.up;
    if (u != NULL && u->state == UP_BODY)
        sock_pause_read(u->sock, 0);
}

int up__pass_field(const struct h1_msg *m, const struct h1_header *h, int framing)
{
    if (framing && (util_ieq(h->name, h->name_len, "content-length")))
        return 0;
    if (util_ieq(h->name, h->name_len, "via"))
        return 0; /* the client side extends it */
    return !h1_header_is_hop(m, h->name, h->name_len);
}

/* The exchange with the origin is over: the connection goes back to the pool
 * when it can carry another request, else it is closed. */
static void release(struct req *r, struct up_conn *u)
{
    struct fwd *f = &r->fwd;
    f->resp_done = 1;
    f->up = NULL;
    int reusable = f->up_keep_alive && r->body_done && f->resp_body != H1_BODY_UNTIL_CLOSE &&
                   evbuffer_get_length(sock_in(u->sock)) == 0 &&
                   evbuffer_get_length(sock_out(u->sock)) == 0;
    if (reusable)
        pool_put(u, f->origin);
    else
        up_close(u);
}

static void finish(struct req *r, struct up_conn *u)
{
    release(r, u);
    rc_response_end(r, 1);
    r->ops->response_end(r);
}

/* Chunked body from the origin: validated by the decoder; the data goes on
 * through a scratch buffer (the client side frames it its own way). */
static int chunk_to_client(void *arg, const char *p, size_t n)
{
    struct req *r = arg;
    evbuffer_add(r->w->scratch, p, n);
    r->ops->response_body(r, r->w->scratch, n);
    return 0;
}

/* Returns 1 when the body ended, 0 for more, <0 on a framing error. */
static int relay_chunked(struct req *r, struct evbuffer *in)
{
    int rc = h1_chunked_drain(&r->fwd.resp_chunk, in, chunk_to_client, r);
    return rc == H1_OK ? 1 : rc == H1_NEED_MORE ? 0 : rc;
}

static void relay_body(struct req *r, struct up_conn *u)
{
    struct fwd *f = &r->fwd;
    struct evbuffer *in = sock_in(u->sock);
    size_t n = evbuffer_get_length(in);
    int done = 0;
    switch (f->resp_body) {
    case H1_BODY_LENGTH:
        if (n > f->resp_remaining)
            n = (size_t)f->resp_remaining;
        rc_response_body(r, in, n);
        f->resp_remaining -= n;
        done = f->resp_remaining == 0;
        /* The client may read the last byte as soon as it is written, and
         * send its next request: the object is stored (and the flight
         * ended) before the last bytes go out, so that request is a hit. */
        if (done)
            rc_response_end(r, 1);
        r->ops->response_body(r, in, n);
        break;
    case H1_BODY_UNTIL_CLOSE: r->ops->response_body(r, in, n); break;
    case H1_BODY_CHUNKED: {
        int rc = relay_chunked(r, in);
        if (rc < 0) {
            log_warn("up", "origin %s server %s: bad chunked body: %s", f->origin->name,
                     u->server->key, h1_strerror(rc));
            f->up = NULL;
            up_close(u);
            r->ops->response_abort(r);
            return;
        }
        done = rc == 1;
        break;
    }
    case H1_BODY_NONE: done = 1; break;
    }
    if (done) {
        finish(r, u);
        return;
    }
    if (r->ops->pending(r) > OUT_HIGH) {
        /* The client reads slower than the origin sends: stop reading the origin
         * until the client has taken half of what is queued. */
        sock_pause_read(u->sock, 1);
        r->ops->notify_below(r, OUT_HIGH / 2);
    }
}

/* Parses the response head. Returns 1 when the body phase began, 0 for more. */
static int read_head(struct req *r, struct up_conn *u)
{
    struct worker *w = r->w;
    struct fwd *f = &r->fwd;
    struct evbuffer *in = sock_in(u->sock);
    for (;;) {
        size_t len = evbuffer_get_length(in);
        if (len == 0)
            return 0;
        size_t n = len < w->up_limits.max_head + 1 ? len : w->up_limits.max_head + 1;
        const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
        struct h1_msg *m = &w->msg;
        int rc = h1_parse_response(p, n, &w->up_limits, r->head_method, m);
        if (rc == H1_NEED_MORE)
            return 0;
        if (rc < 0 || m->status == 101) {
            log_warn("up", "origin %s server %s: invalid response: %s", f->origin->name,
                     u->server->key, rc < 0 ? h1_strerror(rc) : "unrequested protocol switch");
            server_failed(u->server, f->origin);
            char msg[200];
            snprintf(msg, sizeof(msg), "origin %s sent an invalid response", f->origin->name);
            r->ops->respond(r, 502, "", msg, 0);
            return -1;
        }
        if (m->status < 200) {
            evbuffer_drain(in, m->head_len); /* interim responses are not relayed */
            continue;
        }
        if (m->status >= 500 && rc_has_stale(r)) {
            /* RFC 5861 4: an origin error with a stale copy in its window. */
            int st = m->status;
            f->up = NULL;
            up_close(u);
            rc_serve_stale(r, st);
            return -1;
        }
        u->server->fails = 0;
        f->up_ms = util_now_ms() - f->up_start_ms;
        if (m->status == 304 && rc_revalidated(r, m)) {
            /* RFC 9111 4.3.4: the stored copy, refreshed, answers the request. */
            f->up_keep_alive = m->keep_alive;
            f->resp_body = H1_BODY_NONE;
            evbuffer_drain(in, m->head_len);
            release(r, u);
            rc_serve_revalidated(r);
            return -1;
        }
        r->status = m->status;
        f->resp_body = m->body;
        f->resp_remaining = m->content_length;
        f->up_keep_alive = m->keep_alive;
        h1_chunked_init(&f->resp_chunk);
        const struct h1_msg *hm = m;
        if (r->hk != NULL && (hm = hookrun_response(r, m)) == NULL) {
            f->up = NULL;
            up_close(u);
            r->ops->respond(r, 500, "", "the route's response hook failed", 0);
            return -1;
        }
        rc_response_head(r, hm);
        r->ops->response_head(r, hm);
        evbuffer_drain(in, m->head_len);
        f->resp_started = 1;
        set_state(u, UP_BODY);
        return 1;
    }
}

static void on_up_read(struct sock *so, void *arg)
{
    struct up_conn *u = arg;
    if (u->magic != UP_CONN_MAGIC)
        abort();
    struct req *r = u->owner;
    if (r == NULL) {
        up_close(u); /* an idle connection must not receive anything */
        return;
    }
    u->got_bytes = 1;
    if (u->state == UP_WAIT_HEAD || u->state == UP_CONNECTING) {
        if (read_head(r, u) <= 0)
            return;
    }
    if (u->state == UP_BODY)
        relay_body(r, u);
}

static int can_retry(const struct req *r, const struct up_conn *u)
{
    const struct fwd *f = &r->fwd;
    if (!f->idempotent || u->got_bytes || f->resp_started)
        return 0;
    if (u->reused)
        return f->attempts <= MAX_STALE_RETRIES + 1;
    /* one retry, on another server */
    return f->attempts < 2 && f->ntried < f->origin->nservers;
}

static void on_up_connected(struct sock *so, void *arg)
{
    struct up_conn *u = arg;
    struct req *r = u->owner;
    if (r == NULL) {
        up_close(u);
        return;
    }
    set_state(u, UP_WAIT_HEAD);
    arm_timeouts(r, u);
}

static void on_up_event(struct sock *so, void *arg, enum sock_event ev)
{
    struct up_conn *u = arg;
    struct req *r = u->owner;
    if (r == NULL) {
        up_close(u); /* idle connection closed or timed out */
        return;
    }
    struct fwd *f = &r->fwd;
    int timeout = ev == SOCK_READ_TIMEOUT || ev == SOCK_WRITE_TIMEOUT;
    if (u->state == UP_BODY) {
        if (ev == SOCK_EOF && f->resp_body == H1_BODY_UNTIL_CLOSE) {
            relay_body(r, u);
            if (u->state == UP_BODY)
                finish(r, u);
            return;
        }
        log_warn("up", "origin %s server %s: response cut short (%s)", f->origin->name,
                 u->server->key, timeout ? "timeout" : "closed");
        f->up = NULL;
        up_close(u);
        r->ops->response_abort(r);
        return;
    }
    int stale = u->reused && !timeout && !u->got_bytes;
    if (!stale) {
        log_warn("up", "origin %s server %s: %s", f->origin->name, u->server->key,
                 timeout ? (u->state == UP_CONNECTING ? "connect timed out" : "response timed out")
                         : (u->state == UP_CONNECTING ? "connect failed" : "connection closed"));
        server_failed(u->server, f->origin);
    }
    int retry = can_retry(r, u);
    int timed_out_waiting = timeout && u->state != UP_CONNECTING;
    f->up = NULL;
    if (stale && f->ntried > 0)
        f->ntried--; /* the server itself may well be fine: allow it again */
    up_close(u);
    if (retry) {
        connect_and_send(r);
        return;
    }
    fail_request(r, timed_out_waiting);
}

void up__worker_fini(struct worker *w)
{
    struct up_server *s;
    while ((s = TAILQ_FIRST(&w->servers)) != NULL) {
        struct up_conn *u;
        while ((u = TAILQ_FIRST(&s->idle)) != NULL)
            up_close(u);
        TAILQ_REMOVE(&w->servers, s, link);
        free(s->key);
        free(s);
    }
    struct up_origin_rr *r;
    while ((r = TAILQ_FIRST(&w->rr)) != NULL) {
        TAILQ_REMOVE(&w->rr, r, link);
        free(r->name);
        free(r);
    }
}
