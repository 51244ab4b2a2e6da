/* SPDX-License-Identifier: Apache-2.0
 *
 * req: the protocol-independent request. HTTP/1.1 connections (conn.c) and HTTP/2
 * streams (h2s.c) parse their own framing, fill a struct req and a parsed head
 * (struct h1_msg, whatever the protocol) and call req__dispatch, which answers
 * what is answered here (OPTIONS *, TRACE, CONNECT, 404) and otherwise routes the
 * request and starts the exchange with an origin (up.c). Routing, and later
 * caching, composition and hooks, are written once against this.
 *
 * Ownership: the req is embedded in its conn or stream; it holds one reference
 * on the generation from req__begin to req__end. Thread: the owning worker's.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "compose.h"
#include "hookrun.h"
#include "page.h"
#include "purge.h"
#include "rcache.h"
#include "route.h"
#include "util.h"
#include "worker_int.h"

#define ALLOW_METHODS "Allow: GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH\r\n"

const char *req__reason(int status)
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

void req__init(struct req *r, struct worker *w, const struct req_ops *ops, const char *peer)
{
    memset(r, 0, sizeof(*r));
    r->magic = REQ_MAGIC;
    r->w = w;
    r->ops = ops;
    r->peer = peer;
    r->body_done = 1;
}

void req__begin(struct req *r)
{
    struct evbuffer *keep = r->fwd.req_head;
    memset(&r->fwd, 0, sizeof(r->fwd));
    r->fwd.req_head = keep;
    if (r->cfg == NULL)
        r->cfg = cfg_ref(r->w->cfg);
    r->id = ++r->w->next_req_id;
    r->start_ms = util_now_ms();
    r->status = 0;
    r->bytes_out = 0;
    r->head_method = 0;
    r->body_done = 1;
    r->in_request = 1;
    r->age = -1;
    r->cache_status[0] = '\0';
    memset(&r->rc, 0, offsetof(struct rc_state, key));
    r->fetch = NULL;
    r->page_route = NULL;
    r->channel = NULL;
    r->channel_idx = 0;
    r->page_streamed = 0;
    r->page_sent = 0;
    r->page_enc = 0;
    r->key_extra = NULL;
    r->method[0] = '\0';
    r->target_len = 0;
    r->ua[0] = r->referer[0] = '\0';
}

static void copy_field(char *dst, size_t cap, const struct h1_msg *m, const char *name)
{
    int i = m ? h1_header_find(m, name, 0) : -1;
    if (i < 0) {
        dst[0] = '\0';
        return;
    }
    size_t n = m->headers[i].value_len < cap - 1 ? m->headers[i].value_len : cap - 1;
    memcpy(dst, m->headers[i].value, n);
    dst[n] = '\0';
}

void req__note(struct req *r, const char *method, size_t mlen, const char *target, size_t tlen,
               const struct h1_msg *m)
{
    size_t n = mlen < sizeof(r->method) - 1 ? mlen : sizeof(r->method) - 1;
    memcpy(r->method, method, n);
    r->method[n] = '\0';
    if (tlen + 1 > r->target_cap) {
        r->target_cap = tlen + 1;
        r->target = xrealloc(r->target, r->target_cap);
    }
    memcpy(r->target, target, tlen);
    r->target[tlen] = '\0';
    r->target_len = tlen;
    copy_field(r->ua, sizeof(r->ua), m, "user-agent");
    copy_field(r->referer, sizeof(r->referer), m, "referer");
}

void req__end(struct req *r)
{
    compose_free(&r->compose); /* fragments still in flight are cancelled */
    rc_req_fini(r);            /* an unfinished capture and a stale copy are dropped */
    if (r->in_request) {
        access__log(r); /* runs on_log */
        r->in_request = 0;
    }
    hookrun_end(r);
    cfg_unref(r->cfg);
    r->cfg = NULL;
}

void req__fini(struct req *r)
{
    compose_free(&r->compose);
    rc_req_fini(r);
    hookrun_end(r);
    if (r->fwd.up != NULL)
        up__abort(r);
    cfg_unref(r->cfg);
    r->cfg = NULL;
    if (r->fwd.req_head != NULL)
        evbuffer_free(r->fwd.req_head);
    r->fwd.req_head = NULL;
    free(r->target);
    r->target = NULL;
    r->magic = 0;
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

/* A small JSON response made here, through the same ops as an origin's (so with
 * a Content-Type of its own, which ops->respond does not take). */
static void answer_json(struct req *r, int status, const char *json)
{
    char head[256];
    size_t blen = strlen(json);
    int hl = snprintf(head, sizeof(head),
                      "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                      "Cache-Control: no-store\r\nContent-Length: %zu\r\n\r\n",
                      status, req__reason(status), blen);
    struct h1_limits lim = {sizeof(head), sizeof(head), H1_MAX_HEADERS_CAP};
    struct h1_msg *m = &r->w->page_msg; /* free: this request is no page */
    if (h1_parse_response(head, (size_t)hl, &lim, r->head_method, m) != H1_OK) {
        r->ops->respond(r, 500, "", "cannot write the response", 0);
        return;
    }
    r->status = status;
    r->ops->response_head(r, m);
    if (!r->head_method && blen > 0) {
        struct evbuffer *b = r->w->scratch;
        evbuffer_add(b, json, blen);
        r->ops->response_body(r, b, blen);
    }
    r->ops->response_end(r);
}

/* PURGE, as Varnish's default configuration has it: purges the request's URL (its
 * host, path and query; every channel, coding and Vary variant) for the clients
 * that purge.allow names, and answers the number of stored responses purged; other
 * clients get 405 like any method this server does not take. The scan of the store
 * runs on this worker (proxy/purge.h). */
static void answer_purge(struct req *r, const struct h1_msg *m)
{
    const struct cfg_purge *p = r->cfg->purge;
    if (p == NULL || r->peer == NULL || !cfg_cidr_match(p->allow, p->nallow, r->peer)) {
        r->ops->respond(r, 405, ALLOW_METHODS, "PURGE is not allowed from this address", 0);
        return;
    }
    struct up_target tg;
    if (origin_form(m->target, m->target_len, &tg) < 0) {
        r->ops->respond(r, 400, "", "invalid request-target", 1);
        return;
    }
    struct purge_req pr = {0};
    pr.kind = PURGE_URL;
    pr.host = tg.authority != NULL ? tg.authority : m->host; /* as rcache.c keys it */
    pr.host_len = tg.authority != NULL ? tg.authority_len : m->host_len;
    pr.https = r->tls;
    pr.value = tg.uri;
    pr.value_len = tg.uri_len;
    size_t count = 0;
    int err = purge_execute(r->cfg, &pr, &count);
    if (err != PURGE_OK) {
        r->ops->respond(r, err == PURGE_E_NO_STORE ? 503 : 400, "", purge_strerror(err), 0);
        return;
    }
    char json[96];
    snprintf(json, sizeof(json), "{\"purged\": %zu, \"kind\": \"url\", \"soft\": false}\n", count);
    answer_json(r, 200, json);
}

/* Requests answered here rather than forwarded. Returns 1 when answered. */
static int answer_locally(struct req *r, const struct h1_msg *m)
{
    int options = util_ieq(m->method, m->method_len, "OPTIONS");
    int asterisk = m->target_len == 1 && m->target[0] == '*';
    if (util_ieq(m->method, m->method_len, "CONNECT")) {
        r->ops->respond(r, 405, "", "CONNECT is not supported", 1);
        return 1;
    }
    if (util_ieq(m->method, m->method_len, "TRACE")) {
        /* TRACE would reflect credentials and cookies: refused, as most proxies do. */
        r->ops->respond(r, 405, ALLOW_METHODS, "TRACE is not supported", 0);
        return 1;
    }
    if (options && (asterisk || max_forwards(m) == 0)) {
        /* OPTIONS * is about this server; Max-Forwards: 0 means "you answer". */
        r->ops->respond(r, 200, ALLOW_METHODS, "", 0);
        return 1;
    }
    if (m->method_len == 5 && memcmp(m->method, "PURGE", 5) == 0) {
        /* Methods are case-sensitive (RFC 9110 9.1): "purge" goes on to the origin. */
        answer_purge(r, m);
        return 1;
    }
    return 0;
}

void req__dispatch(struct req *r, const struct h1_msg *m)
{
    r->head_method = util_ieq(m->method, m->method_len, "HEAD");
    r->body_done = m->body == H1_BODY_NONE;
    if (answer_locally(r, m))
        return;
    struct up_target tg;
    if (origin_form(m->target, m->target_len, &tg) < 0) {
        r->ops->respond(r, 400, "", "invalid request-target", 1);
        return;
    }
    if (m->body == H1_BODY_LENGTH && m->content_length > r->cfg->limits.body_size) {
        r->ops->respond(r, 413, "", "request body over limits.body_size", 1);
        return;
    }
    const char *qs = memchr(tg.uri, '?', tg.uri_len);
    size_t path_len = qs ? (size_t)(qs - tg.uri) : tg.uri_len;
    struct route_match rm;
    if (route_find(r->cfg, tg.uri, path_len, &rm) < 0 ||
        (rm.route->origin == NULL && rm.route->template == NULL)) {
        r->ops->respond(r, 404, "", "no route for this path", 0);
        return;
    }
    if (rm.route->hooks != NULL) {
        if (hookrun_begin(r, rm.route) < 0)
            return;
        if (rm.route->template != NULL)
            page_classify(r, m, &tg); /* on_request reads and may set the channel */
        if (hookrun_request(r, m, &tg, &rm) != 0)
            return;
    }
    if (rm.route->template != NULL) {
        page_dispatch(r, &rm, m, &tg);
        return;
    }
    int rc = rc_lookup(r, rm.route, m, &tg);
    if (rc == RC_ANSWERED)
        return;
    up__prepare(r, m, &tg);
    if (rc == RC_WAITING) {
        /* Another request is fetching this key: this one waits for it (rcache.c
         * starts it later if it must still go to the origin). */
        r->rc.origin = rm.route->origin;
        return;
    }
    up__start(r, rm.route->origin);
}
