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

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
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

const char *const rc_stat_names[RC_NSTATS] = {"hits",      "misses", "stale_served",
                                              "collapsed", "stored", "bypassed"};

static void count(const struct req *r, enum rc_stat st)
{
    if (r->rc.route != NULL)
        __atomic_add_fetch(&((struct cfg_route *)r->rc.route)->stats[st], 1, __ATOMIC_RELAXED);
}

void rc_metrics(struct evbuffer *out)
{
    if (store == NULL)
        return;
    struct l1_stats st;
    l1_stats(store, &st);
    evbuffer_add_printf(out,
                        "# HELP tessera_cache_bytes Bytes held by the memory cache.\n"
                        "# TYPE tessera_cache_bytes gauge\ntessera_cache_bytes %llu\n"
                        "# TYPE tessera_cache_max_bytes gauge\ntessera_cache_max_bytes %llu\n"
                        "# TYPE tessera_cache_objects gauge\ntessera_cache_objects %llu\n"
                        "# TYPE tessera_cache_evictions_total counter\n"
                        "tessera_cache_evictions_total %llu\n"
                        "# TYPE tessera_cache_inserts_total counter\n"
                        "tessera_cache_inserts_total %llu\n",
                        (unsigned long long)st.bytes, (unsigned long long)st.max_bytes,
                        (unsigned long long)st.objects, (unsigned long long)st.evictions,
                        (unsigned long long)st.inserts);
}

/* ---- request coalescing ------------------------------------------------------
 * One "flight" per key being fetched: the first miss leads it; later misses for
 * the key wait on its list. When the leader's response is stored (or found not
 * storable, or the leader goes away) the waiters move to their workers'
 * mailboxes and are woken with event_active; each then looks the key up again
 * or goes to the origin itself. One lock guards the flight table, every wait
 * list and every mailbox: only misses take it, and briefly. */
#define RC_BUCKETS 1024
#define RC_MAX_WAITERS 1000

struct rc_flight {
    struct rc_flight *next;
    uint64_t hlo, hhi;
    struct req *leader;
    TAILQ_HEAD(, rc_wait) waiters;
    unsigned nwaiters;
};

struct rc_wait {
    struct req *r;
    struct worker *w;
    struct rc_flight *flight; /* NULL once in the mailbox */
    struct event *timer;
    TAILQ_ENTRY(rc_wait) link;
};

static pthread_mutex_t flights_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rc_flight *flights[RC_BUCKETS];

/* Hit-for-miss: keys whose last answer could not be stored skip coalescing for a
 * while, so a popular uncacheable URL does not make its requests queue behind
 * each other (direct-mapped, guarded by flights_lock). */
#define RC_HFM_SLOTS 4096
#define RC_HFM_SECONDS 10
static struct {
    uint64_t hlo, hhi;
    int64_t until;
} hfm[RC_HFM_SLOTS];

static struct rc_flight **flight_slot(uint64_t hlo, uint64_t hhi)
{
    struct rc_flight **p = &flights[hlo % RC_BUCKETS];
    while (*p != NULL && ((*p)->hlo != hlo || (*p)->hhi != hhi))
        p = &(*p)->next;
    return p;
}

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

static void serve_obj(struct req *r, struct obj *o, int64_t now, const struct cc_request *cond);

/* Ends the request's flight: its waiters are handed to their workers. */
static void flight_end(struct req *r)
{
    struct rc_flight *f = r->rc.flight;
    if (f == NULL)
        return;
    r->rc.flight = NULL;
    struct worker *wake[256]; /* workers are at most 256 (cfg) */
    size_t nwake = 0;
    pthread_mutex_lock(&flights_lock);
    struct rc_flight **p = flight_slot(f->hlo, f->hhi);
    if (*p == f)
        *p = f->next;
    struct rc_wait *wt;
    while ((wt = TAILQ_FIRST(&f->waiters)) != NULL) {
        TAILQ_REMOVE(&f->waiters, wt, link);
        wt->flight = NULL;
        TAILQ_INSERT_TAIL(&wt->w->rc_mail, wt, link);
        size_t k = 0;
        while (k < nwake && wake[k] != wt->w)
            k++;
        if (k == nwake && nwake < ARRAY_SIZE(wake))
            wake[nwake++] = wt->w;
    }
    pthread_mutex_unlock(&flights_lock);
    free(f);
    for (size_t k = 0; k < nwake; k++)
        event_active(wake[k]->rc_ev, EV_READ, 0);
}

static void wait_free(struct rc_wait *wt)
{
    if (wt->timer != NULL)
        event_free(wt->timer);
    free(wt);
}

/* A woken waiter (on its own thread): the stored answer, or the origin. */
static void resume(struct req *r, const char *why)
{
    int64_t now = now_s();
    struct obj *o =
        why == NULL ? l1_lookup(store, r->rc.key, r->rc.key_len, r->rc.hlo, r->rc.hhi) : NULL;
    if (o != NULL && now < obj_expires_at(o)) {
        char ttl[32];
        snprintf(ttl, sizeof(ttl), "%lld", (long long)(obj_expires_at(o) - now));
        status_set(r, "tessera; hit; collapsed; ttl=%s", ttl);
        count(r, RC_COLLAPSED);
        serve_obj(r, o, now, NULL);
        return;
    }
    obj_unref(&o);
    /* The leader's answer was not stored (or the wait timed out): this one goes
     * to the origin itself and stores nothing, as nginx's cache lock does. */
    r->rc.cacheable = 0;
    status_set(r, why == NULL ? "tessera; fwd=miss; collapsed%s" : "tessera; fwd=miss; detail=%s",
               why == NULL ? "" : why);
    up__start(r, r->rc.origin);
}

void rc__on_mail(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    struct rc_mailbox mail;
    TAILQ_INIT(&mail);
    pthread_mutex_lock(&flights_lock);
    struct rc_wait *wt;
    while ((wt = TAILQ_FIRST(&w->rc_mail)) != NULL) {
        TAILQ_REMOVE(&w->rc_mail, wt, link);
        TAILQ_INSERT_TAIL(&mail, wt, link);
    }
    pthread_mutex_unlock(&flights_lock);
    while ((wt = TAILQ_FIRST(&mail)) != NULL) {
        TAILQ_REMOVE(&mail, wt, link);
        struct req *r = wt->r;
        r->rc.wait = NULL;
        wait_free(wt);
        resume(r, NULL);
    }
}

/* Takes a waiter off whichever list holds it (its own thread). */
static void wait_cancel(struct req *r)
{
    struct rc_wait *wt = r->rc.wait;
    if (wt == NULL)
        return;
    r->rc.wait = NULL;
    pthread_mutex_lock(&flights_lock);
    if (wt->flight != NULL) {
        TAILQ_REMOVE(&wt->flight->waiters, wt, link);
        wt->flight->nwaiters--;
    } else {
        TAILQ_REMOVE(&wt->w->rc_mail, wt, link);
    }
    pthread_mutex_unlock(&flights_lock);
    wait_free(wt);
}

static void on_wait_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct req *r = arg;
    wait_cancel(r);
    resume(r, "wait-timeout");
}

/* Leads a new flight for r's key, or joins the one in progress. Returns
 * RC_WAITING when r now waits, RC_FORWARD when it goes to the origin. */
static int coalesce(struct req *r)
{
    struct rc_state *rc = &r->rc;
    pthread_mutex_lock(&flights_lock);
    size_t slot = rc->hlo % RC_HFM_SLOTS;
    if (hfm[slot].hlo == rc->hlo && hfm[slot].hhi == rc->hhi && hfm[slot].until > now_s()) {
        pthread_mutex_unlock(&flights_lock);
        size_t len = strlen(r->cache_status);
        snprintf(r->cache_status + len, sizeof(r->cache_status) - len, "; detail=hit-for-miss");
        rc->hfm = 1;
        return RC_FORWARD;
    }
    struct rc_flight **p = flight_slot(rc->hlo, rc->hhi);
    struct rc_flight *f = *p;
    if (f == NULL) {
        f = calloc(1, sizeof(*f));
        if (f != NULL) {
            f->hlo = rc->hlo;
            f->hhi = rc->hhi;
            f->leader = r;
            TAILQ_INIT(&f->waiters);
            *p = f;
            rc->flight = f;
        }
        pthread_mutex_unlock(&flights_lock);
        return RC_FORWARD;
    }
    struct rc_wait *wt = f->nwaiters < RC_MAX_WAITERS ? calloc(1, sizeof(*wt)) : NULL;
    if (wt == NULL) {
        pthread_mutex_unlock(&flights_lock);
        rc->cacheable = 0; /* too many waiting: go, and store nothing */
        return RC_FORWARD;
    }
    wt->r = r;
    wt->w = r->w;
    wt->flight = f;
    TAILQ_INSERT_TAIL(&f->waiters, wt, link);
    f->nwaiters++;
    rc->wait = wt;
    pthread_mutex_unlock(&flights_lock);
    return RC_WAITING;
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

/* Sends a stored object. With `cond` (the request's fields), a matching
 * If-None-Match / If-Modified-Since gets 304 Not Modified (RFC 9111 4.3.2,
 * RFC 9110 13.2.2). Note: this parses into the worker's scratch head, which
 * may be the request's own parsed head: callers must not use that afterwards. */
static void serve_obj(struct req *r, struct obj *o, int64_t now, const struct cc_request *cond)
{
    struct h1_msg *m = &r->w->msg;
    struct h1_limits lim = {65536, 65536, H1_MAX_HEADERS_CAP};
    if (h1_parse_response(obj_head(o), obj_head_len(o), &lim, r->head_method, m) != H1_OK) {
        obj_unref(&o); /* cannot happen for what rc_response_head wrote */
        r->ops->respond(r, 500, "", "cached object unreadable", 0);
        return;
    }
    if (cond != NULL && m->status == 200) {
        int e = h1_header_find(m, "etag", 0), l = h1_header_find(m, "last-modified", 0);
        if (cc_not_modified(
                cond, e >= 0 ? m->headers[e].value : NULL, e >= 0 ? m->headers[e].value_len : 0,
                l >= 0 ? m->headers[l].value : NULL, l >= 0 ? m->headers[l].value_len : 0)) {
            m->status = 304;
            m->reason = "Not Modified";
            m->reason_len = 12;
            m->body = H1_BODY_NONE;
            r->age = now - obj_stored_at(o);
            r->status = 304;
            r->ops->response_head(r, m);
            obj_unref(&o);
            r->ops->response_end(r);
            return;
        }
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

/* ---- background refresh (stale-while-revalidate) ------------------------------
 * A request with no client: its req_ops drop the response; rcache stores it
 * through the usual capture. It frees itself when the exchange ends. */
struct bg_req {
    struct req req;
};

static void bg_done(struct req *r)
{
    req__end(r);
    req__fini(r);
    free((struct bg_req *)r);
}

static void bg_head(struct req *r, const struct h1_msg *m)
{
    r->status = m->status;
}

static void bg_body(struct req *r, struct evbuffer *src, size_t n)
{
    evbuffer_drain(src, n);
}

static void bg_respond(struct req *r, int status, const char *extra, const char *body,
                       int close_after)
{
    if (r->fwd.up != NULL)
        up__abort(r);
    r->status = status;
    bg_done(r);
}

static size_t bg_pending(struct req *r)
{
    return 0;
}

static void bg_noop_size(struct req *r, size_t n)
{
}

static void bg_noop_int(struct req *r, int v)
{
}

static const struct req_ops bg_ops = {
    .response_head = bg_head,
    .response_body = bg_body,
    .response_end = bg_done,
    .response_abort = bg_done,
    .respond = bg_respond,
    .pending = bg_pending,
    .notify_below = bg_noop_size,
    .pause_body = bg_noop_int,
};

/* Starts one background refresh of r's key unless one is under way. The caller
 * must not use r->w->msg after this (up__prepare reads m first). */
static void refresh(struct req *r, const struct cfg_route *route, const struct h1_msg *m,
                    const struct up_target *t)
{
    struct bg_req *bg = calloc(1, sizeof(*bg));
    if (bg == NULL)
        return;
    struct req *b = &bg->req;
    req__init(b, r->w, &bg_ops, "-");
    b->cfg = cfg_ref(r->cfg); /* route and origin below belong to r's generation */
    req__begin(b);
    req__note(b, "GET", 3, r->target, r->target_len, NULL);
    b->proto = "refresh";
    b->tls = r->tls;
    b->rc = r->rc; /* the key, rules and route; no flight, wait or stale copy */
    b->rc.flight = NULL;
    b->rc.wait = NULL;
    b->rc.stale = NULL;
    b->rc.capture = NULL;
    b->rc.cacheable = 1;
    b->age = -1;
    snprintf(b->cache_status, sizeof(b->cache_status), "tessera; fwd=stale; detail=refresh");
    if (coalesce(b) != RC_FORWARD || b->rc.flight == NULL) {
        wait_cancel(b); /* a refresh or fetch of this key is already under way */
        req__end(b);
        req__fini(b);
        free(bg);
        return;
    }
    up__prepare(b, m, t);
    up__start(b, route->origin); /* may end (and free) b at once */
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
    rc->route = route;
    int get = util_ieq(m->method, m->method_len, "GET") || r->head_method;
    rc->unsafe = cc_is_unsafe_method(m->method, m->method_len);
    if ((!get && !rc->unsafe) || build_key(r, m, t) != KEY_OK) {
        rc->unsafe = 0;
        status_set(r, "tessera; fwd=%s", "bypass");
        count(r, RC_BYPASS);
        return 0;
    }
    if (rc->unsafe) {
        status_set(r, "tessera; fwd=%s", "bypass");
        count(r, RC_BYPASS);
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
        count(r, RC_MISS);
        return 0;
    }
    int64_t now = now_s();
    struct obj *o = l1_lookup(store, rc->key, rc->key_len, rc->hlo, rc->hhi);
    if (o != NULL && now < obj_expires_at(o)) {
        char ttl[32];
        snprintf(ttl, sizeof(ttl), "%lld", (long long)(obj_expires_at(o) - now));
        status_set(r, "tessera; hit; ttl=%s", ttl);
        count(r, RC_HIT);
        serve_obj(r, o, now, &cq);
        return RC_ANSWERED;
    }
    if (o != NULL && now < obj_stale_until(o) && !r->head_method) {
        /* RFC 5861 3: answer with the stale copy now, refresh in the background
         * (one refresh per key: the refresh leads the key's flight). */
        status_set(r, "tessera; hit; detail=%s", "stale-while-revalidate");
        count(r, RC_STALE);
        refresh(r, route, m, t);
        serve_obj(r, o, now, &cq);
        return RC_ANSWERED;
    }
    status_set(r, "tessera; fwd=%s", o != NULL ? "stale" : "miss");
    count(r, RC_MISS);
    if (o != NULL && now < obj_error_until(o))
        rc->stale = o; /* kept for stale-if-error */
    else if (o != NULL)
        obj_unref(&o);
    if (r->head_method || coalesce(r) != RC_WAITING)
        return RC_FORWARD;
    /* Bounded by the origin's timeout: then it goes there itself. */
    uint64_t ms = route->origin->timeout_ms;
    struct timeval tv = util_ms_tv(ms);
    rc->wait->timer = evtimer_new(r->w->base, on_wait_timeout, r);
    evtimer_add(rc->wait->timer, &tv);
    return RC_WAITING;
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
    if (!rc->cacheable || r->head_method) {
        flight_end(r);
        return;
    }
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
            int64_t swr = (int64_t)(rc->rules->stale_while_revalidate_ms / 1000);
            if (!p.must_revalidate && p.swr > swr)
                swr = p.swr;
            if (sie < swr)
                sie = swr; /* the error window never ends before the revalidate one */
            obj_set_times(rc->capture, born, born + p.ttl, born + p.ttl + swr, born + p.ttl + sie);
            rc->body_at = 0;
            count(r, RC_STORED);
            snprintf(r->cache_status + strlen(r->cache_status),
                     sizeof(r->cache_status) - strlen(r->cache_status), "; stored; ttl=%s", ttl);
            return;
        }
    }
detail:
    pthread_mutex_lock(&flights_lock);
    size_t slot = rc->hlo % RC_HFM_SLOTS;
    hfm[slot].hlo = rc->hlo;
    hfm[slot].hhi = rc->hhi;
    hfm[slot].until = now_s() + RC_HFM_SECONDS;
    pthread_mutex_unlock(&flights_lock);
    flight_end(r); /* nothing will be stored: the waiters go on now */
    if (!rc->hfm)  /* one detail parameter (RFC 9211 2) */
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
    if (rc->capture == NULL) {
        flight_end(r);
        return;
    }
    if (complete && rc->body_at == obj_body_len(rc->capture)) {
        int err = l1_insert(store, rc->capture);
        if (err != L1_OK)
            log_debug("cache", "not stored: %s", l1_strerror(err));
    }
    obj_unref(&rc->capture);
    flight_end(r);
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
    count(r, RC_STALE);
    serve_obj(r, o, now_s(), NULL);
    return 1;
}

void rc_req_fini(struct req *r)
{
    wait_cancel(r);
    flight_end(r);
    obj_unref(&r->rc.capture);
    obj_unref(&r->rc.stale);
}
