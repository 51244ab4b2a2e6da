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
 *
 * The Redis L2 (l2.h, when cache.redis is set): the leader of a key's flight
 * asks it before the origin, so the lookup order is L1, L2, origin (or a page's
 * composition). An L2 object is promoted into the L1 with its own times (they
 * are absolute, so it keeps its remaining lifetime) and the flight's waiters
 * find it there. Every object stored in the L1 from a response is also written
 * to the L2 (on the next loop turn), and every invalidation deletes it there.
 * With no L2 nothing of this runs: L1 hits never reach it, and a miss costs one
 * NULL check.
 */
#include "rcache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cc.h"
#include "key.h"
#include "l1.h"
#include "l2.h"
#include "l2_bus.h"
#include "hookrun.h"
#include "log.h"
#include "obj.h"
#include "purge.h"
#include "rcrules.h"
#include "util.h"
#include "worker_int.h"

#define RC_SHARDS 16
#define RC_MAX_FIELDS 128
#define RC_F_VARY 1u    /* obj flag: a Vary marker, not a response */
#define RC_F_DATED 2u   /* obj flag: its head has a Date (stored_head wrote it) */
#define RC_NONCE_LEN 16 /* hex digits that open a marker's head */
#define RC_SPEC_MAX 512 /* a marker's head: nonce and field names */
#define RC_MARKER_S (365 * 86400)

static struct l1 *store;

const char *const rc_stat_names[RC_NSTATS] = {"hits",   "misses",   "stale_served", "collapsed",
                                              "stored", "bypassed", "revalidated"};

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
    l2_metrics(out); /* tessera_l2_*, when cache.redis is set */
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
    if (store != NULL)
        purge_attach(store); /* the admin API and PURGE purge this store */
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

static void serve_obj(struct req *r, struct obj *o, int64_t now, const struct cc_request *cond,
                      int not_modified);

/* "tessera; hit; ttl=N" without printf: the hit path's one Cache-Status. */
static void status_hit(struct req *r, int64_t ttl)
{
    static const char pre[] = "tessera; hit; ttl=";
    char d[24];
    size_t n = 0;
    uint64_t v = ttl > 0 ? (uint64_t)ttl : 0;
    do {
        d[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    memcpy(r->cache_status, pre, sizeof(pre) - 1);
    for (size_t i = 0; i < n; i++)
        r->cache_status[sizeof(pre) - 1 + i] = d[n - 1 - i];
    r->cache_status[sizeof(pre) - 1 + n] = '\0';
}
static struct obj *find(struct req *r, const struct h1_msg *m);
static const struct h1_msg *fwd_head(struct req *r);

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
    struct obj *o = why == NULL ? find(r, fwd_head(r)) : NULL;
    if (o != NULL && now < obj_expires_at(o)) {
        char ttl[32];
        snprintf(ttl, sizeof(ttl), "%lld", (long long)(obj_expires_at(o) - now));
        status_set(r, "tessera; hit; collapsed; ttl=%s", ttl);
        r->rc.fresh_for = obj_expires_at(o) - now;
        count(r, RC_COLLAPSED);
        serve_obj(r, o, now, NULL, r->rc.client_nm);
        return;
    }
    if (o != NULL && r->w->l2 != NULL && now < obj_stale_until(o)) {
        /* The leader found a copy in the L2 that may be served stale and refreshes
         * it in the background (on_l2): RFC 5861 3 for the waiters too. */
        status_set(r, "tessera; hit; collapsed; detail=%s", "stale-while-revalidate");
        count(r, RC_STALE);
        serve_obj(r, o, now, NULL, r->rc.client_nm);
        return;
    }
    obj_unref(&o);
    /* The leader's answer was not stored (or the wait timed out): this one goes
     * to the origin itself and stores nothing, as nginx's cache lock does. */
    r->rc.cacheable = 0;
    status_set(r, why == NULL ? "tessera; fwd=miss; collapsed%s" : "tessera; fwd=miss; detail=%s",
               why == NULL ? "" : why);
    if (r->fetch != NULL)
        r->fetch(r); /* a page: composed rather than fetched */
    else
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

/* The route's query keep/drop lists, as the key builder takes them. */
static struct key_query_rules query_rules(const struct cfg_route_cache *cr)
{
    return (struct key_query_rules){(const char *const *)cr->query_keep.items, cr->query_keep.n,
                                    (const char *const *)cr->query_drop.items, cr->query_drop.n};
}

static int build_key(struct req *r, const struct h1_msg *m, const struct up_target *t)
{
    struct rc_state *rc = &r->rc;
    struct key_builder kb;
    key_init(&kb, rc->key, sizeof(rc->key));
    const char *host = t->authority ? t->authority : m->host;
    size_t host_len = t->authority ? t->authority_len : m->host_len;
    const char *q = memchr(t->uri, '?', t->uri_len);
    size_t plen = q ? (size_t)(q - t->uri) : t->uri_len;
    key_add_method(&kb, "GET", 3); /* GET and HEAD share entries */
    key_add_host(&kb, host ? host : "", host ? host_len : 0, r->tls);
    rc->host_end = kb.len;
    key_add_path(&kb, t->uri, plen);
    struct key_query_rules qr = query_rules(rc->rules);
    if (q != NULL)
        key_add_query(&kb, q + 1, t->uri_len - plen - 1, &qr);
    if (r->channel != NULL)
        key_add_part(&kb, KEY_TAG_CHANNEL, r->channel, strlen(r->channel));
    if (r->key_extra != NULL)
        key_add_part(&kb, KEY_TAG_EXTRA, r->key_extra, strlen(r->key_extra));
    size_t hlen;
    const char *hpart = hookrun_key_part(r, &hlen);
    if (hpart != NULL)
        key_add_part(&kb, KEY_TAG_EXTRA, hpart, hlen);
    int err = key_finish(&kb, &rc->hlo, &rc->hhi, &rc->key_len);
    rc->base_hlo = rc->hlo;
    rc->base_hhi = rc->hhi;
    rc->base_len = rc->key_len;
    return err;
}

/* Back to the primary key after a variant's. */
static void base_key(struct rc_state *rc)
{
    rc->key_len = rc->base_len;
    rc->hlo = rc->base_hlo;
    rc->hhi = rc->base_hhi;
}

/* Appends the Vary part for the request field name[0..nlen): its field lines
 * joined, Cookie without the cookies the route strips (all stripped is absent,
 * as the origin sees it). */
static int vary_part(struct key_builder *kb, const struct cfg_route_cache *rules,
                     const struct h1_msg *m, const char *name, size_t nlen)
{
    char buf[8192];
    size_t len = 0;
    int found = 0;
    int cookie = nlen == 6 && strncasecmp(name, "cookie", 6) == 0;
    for (size_t i = 0; i < m->num_headers; i++) {
        const struct h1_header *h = &m->headers[i];
        if (h->name_len != nlen || strncasecmp(h->name, name, nlen) != 0)
            continue;
        size_t sep = found ? 2 : 0;
        if (len + sep + h->value_len > sizeof(buf))
            return KEY_E_OVERFLOW;
        size_t at = len + sep, n = h->value_len;
        if (cookie && rules->strip_cookies.n > 0) {
            n = rcr_strip_cookies(&rules->strip_cookies, h->value, h->value_len, buf + at,
                                  sizeof(buf) - at);
            if (n == (size_t)-1)
                return KEY_E_OVERFLOW;
            if (n == 0)
                continue;
        } else {
            memcpy(buf + at, h->value, n);
        }
        if (sep)
            memcpy(buf + len, cookie ? "; " : ", ", 2);
        len = at + n;
        found = 1;
    }
    return key_add_vary(kb, name, nlen, found ? buf : NULL, len);
}

/* Makes r's key the variant of `spec` (a marker's head: nonce, then the field
 * names joined by ',') for the request fields in m. */
static int variant_key(struct req *r, const struct h1_msg *m, const char *spec, size_t slen)
{
    struct rc_state *rc = &r->rc;
    if (m == NULL || slen < RC_NONCE_LEN)
        return KEY_E_OVERFLOW;
    struct key_builder kb;
    key_reopen(&kb, rc->key, sizeof(rc->key), rc->base_len);
    key_add_part(&kb, KEY_TAG_VARY, spec, RC_NONCE_LEN);
    const char *p = spec + RC_NONCE_LEN, *end = spec + slen;
    while (p < end) {
        const char *c = memchr(p, ',', (size_t)(end - p));
        const char *e = c ? c : end;
        vary_part(&kb, rc->rules, m, p, (size_t)(e - p));
        p = c ? c + 1 : end;
    }
    return key_finish(&kb, &rc->hlo, &rc->hhi, &rc->key_len);
}

/* Looks r's key up, following a Vary marker to the request's variant (m: the
 * request's fields; NULL when they are not at hand, which makes a marker a
 * miss). Returns a reference or NULL. */
static struct obj *find(struct req *r, const struct h1_msg *m)
{
    struct rc_state *rc = &r->rc;
    base_key(rc);
    struct obj *o = l1_lookup(store, rc->key, rc->key_len, rc->hlo, rc->hhi);
    if (o == NULL || !(obj_flags(o) & RC_F_VARY))
        return o;
    int err = variant_key(r, m, obj_head(o), obj_head_len(o));
    obj_unref(&o);
    if (err != KEY_OK) {
        base_key(rc);
        rc->cacheable = 0; /* its variant cannot be keyed: never stored */
        return NULL;
    }
    return l1_lookup(store, rc->key, rc->key_len, rc->hlo, rc->hhi);
}

/* The request head as sent upstream, parsed into the worker's second scratch
 * head (a waiter's or a storer's view of its own request). NULL if missing. */
static const struct h1_msg *fwd_head(struct req *r)
{
    struct evbuffer *b = r->fwd.req_head;
    if (b == NULL)
        return NULL;
    size_t n = evbuffer_get_length(b);
    const char *p = (const char *)evbuffer_pullup(b, -1);
    struct h1_limits lim = {n + 1, n + 1, H1_MAX_HEADERS_CAP};
    if (p == NULL || h1_parse_request(p, n, &lim, &r->w->aux) != H1_OK)
        return NULL;
    return &r->w->aux;
}

static void unref_cb(const void *data, size_t len, void *arg)
{
    struct obj *o = arg;
    obj_unref(&o);
}

/* Hands the object's body to the client by reference; the reference taken by
 * the caller goes with it (released once the bytes are written). */
static void send_body(struct req *r, struct obj *o)
{
    size_t blen = obj_body_len(o);
    if (blen == 0) {
        obj_unref(&o);
        return;
    }
    struct evbuffer *b = r->w->scratch;
    evbuffer_add_reference(b, obj_body(o), blen, unref_cb, o);
    r->ops->response_body(r, b, blen);
}

/* Whether the request carries a validator the cache may answer with a 304. */
static int conditional(const struct cc_request *cond)
{
    size_t i = 0, k = 0;
    return cond != NULL && (cc_field_find(cond->fields, cond->nfields, "if-none-match", &i) ||
                            cc_field_find(cond->fields, cond->nfields, "if-modified-since", &k));
}

/* The stored validators of the head parsed in m. */
static void validators(const struct h1_msg *m, const char **etag, size_t *elen, const char **lm,
                       size_t *llen)
{
    int e = h1_header_find(m, "etag", 0), l = h1_header_find(m, "last-modified", 0);
    *etag = e >= 0 ? m->headers[e].value : NULL;
    *elen = e >= 0 ? m->headers[e].value_len : 0;
    *lm = l >= 0 ? m->headers[l].value : NULL;
    *llen = l >= 0 ? m->headers[l].value_len : 0;
}

/* Sends a stored object. With `cond` (the request's fields), a matching
 * If-None-Match / If-Modified-Since gets 304 Not Modified (RFC 9111 4.3.2,
 * RFC 9110 13.2.2); `not_modified` says so when the request's fields are gone
 * (decided earlier against the same validators). Note: this parses into the
 * worker's scratch head, which may be the request's own parsed head: callers
 * must not use that afterwards. */
static void serve_obj(struct req *r, struct obj *o, int64_t now, const struct cc_request *cond,
                      int not_modified)
{
    if (r->ops->stored_head != NULL && !r->head_method && !not_modified &&
        (obj_flags(o) & RC_F_DATED) && !conditional(cond)) {
        /* The hit path: the stored head goes out as it is, the body by reference. */
        const char *h = obj_head(o);
        r->age = now - obj_stored_at(o);
        r->status = (h[9] - '0') * 100 + (h[10] - '0') * 10 + (h[11] - '0');
        r->ops->stored_head(r, h, obj_head_len(o));
        send_body(r, o);
        r->ops->response_end(r);
        return;
    }
    struct h1_msg *m = &r->w->msg;
    struct h1_limits lim = {65536, 65536, H1_MAX_HEADERS_CAP};
    if (h1_parse_response(obj_head(o), obj_head_len(o), &lim, r->head_method, m) != H1_OK) {
        obj_unref(&o); /* cannot happen for what rc_response_head wrote */
        r->ops->respond(r, 500, "", "cached object unreadable", 0);
        return;
    }
    if (cond != NULL && m->status == 200) {
        const char *et, *lm;
        size_t el, ll;
        validators(m, &et, &el, &lm, &ll);
        not_modified = cc_not_modified(cond, et, el, lm, ll);
    }
    if (not_modified && m->status == 200) {
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
    r->age = now - obj_stored_at(o);
    r->status = m->status;
    r->ops->response_head(r, m);
    if (!r->head_method)
        send_body(r, o);
    else
        obj_unref(&o);
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

/* Makes the background request that refreshes r's key and leads its flight, or
 * returns NULL when a refresh or fetch of the key is already under way. Its
 * request head is the caller's to write. */
static struct req *bg_begin(struct req *r, struct obj *o, int has_validators)
{
    struct bg_req *bg = calloc(1, sizeof(*bg));
    if (bg == NULL)
        return NULL;
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
    b->rc.l2op = NULL;
    b->rc.cacheable = 1;
    b->rc.client_nm = 0;
    if (has_validators) {
        /* A conditional request: a 304 refreshes the copy without a body. */
        b->rc.stale = obj_ref(o);
        b->rc.revalidate = 1;
    }
    b->age = -1;
    snprintf(b->cache_status, sizeof(b->cache_status), "tessera; fwd=stale; detail=refresh");
    if (coalesce(b) != RC_FORWARD || b->rc.flight == NULL) {
        wait_cancel(b); /* a refresh or fetch of this key is already under way */
        req__end(b);
        req__fini(b);
        free(bg);
        return NULL;
    }
    b->fetch = r->fetch;
    b->page_route = r->page_route;
    b->channel = r->channel;
    b->channel_idx = r->channel_idx;
    b->page_enc = r->page_enc;
    b->key_extra = r->key_extra;
    hookrun_clone(b, r);
    return b;
}

/* Starts one background refresh of r's key unless one is under way. The caller
 * must not use r->w->msg after this (up__prepare reads m first). */
static void refresh(struct req *r, const struct cfg_route *route, const struct h1_msg *m,
                    const struct up_target *t, struct obj *o, int has_validators)
{
    struct req *b = bg_begin(r, o, has_validators);
    if (b == NULL)
        return;
    up__prepare(b, m, t);
    if (b->fetch != NULL)
        b->fetch(b); /* a page: composed again */
    else
        up__start(b, route->origin); /* may end (and free) b at once */
}

/* Whether the stored head has validators (parsed into the second scratch head),
 * and whether the request's conditional matches them. */
static int stored_validators(struct req *r, struct obj *o, const struct cc_request *cq, int *nm)
{
    struct h1_msg *sm = &r->w->aux;
    struct h1_limits lim = {65536, 65536, H1_MAX_HEADERS_CAP};
    *nm = 0;
    if (h1_parse_response(obj_head(o), obj_head_len(o), &lim, 0, sm) != H1_OK || sm->status != 200)
        return 0;
    const char *et, *lm;
    size_t el, ll;
    validators(sm, &et, &el, &lm, &ll);
    if (cq != NULL)
        *nm = cc_not_modified(cq, et, el, lm, ll);
    return et != NULL || lm != NULL;
}

/* ---- the L2 -------------------------------------------------------------------
 * Only the leader of a key's flight asks the L2; its waiters wait for it as for
 * an origin fetch. rc_lookup's callers treat the lookup as a wait (RC_WAITING):
 * they prepare the request head, and on a miss the request goes on as a woken
 * waiter would, to the origin or to its page's composition. */

static void on_l2(void *arg, struct obj *o, const char *err);

/* Asks the L2 for r's current key. Returns 1 when on_l2 will be called. */
static int ask_l2(struct req *r)
{
    struct rc_state *rc = &r->rc;
    rc->l2op = l2_get(r->w->l2, rc->key, rc->key_len, rc->hlo, rc->hhi, on_l2, r);
    return rc->l2op != NULL;
}

/* Nothing usable in the L2 (or it failed): on to the origin. */
static void go_on(struct req *r)
{
    count(r, RC_MISS);
    if (r->fetch != NULL)
        r->fetch(r); /* a page: composed */
    else
        up__start(r, r->rc.origin);
}

/* Answers r with an object from the L2. The client's conditional fields are in
 * the forwarded head unless the cache replaced them with its own validators
 * (client_cond 0): then the whole response goes, always a valid answer. */
static void serve_l2(struct req *r, struct obj *o, int64_t now, int client_cond)
{
    const struct h1_msg *m = client_cond ? fwd_head(r) : NULL;
    struct cc_field f[RC_MAX_FIELDS];
    struct cc_request cq = {"GET", 3, f, m != NULL ? to_fields(m, f, RC_MAX_FIELDS) : 0};
    serve_obj(r, o, now, m != NULL ? &cq : NULL, 0);
}

/* Refreshes r's key in the background for a stale copy that came from the L2.
 * The refresh sends r's forwarded head without its conditional and range fields:
 * it asks for the whole response (the copy's validators are not in that head). */
static void refresh_l2(struct req *r, struct obj *o)
{
    const struct h1_msg *m = fwd_head(r);
    struct evbuffer *hb = m != NULL ? evbuffer_new() : NULL;
    if (hb == NULL)
        return;
    evbuffer_add_printf(hb, "GET %.*s HTTP/1.1\r\n", (int)m->target_len, m->target);
    for (size_t i = 0; i < m->num_headers; i++) {
        const struct h1_header *h = &m->headers[i];
        if (util_ieq(h->name, h->name_len, "if-none-match") ||
            util_ieq(h->name, h->name_len, "if-modified-since") ||
            util_ieq(h->name, h->name_len, "range") || util_ieq(h->name, h->name_len, "if-range"))
            continue;
        evbuffer_add(hb, h->name, h->name_len);
        evbuffer_add(hb, ": ", 2);
        evbuffer_add(hb, h->value, h->value_len);
        evbuffer_add(hb, "\r\n", 2);
    }
    evbuffer_add(hb, "\r\n", 2);
    struct req *b = bg_begin(r, o, 0);
    if (b == NULL) {
        evbuffer_free(hb);
        return;
    }
    if (b->fwd.req_head != NULL)
        evbuffer_free(b->fwd.req_head);
    b->fwd.req_head = hb;
    b->fwd.idempotent = 1;
    if (b->fetch != NULL)
        b->fetch(b); /* a page: composed again */
    else
        up__start(b, r->rc.origin); /* may end (and free) b at once */
}

/* The L2's answer for the leader r (see l2_get_cb). */
static void on_l2(void *arg, struct obj *o, const char *err)
{
    struct req *r = arg;
    struct rc_state *rc = &r->rc;
    rc->l2op = NULL;
    if (o != NULL) {
        /* A purge since it was stored (l2_bus.h, the ban list): a hard one makes
         * it a miss and deletes it, a soft one makes it stale. */
        enum l2_bus_verdict v = l2_bus_check(o, now_s());
        if (v == L2_BUS_BANNED) {
            l2_del(r->w->l2, obj_hash_lo(o), obj_hash_hi(o));
            obj_unref(&o);
        } else if (v == L2_BUS_STALE) {
            struct obj *c = purge_obj_expired(o, now_s());
            obj_unref(&o);
            o = c;
        }
    }
    if (o != NULL && (obj_flags(o) & RC_F_VARY)) {
        /* The URL varies: the marker under its primary key goes into the L1 (its
         * nonce names the variants every node stores), then the request's own
         * variant is asked for. A marker never stands under a variant's key. */
        const struct h1_msg *m = rc->key_len == rc->base_len ? fwd_head(r) : NULL;
        int kerr = m != NULL ? variant_key(r, m, obj_head(o), obj_head_len(o)) : KEY_E_OVERFLOW;
        if (kerr == KEY_OK)
            l1_insert(store, o);
        obj_unref(&o);
        if (kerr == KEY_OK && ask_l2(r))
            return;
        if (kerr != KEY_OK && m != NULL) {
            base_key(rc);
            rc->cacheable = 0; /* its variant cannot be keyed: never stored (as find) */
        }
        go_on(r);
        return;
    }
    int64_t now = now_s();
    int client_cond = !rc->revalidate;
    if (o != NULL && now < obj_stale_until(o)) {
        /* Fresh, or stale within its stale-while-revalidate window: the same rules
         * as for the L1's copy. Its times are absolute, so in the L1 it keeps the
         * lifetime it has left; the waiters find it there. */
        int fresh = now < obj_expires_at(o);
        l1_insert(store, o);
        obj_unref(&rc->stale);
        rc->revalidate = 0;
        rc->client_nm = 0;
        flight_end(r);
        if (fresh) {
            snprintf(r->cache_status, sizeof(r->cache_status), "tessera; hit; ttl=%lld; detail=l2",
                     (long long)(obj_expires_at(o) - now));
            rc->fresh_for = obj_expires_at(o) - now;
            count(r, RC_HIT);
        } else {
            status_set(r, "tessera; hit; detail=%s", "l2-stale-while-revalidate");
            count(r, RC_STALE);
            refresh_l2(r, o); /* leads the key's new flight */
        }
        serve_l2(r, o, now, client_cond);
        return;
    }
    if (o != NULL && now < obj_error_until(o) && rc->stale == NULL)
        rc->stale = o; /* kept for stale-if-error, like an expired L1 copy */
    else
        obj_unref(&o);
    if (err != NULL)
        log_debug("cache", "w%u r%llu: L2: %s", r->w->id, (unsigned long long)r->id, err);
    go_on(r);
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
    const char *q = memchr(t->uri, '?', t->uri_len);
    const char *skip =
        rcr_bypass(rc->rules, m, q ? q + 1 : NULL, q ? t->uri_len - (size_t)(q + 1 - t->uri) : 0);
    if (skip != NULL) {
        /* The route's bypass rule: neither looked up nor stored. */
        status_set(r, "tessera; fwd=bypass; detail=%s", skip);
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
    struct obj *o = find(r, m);
    if (o != NULL && now < obj_expires_at(o)) {
        status_hit(r, obj_expires_at(o) - now);
        rc->fresh_for = obj_expires_at(o) - now;
        count(r, RC_HIT);
        serve_obj(r, o, now, &cq, 0);
        return RC_ANSWERED;
    }
    int nm = 0;
    int valid = o != NULL && !r->head_method && stored_validators(r, o, &cq, &nm);
    if (o != NULL && now < obj_stale_until(o) && !r->head_method) {
        /* RFC 5861 3: answer with the stale copy now, refresh in the background
         * (one refresh per key: the refresh leads the key's flight). */
        status_set(r, "tessera; hit; detail=%s", "stale-while-revalidate");
        count(r, RC_STALE);
        refresh(r, route, m, t, o, valid);
        serve_obj(r, o, now, &cq, 0);
        return RC_ANSWERED;
    }
    if (d.only_if_cached) {
        /* RFC 9111 5.2.1.7: nothing usable stored, and the client forbids asking. */
        obj_unref(&o);
        status_set(r, "tessera; fwd=%s", "miss; detail=only-if-cached");
        r->ops->respond(r, 504, "", "not in cache (only-if-cached)", 0);
        return RC_ANSWERED;
    }
    status_set(r, "tessera; fwd=%s", o != NULL ? "stale" : "miss");
    if (o != NULL && valid) {
        /* RFC 9111 4.3.1: ask the origin whether the stored copy is still good. */
        rc->stale = o;
        rc->revalidate = 1;
        rc->client_nm = nm != 0;
    } else if (o != NULL && now < obj_error_until(o)) {
        rc->stale = o; /* kept for stale-if-error */
    } else if (o != NULL) {
        obj_unref(&o);
    }
    if (r->head_method || coalesce(r) != RC_WAITING) {
        /* A flight's leader asks the L2 before the origin (counted when it answers). */
        if (rc->flight != NULL && rc->cacheable && r->w->l2 != NULL && ask_l2(r))
            return RC_WAITING;
        count(r, RC_MISS);
        return RC_FORWARD;
    }
    count(r, RC_MISS);
    /* A waiter does not revalidate: it is served what the leader gets (its
     * stale copy stays only for stale-if-error). */
    rc->revalidate = 0;
    rc->client_nm = 0;
    if (rc->stale != NULL && now >= obj_error_until(rc->stale))
        obj_unref(&rc->stale);
    /* Bounded by the origin's timeout: then it goes there itself. */
    uint64_t ms = route->origin->timeout_ms;
    struct timeval tv = util_ms_tv(ms);
    rc->wait->timer = evtimer_new(r->w->base, on_wait_timeout, r);
    evtimer_add(rc->wait->timer, &tv);
    return RC_WAITING;
}

int rc_forward_field(struct req *r, const struct h1_header *h, struct evbuffer *b)
{
    struct rc_state *rc = &r->rc;
    if (rc->revalidate && (util_ieq(h->name, h->name_len, "if-none-match") ||
                           util_ieq(h->name, h->name_len, "if-modified-since")))
        return 1; /* the cache's own validators replace the client's */
    if (rc->rules == NULL || rc->rules->strip_cookies.n == 0 ||
        !util_ieq(h->name, h->name_len, "cookie"))
        return 0;
    char out[8192];
    size_t n =
        rcr_strip_cookies(&rc->rules->strip_cookies, h->value, h->value_len, out, sizeof(out));
    if (n == (size_t)-1)
        return 0; /* shorter than the value: cannot happen; forward it as it is */
    if (n > 0) {
        evbuffer_add(b, "Cookie: ", 8);
        evbuffer_add(b, out, n);
        evbuffer_add(b, "\r\n", 2);
    }
    return 1;
}

void rc_forward_extra(struct req *r, struct evbuffer *b)
{
    struct rc_state *rc = &r->rc;
    if (!rc->revalidate || rc->stale == NULL)
        return;
    struct h1_msg *sm = &r->w->aux;
    struct h1_limits lim = {65536, 65536, H1_MAX_HEADERS_CAP};
    if (h1_parse_response(obj_head(rc->stale), obj_head_len(rc->stale), &lim, 0, sm) != H1_OK)
        return;
    const char *et, *lm;
    size_t el, ll;
    validators(sm, &et, &el, &lm, &ll);
    if (et != NULL)
        evbuffer_add_printf(b, "If-None-Match: %.*s\r\n", (int)el, et);
    if (lm != NULL) /* RFC 9110 13.1.3: the origin uses it when it has no ETag match */
        evbuffer_add_printf(b, "If-Modified-Since: %.*s\r\n", (int)ll, lm);
}

/* The head we store: status line and the fields a client gets, framed by a
 * Content-Length, and always a Date (the hit path sends the head as it is).
 * Fields this cache consumes are left out (RFC 9213 2.1), and so are hop-by-hop
 * ones (`m`, the message whose Connection names them). */
static size_t stored_head(int status, const char *reason, size_t reason_len,
                          const struct cc_field *f, size_t n, const struct h1_msg *m,
                          struct evbuffer *b, uint64_t body_len, int64_t received)
{
    evbuffer_add_printf(b, "HTTP/1.1 %d %.*s\r\n", status, (int)reason_len, reason);
    size_t di = 0;
    char date[CC_HTTP_DATE_SIZE];
    if (cc_field_find(f, n, "date", &di) == NULL && cc_format_http_date(received, date) == 0)
        evbuffer_add_printf(b, "Date: %s\r\n", date); /* RFC 9110 6.6.1: the time received */
    for (size_t i = 0; i < n; i++) {
        if (util_ieq(f[i].name, f[i].name_len, "content-length") ||
            util_ieq(f[i].name, f[i].name_len, "age") || cc_strip_field(f[i].name, f[i].name_len) ||
            (m != NULL && h1_header_is_hop(m, f[i].name, f[i].name_len)))
            continue;
        evbuffer_add(b, f[i].name, f[i].name_len);
        evbuffer_add(b, ": ", 2);
        evbuffer_add(b, f[i].value, f[i].value_len);
        evbuffer_add(b, "\r\n", 2);
    }
    evbuffer_add_printf(b, "Content-Length: %llu\r\n\r\n", (unsigned long long)body_len);
    return evbuffer_get_length(b);
}

/* The route's rules for cc_policy_for. */
static void route_rules(const struct rc_state *rc, struct cc_rules *rules)
{
    cc_rules_init(rules);
    if (rc->rules->ttl_ms > 0)
        rules->ttl_override = (int64_t)(rc->rules->ttl_ms / 1000);
    rules->ignore_origin_cache_control = rc->rules->ignore_origin_cc != 0;
    rules->allow_set_cookie = rc->rules->allow_set_cookie != 0;
}

/* The request facts the policy needs once the request head is gone. */
static size_t request_facts(const struct rc_state *rc, struct cc_field qf[2])
{
    size_t nq = 0;
    if (rc->req_auth)
        qf[nq++] = (struct cc_field){"authorization", 13, "-", 1};
    if (rc->req_no_store)
        qf[nq++] = (struct cc_field){"cache-control", 13, "no-store", 8};
    return nq;
}

/* Sets an object's times from its policy and the route's stale windows. */
static void set_times(const struct rc_state *rc, struct obj *o, const struct cc_policy *p)
{
    int64_t born = p->response_time - p->age;
    int64_t ttl = p->no_cache ? 0 : p->ttl; /* RFC 9111 5.2.2.4: revalidate every use */
    int64_t sie = (int64_t)(rc->rules->stale_if_error_ms / 1000);
    if (!p->must_revalidate && p->sie > sie)
        sie = p->sie;
    int64_t swr = (int64_t)(rc->rules->stale_while_revalidate_ms / 1000);
    if (!p->must_revalidate && p->swr > swr)
        swr = p->swr;
    if (p->must_revalidate || p->no_cache)
        sie = swr = 0; /* RFC 9111 5.2.2.2: never served stale */
    if (sie < swr)
        sie = swr; /* the error window never ends before the revalidate one */
    obj_set_times(o, born, born + ttl, born + ttl + swr, born + ttl + sie);
}

static void append_status(struct req *r, const char *fmt, const char *arg)
{
    size_t len = strlen(r->cache_status);
    snprintf(r->cache_status + len, sizeof(r->cache_status) - len, fmt, arg);
}

/* The Vary field names of a response, lower-cased, deduplicated, joined by ','
 * after RC_NONCE_LEN bytes left for the nonce. Returns the length, or 0 when
 * they do not fit or a name is not a token. */
static size_t vary_spec(const struct cc_field *f, size_t n, char spec[RC_SPEC_MAX])
{
    size_t len = RC_NONCE_LEN;
    for (size_t i = 0; i < n; i++) {
        if (!util_ieq(f[i].name, f[i].name_len, "vary"))
            continue;
        size_t pos = 0;
        const char *name;
        size_t nl;
        int rc;
        while ((rc = cc_vary_each(f[i].value, f[i].value_len, &pos, &name, &nl)) > 0) {
            char low[128];
            if (nl == 0 || nl >= sizeof(low))
                return 0;
            for (size_t k = 0; k < nl; k++)
                low[k] = (char)((name[k] >= 'A' && name[k] <= 'Z') ? name[k] + 32 : name[k]);
            int dup = 0;
            for (const char *p = spec + RC_NONCE_LEN; p < spec + len && !dup;) {
                const char *c = memchr(p, ',', (size_t)(spec + len - p));
                const char *e = c ? c : spec + len;
                dup = (size_t)(e - p) == nl && memcmp(p, low, nl) == 0;
                p = c ? c + 1 : spec + len;
            }
            if (dup)
                continue;
            if (len + nl + 1 > RC_SPEC_MAX)
                return 0;
            if (len > RC_NONCE_LEN)
                spec[len++] = ',';
            memcpy(spec + len, low, nl);
            len += nl;
        }
        if (rc < 0)
            return 0;
    }
    return len > RC_NONCE_LEN ? len : 0;
}

/* Finds or makes the Vary marker for spec (its nonce is written into spec) and
 * makes r's key the request's variant. Returns 0 or -1. */
static int vary_store(struct req *r, char *spec, size_t slen)
{
    struct rc_state *rc = &r->rc;
    static _Atomic uint64_t nonce_seq;
    struct obj *mk = l1_lookup(store, rc->key, rc->base_len, rc->base_hlo, rc->base_hhi);
    if (mk != NULL && (obj_flags(mk) & RC_F_VARY) && obj_head_len(mk) == slen &&
        memcmp((const char *)obj_head(mk) + RC_NONCE_LEN, spec + RC_NONCE_LEN,
               slen - RC_NONCE_LEN) == 0) {
        memcpy(spec, obj_head(mk), RC_NONCE_LEN); /* the variants so far stay reachable */
        obj_unref(&mk);
    } else {
        obj_unref(&mk);
        uint64_t v = ((uint64_t)now_s() << 24) ^ atomic_fetch_add(&nonce_seq, 1);
        char hex[RC_NONCE_LEN + 1];
        snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)v);
        memcpy(spec, hex, RC_NONCE_LEN);
        mk = obj_new(rc->key, rc->base_len, rc->base_hlo, rc->base_hhi, slen, 0);
        if (mk == NULL)
            return -1;
        memcpy(obj_head_mut(mk), spec, slen);
        obj_set_flags(mk, RC_F_VARY);
        int64_t now = now_s();
        obj_set_times(mk, now, now + RC_MARKER_S, now + RC_MARKER_S, now + RC_MARKER_S);
        int err = l1_insert(store, mk);
        if (err == L1_OK && r->w->l2 != NULL)
            l2_store(r->w->l2, mk); /* the nonce other nodes' variants must share */
        obj_unref(&mk);
        if (err != L1_OK)
            return -1;
    }
    return variant_key(r, fwd_head(r), spec, slen) == KEY_OK ? 0 : -1;
}

/* RFC 9111 4.4: a Location or Content-Location naming a URI of the same origin
 * is invalidated too (its primary key: every Vary variant goes with it). */
static void invalidate_uri(struct req *r, const char *v, size_t n)
{
    struct rc_state *rc = &r->rc;
    unsigned char key[sizeof(rc->key)];
    const char *path = v;
    size_t plen = n;
    if (n >= 2 && v[0] == '/' && v[1] == '/')
        return; /* scheme-relative: another authority, or too clever */
    if (n == 0 || v[0] != '/') {
        int https = n > 8 && strncasecmp(v, "https://", 8) == 0;
        if (!https && !(n > 7 && strncasecmp(v, "http://", 7) == 0))
            return; /* relative references are not resolved */
        const char *a = v + (https ? 8 : 7);
        const char *ae = a;
        while (ae < v + n && *ae != '/' && *ae != '?' && *ae != '#')
            ae++;
        struct key_builder kb;
        key_init(&kb, key, sizeof(key));
        key_add_method(&kb, "GET", 3);
        key_add_host(&kb, a, (size_t)(ae - a), https);
        if (kb.err != 0 || kb.len != rc->host_end || memcmp(key, rc->key, kb.len) != 0)
            return; /* another origin (RFC 9111 4.4 forbids it) */
        path = ae;
        plen = (size_t)(v + n - ae);
    }
    const char *hash = memchr(path, '#', plen);
    if (hash != NULL)
        plen = (size_t)(hash - path);
    memcpy(key, rc->key, rc->host_end);
    struct key_builder kb;
    key_reopen(&kb, key, sizeof(key), rc->host_end);
    const char *q = memchr(path, '?', plen);
    size_t pl = q ? (size_t)(q - path) : plen;
    key_add_path(&kb, pl ? path : "/", pl ? pl : 1);
    struct key_query_rules qr = query_rules(rc->rules);
    if (q != NULL)
        key_add_query(&kb, q + 1, plen - pl - 1, &qr);
    uint64_t lo, hi;
    size_t klen;
    if (key_finish(&kb, &lo, &hi, &klen) == KEY_OK) {
        l1_remove(store, key, klen, lo, hi);
        if (r->w->l2 != NULL)
            l2_del(r->w->l2, lo, hi);
    }
}

void rc_response_head(struct req *r, const struct h1_msg *m)
{
    struct rc_state *rc = &r->rc;
    if (!rc->active)
        return;
    if (rc->unsafe) {
        /* RFC 9111 4.4: a non-error response to an unsafe method invalidates. */
        if (cc_response_invalidates(r->method, strlen(r->method), m->status)) {
            l1_remove(store, rc->key, rc->base_len, rc->base_hlo, rc->base_hhi);
            if (r->w->l2 != NULL) /* else the next L1 miss would find it there */
                l2_del(r->w->l2, rc->base_hlo, rc->base_hhi);
            for (size_t i = 0; i < m->num_headers; i++) {
                const struct h1_header *h = &m->headers[i];
                if (util_ieq(h->name, h->name_len, "location") ||
                    util_ieq(h->name, h->name_len, "content-location"))
                    invalidate_uri(r, h->value, h->value_len);
            }
        }
        return;
    }
    if (!rc->cacheable || r->head_method) {
        flight_end(r);
        return;
    }
    struct cc_field f[RC_MAX_FIELDS];
    size_t nf = to_fields(m, f, RC_MAX_FIELDS);
    struct cc_response resp = {m->status, f, nf,
                               now_s() - (int64_t)((util_now_ms() - r->fwd.up_start_ms) / 1000)};
    struct cc_field qf[2];
    struct cc_request cq = {"GET", 3, qf, request_facts(rc, qf)};
    struct cc_rules rules;
    route_rules(rc, &rules);
    if (hookrun_ttl(r) >= 0)
        rules.ttl_override = hookrun_ttl(r); /* on_response set res.ttl */
    int64_t now = now_s();
    struct cc_policy p;
    cc_policy_for(&resp, &cq, now, &rules, &p);
    const char *why = NULL;
    char spec[RC_SPEC_MAX];
    size_t slen = 0;
    if (hookrun_no_store(r))
        why = "hook"; /* on_response set res.cacheable = false */
    else if (!p.storable)
        why = p.reason;
    else if ((p.ttl <= p.age || p.no_cache) && !p.has_validator)
        why = "stale"; /* nothing to reuse, and nothing to revalidate with */
    else if (m->body != H1_BODY_LENGTH && m->body != H1_BODY_NONE)
        why = "unsized";
    else if (p.vary != NULL && r->channel == NULL && (slen = vary_spec(f, nf, spec)) == 0)
        why = "vary-unkeyable";
    else if (p.vary != NULL && r->channel == NULL && vary_store(r, spec, slen) != 0)
        why = "vary-unkeyable";
    /* A page's Vary names the fields its channel rules read (for caches
     * downstream); here the channel itself is part of the key. */
    uint64_t blen = m->body == H1_BODY_LENGTH ? m->content_length : 0;
    char ttl[32];
    snprintf(ttl, sizeof(ttl), "%lld", (long long)(p.no_cache ? 0 : p.ttl - p.age));
    if (why == NULL) {
        struct evbuffer *b = r->w->scratch;
        size_t hl =
            stored_head(m->status, m->reason, m->reason_len, f, nf, m, b, blen, p.response_time);
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
            obj_set_flags(rc->capture, RC_F_DATED);
            set_times(rc, rc->capture, &p);
            if (rc->hfm) {
                /* Storable again: requests for the key coalesce from now on. */
                pthread_mutex_lock(&flights_lock);
                size_t slot = rc->hlo % RC_HFM_SLOTS;
                if (hfm[slot].hlo == rc->hlo && hfm[slot].hhi == rc->hhi)
                    hfm[slot].until = 0;
                pthread_mutex_unlock(&flights_lock);
            }
            rc->body_at = 0;
            rc->fresh_for = p.no_cache || p.ttl < p.age ? 0 : p.ttl - p.age;
            count(r, RC_STORED);
            append_status(r, "; stored; ttl=%s", ttl);
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
        append_status(r, "; detail=%s", why);
}

static int has_field(const struct h1_msg *m, const char *name, size_t len)
{
    for (size_t i = 0; i < m->num_headers; i++)
        if (m->headers[i].name_len == len && strncasecmp(m->headers[i].name, name, len) == 0)
            return 1;
    return 0;
}

int rc_revalidated(struct req *r, const struct h1_msg *m)
{
    struct rc_state *rc = &r->rc;
    struct obj *old = rc->stale;
    if (!rc->active || !rc->revalidate || old == NULL)
        return 0;
    /* RFC 9111 3.2: the 304's fields replace the stored ones of the same name. */
    struct h1_msg *sm = &r->w->aux;
    struct h1_limits lim = {65536, 65536, H1_MAX_HEADERS_CAP};
    if (h1_parse_response(obj_head(old), obj_head_len(old), &lim, 0, sm) != H1_OK)
        return 0;
    struct cc_field f[RC_MAX_FIELDS];
    size_t nf = 0;
    for (size_t i = 0; i < sm->num_headers && nf < RC_MAX_FIELDS; i++) {
        const struct h1_header *h = &sm->headers[i];
        if (has_field(m, h->name, h->name_len) && !util_ieq(h->name, h->name_len, "content-length"))
            continue;
        f[nf++] = (struct cc_field){h->name, h->name_len, h->value, h->value_len};
    }
    for (size_t i = 0; i < m->num_headers && nf < RC_MAX_FIELDS; i++) {
        const struct h1_header *h = &m->headers[i];
        if (util_ieq(h->name, h->name_len, "content-length") ||
            h1_header_is_hop(m, h->name, h->name_len))
            continue;
        f[nf++] = (struct cc_field){h->name, h->name_len, h->value, h->value_len};
    }
    struct cc_response resp = {sm->status, f, nf,
                               now_s() - (int64_t)((util_now_ms() - r->fwd.up_start_ms) / 1000)};
    struct cc_field qf[2];
    struct cc_request cq = {"GET", 3, qf, request_facts(rc, qf)};
    struct cc_rules rules;
    route_rules(rc, &rules);
    struct cc_policy p;
    cc_policy_for(&resp, &cq, now_s(), &rules, &p);
    count(r, RC_REVALIDATED);
    status_set(r, "tessera; fwd=stale; fwd-status=%s", "304");
    if (!p.storable) {
        /* Still good for this response, not for keeping (RFC 9111 4.3.4). */
        l1_remove(store, rc->key, rc->key_len, rc->hlo, rc->hhi);
        if (r->w->l2 != NULL)
            l2_del(r->w->l2, rc->hlo, rc->hhi);
        append_status(r, "; detail=%s", p.reason);
        flight_end(r);
        return 1;
    }
    struct evbuffer *b = r->w->scratch;
    size_t blen = obj_body_len(old);
    size_t hl =
        stored_head(sm->status, sm->reason, sm->reason_len, f, nf, NULL, b, blen, p.response_time);
    struct obj *o = obj_new(rc->key, rc->key_len, rc->hlo, rc->hhi, hl, blen);
    if (o == NULL) {
        evbuffer_drain(b, hl);
        flight_end(r);
        return 1;
    }
    evbuffer_remove(b, obj_head_mut(o), hl);
    memcpy(obj_body_mut(o), obj_body(old), blen);
    obj_set_flags(o, obj_flags(old));
    set_times(rc, o, &p);
    if (r->w->l2 != NULL)
        l2_store(r->w->l2, o);
    if (l1_insert(store, o) == L1_OK) {
        char ttl[32];
        snprintf(ttl, sizeof(ttl), "%lld", (long long)(p.no_cache ? 0 : p.ttl - p.age));
        append_status(r, "; stored; ttl=%s", ttl);
        rc->fresh_for = p.no_cache || p.ttl < p.age ? 0 : p.ttl - p.age;
        count(r, RC_STORED);
    }
    obj_unref(&rc->stale);
    rc->stale = o;
    flight_end(r); /* the waiters find the refreshed copy */
    return 1;
}

void rc_serve_revalidated(struct req *r)
{
    struct obj *o = r->rc.stale;
    r->rc.stale = NULL;
    r->rc.revalidate = 0;
    serve_obj(r, o, now_s(), NULL, r->rc.client_nm);
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
        if (r->w->l2 != NULL)
            l2_store(r->w->l2, rc->capture); /* on the next loop turn */
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
    serve_obj(r, o, now_s(), NULL, r->rc.client_nm);
    return 1;
}

void rc_req_fini(struct req *r)
{
    l2_cancel(&r->rc.l2op);
    wait_cancel(r);
    flight_end(r);
    obj_unref(&r->rc.capture);
    obj_unref(&r->rc.stale);
}
