/* SPDX-License-Identifier: Apache-2.0
 *
 * rcache: serves and fills the shared L1 store for routes with a `cache` table
 * (see rcache.h). A stored object is the response head as it will be sent
 * (status line and end-to-end fields with a Content-Length, without the fields
 * this cache consumes) followed by the body; a hit re-parses that head and sends
 * the body as an evbuffer reference to the object, which stays referenced until
 * the socket has written it: no copy of the body on the hit path.
 *
 * Times are whole seconds (RFC 9111 deals in delta-seconds). An object's
 * stored_at is its "birth" (response time minus its corrected initial age), so
 * Age = now - stored_at and it is fresh while now < expires_at.
 */
#include "rcache.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cc.h"
#include "key.h"
#include "l1.h"
#include "log.h"
#include "obj.h"
#include "util.h"
#include "worker_int.h"

#define RC_SHARDS 16
#define RC_MAX_FIELDS 128

static struct l1 *store;

int rc_start(uint64_t bytes)
{
    store = l1_new((size_t)bytes, RC_SHARDS, L1_S3FIFO);
    return store ? 0 : -1;
}

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static void status_set(struct req *r, const char *fmt, const char *detail)
{
    snprintf(r->cache_status, sizeof(r->cache_status), fmt, detail);
}

static size_t to_fields(const struct h1_msg *m, struct cc_field *f, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < m->num_headers && n < cap; i++, n++) {
        f[n].name = m->headers[i].name;
        f[n].name_len = m->headers[i].name_len;
        f[n].value = m->headers[i].value;
        f[n].value_len = m->headers[i].value_len;
    }
    return n;
}

static int build_key(struct req *r, const struct h1_msg *m, const struct up_target *t)
{
    struct key_builder kb;
    key_init(&kb, r->rc.key, sizeof(r->rc.key));
    const char *host = t->authority ? t->authority : m->host;
    size_t host_len = t->authority ? t->authority_len : m->host_len;
    const char *q = memchr(t->uri, '?', t->uri_len);
    size_t plen = q ? (size_t)(q - t->uri) : t->uri_len;
    key_add_method(&kb, "GET", 3); /* GET and HEAD share entries */
    key_add_host(&kb, host ? host : "", host ? host_len : 0, r->tls);
    key_add_path(&kb, t->uri, plen);
    if (q != NULL)
        key_add_query(&kb, q + 1, t->uri_len - plen - 1, NULL);
    return key_finish(&kb, &r->rc.hlo, &r->rc.hhi, &r->rc.key_len);
}

static void unref_cb(const void *data, size_t len, void *arg)
{
    struct obj *o = arg;
    obj_unref(&o);
}

static void serve_obj(struct req *r, struct obj *o, int64_t now)
{
    struct h1_msg *m = &r->w->msg;
    struct h1_limits lim = {65536, 65536, H1_MAX_HEADERS_CAP};
    if (h1_parse_response(obj_head(o), obj_head_len(o), &lim, r->head_method, m) != H1_OK) {
        obj_unref(&o); /* cannot happen for what rc_response_head wrote */
        r->ops->respond(r, 500, "", "cached object unreadable", 0);
        return;
    }
    r->age = now - obj_stored_at(o);
    r->status = m->status;
    r->ops->response_head(r, m);
    size_t blen = obj_body_len(o);
    if (!r->head_method && blen > 0) {
        struct evbuffer *b = r->w->scratch;
        evbuffer_add_reference(b, obj_body(o), blen, unref_cb, o);
        r->ops->response_body(r, b, blen);
    } else {
        obj_unref(&o);
    }
    r->ops->response_end(r);
}

int rc_lookup(struct req *r, const struct cfg_route *route, const struct h1_msg *m,
              const struct up_target *t)
{
    struct rc_state *rc = &r->rc;
    memset(rc, 0, offsetof(struct rc_state, key));
    r->age = -1;
    r->cache_status[0] = '\0';
    if (route->cache == NULL || store == NULL)
        return 0;
    rc->active = 1;
    rc->rules = route->cache;
    int get = util_ieq(m->method, m->method_len, "GET") || r->head_method;
    rc->unsafe = cc_is_unsafe_method(m->method, m->method_len);
    if ((!get && !rc->unsafe) || build_key(r, m, t) != KEY_OK) {
        rc->unsafe = 0;
        status_set(r, "tessera; fwd=%s", "bypass");
        return 0;
    }
    if (rc->unsafe) {
        status_set(r, "tessera; fwd=%s", "bypass");
        return 0;
    }
    rc->req_auth = h1_header_find(m, "authorization", 0) >= 0;
    struct cc_field f[RC_MAX_FIELDS];
    struct cc_request cq = {m->method, m->method_len, f, to_fields(m, f, RC_MAX_FIELDS)};
    struct cc_directives d;
    cc_request_directives(&cq, &d);
    rc->req_no_store = d.no_store;
    rc->cacheable = 1;
    if (cc_request_no_cache(&cq)) {
        /* RFC 9111 5.2.1.4: the client wants a response validated at the origin. */
        status_set(r, "tessera; fwd=%s", "request");
        return 0;
    }
    int64_t now = now_s();
    struct obj *o = l1_lookup(store, rc->key, rc->key_len, rc->hlo, rc->hhi);
    if (o != NULL && now < obj_expires_at(o)) {
        char ttl[32];
        snprintf(ttl, sizeof(ttl), "%lld", (long long)(obj_expires_at(o) - now));
        status_set(r, "tessera; hit; ttl=%s", ttl);
        serve_obj(r, o, now);
        return 1;
    }
    status_set(r, "tessera; fwd=%s", o != NULL ? "stale" : "miss");
    if (o != NULL && now < obj_error_until(o))
        rc->stale = o; /* kept for stale-if-error */
    else if (o != NULL)
        obj_unref(&o);
    return 0;
}

/* The head we store: status line and the fields a client gets, framed by a
 * Content-Length. Fields this cache consumes are left out (RFC 9213 2.1). */
static size_t stored_head(const struct h1_msg *m, struct evbuffer *b, uint64_t body_len)
{
    evbuffer_add_printf(b, "HTTP/1.1 %d %.*s\r\n", m->status, (int)m->reason_len, m->reason);
    for (size_t i = 0; i < m->num_headers; i++) {
        const struct h1_header *h = &m->headers[i];
        if (util_ieq(h->name, h->name_len, "content-length") ||
            util_ieq(h->name, h->name_len, "age") || cc_strip_field(h->name, h->name_len) ||
            h1_header_is_hop(m, h->name, h->name_len))
            continue;
        evbuffer_add(b, h->name, h->name_len);
        evbuffer_add(b, ": ", 2);
        evbuffer_add(b, h->value, h->value_len);
        evbuffer_add(b, "\r\n", 2);
    }
    evbuffer_add_printf(b, "Content-Length: %llu\r\n\r\n", (unsigned long long)body_len);
    return evbuffer_get_length(b);
}

void rc_response_head(struct req *r, const struct h1_msg *m)
{
    struct rc_state *rc = &r->rc;
    if (!rc->active)
        return;
    if (rc->unsafe) {
        /* RFC 9111 4.4: a non-error response to an unsafe method invalidates. */
        if (cc_response_invalidates(r->method, strlen(r->method), m->status))
            l1_remove(store, rc->key, rc->key_len, rc->hlo, rc->hhi);
        return;
    }
    if (!rc->cacheable || r->head_method)
        return;
    struct cc_field f[RC_MAX_FIELDS];
    struct cc_response resp = {m->status, f, to_fields(m, f, RC_MAX_FIELDS),
                               now_s() - (int64_t)((util_now_ms() - r->fwd.up_start_ms) / 1000)};
    struct cc_field qf[2];
    size_t nq = 0;
    if (rc->req_auth)
        qf[nq++] = (struct cc_field){"authorization", 13, "-", 1};
    if (rc->req_no_store)
        qf[nq++] = (struct cc_field){"cache-control", 13, "no-store", 8};
    struct cc_request cq = {"GET", 3, qf, nq};
    struct cc_rules rules;
    cc_rules_init(&rules);
    if (rc->rules->ttl_ms > 0)
        rules.ttl_override = (int64_t)(rc->rules->ttl_ms / 1000);
    rules.ignore_origin_cache_control = rc->rules->ignore_origin_cc != 0;
    rules.allow_set_cookie = rc->rules->allow_set_cookie != 0;
    int64_t now = now_s();
    struct cc_policy p;
    cc_policy_for(&resp, &cq, now, &rules, &p);
    const char *why = NULL;
    if (!p.storable)
        why = p.reason;
    else if (p.ttl <= p.age || p.no_cache)
        why = "stale"; /* nothing to gain until revalidation exists (issue 4) */
    else if (p.vary != NULL)
        why = "vary"; /* variants come with issue 4 */
    else if (m->body != H1_BODY_LENGTH && m->body != H1_BODY_NONE)
        why = "unsized";
    uint64_t blen = m->body == H1_BODY_LENGTH ? m->content_length : 0;
    char ttl[32];
    snprintf(ttl, sizeof(ttl), "%lld", (long long)(p.ttl - p.age));
    if (why == NULL) {
        struct evbuffer *b = r->w->scratch;
        size_t hl = stored_head(m, b, blen);
        /* obj_size adds its header and allocator rounding (< 4 KB) to these. */
        if (hl + blen + rc->key_len + 4096 > l1_max_object_size(store)) {
            evbuffer_drain(b, hl);
            why = "too-large";
        } else {
            rc->capture = obj_new(rc->key, rc->key_len, rc->hlo, rc->hhi, hl, (size_t)blen);
            if (rc->capture == NULL) {
                evbuffer_drain(b, hl);
                why = "no-memory";
                goto detail;
            }
            evbuffer_remove(b, obj_head_mut(rc->capture), hl);
            int64_t born = p.response_time - p.age;
            int64_t sie = (int64_t)(rc->rules->stale_if_error_ms / 1000);
            if (!p.must_revalidate && p.sie > sie)
                sie = p.sie;
            obj_set_times(rc->capture, born, born + p.ttl, born + p.ttl, born + p.ttl + sie);
            rc->body_at = 0;
            snprintf(r->cache_status + strlen(r->cache_status),
                     sizeof(r->cache_status) - strlen(r->cache_status), "; stored; ttl=%s", ttl);
            return;
        }
    }
detail:
    snprintf(r->cache_status + strlen(r->cache_status),
             sizeof(r->cache_status) - strlen(r->cache_status), "; detail=%s", why);
}

void rc_response_body(struct req *r, struct evbuffer *src, size_t n)
{
    struct rc_state *rc = &r->rc;
    if (rc->capture == NULL || n == 0)
        return;
    size_t room = obj_body_len(rc->capture) - rc->body_at;
    if (n > room) {
        obj_unref(&rc->capture); /* the origin sent more than it said */
        return;
    }
    evbuffer_copyout(src, (char *)obj_body_mut(rc->capture) + rc->body_at, n);
    rc->body_at += n;
}

void rc_response_end(struct req *r, int complete)
{
    struct rc_state *rc = &r->rc;
    if (rc->capture == NULL)
        return;
    if (complete && rc->body_at == obj_body_len(rc->capture)) {
        int err = l1_insert(store, rc->capture);
        if (err != L1_OK)
            log_debug("cache", "not stored: %s", l1_strerror(err));
    }
    obj_unref(&rc->capture);
}

int rc_has_stale(const struct req *r)
{
    return r->rc.stale != NULL && now_s() < obj_error_until(r->rc.stale);
}

int rc_serve_stale(struct req *r, int status)
{
    if (!rc_has_stale(r) || r->fwd.resp_started)
        return 0;
    struct obj *o = r->rc.stale;
    r->rc.stale = NULL;
    obj_unref(&r->rc.capture);
    char st[96];
    snprintf(st, sizeof(st), "stale; fwd-status=%d; detail=stale-if-error", status);
    status_set(r, "tessera; fwd=%s", st);
    serve_obj(r, o, now_s());
    return 1;
}

void rc_req_fini(struct req *r)
{
    obj_unref(&r->rc.capture);
    obj_unref(&r->rc.stale);
}
