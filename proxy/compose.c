/* SPDX-License-Identifier: Apache-2.0
 *
 * compose: parallel fragment fetches for one page (see compose.h).
 *
 * Each fragment is a struct frag holding a struct req whose req_ops collect the
 * answer into an evbuffer instead of writing to a client. The sub-request's head
 * is written as text and parsed into the compose's own h1_msg, then dispatched
 * as req.c dispatches a client request on a cached route: rc_lookup, and on a
 * miss up__prepare and up__start. A cache hit answers inside rc_lookup, so the
 * end of the compose is signalled through an event (next loop turn), never by a
 * call back into the page code from inside compose_start.
 *
 * The callback runs after any fragment finished (several finishing in one loop
 * turn give one call): compose_pending says how many are left.
 *
 * States of a fragment: PENDING -> OK | FAILED | TIMEOUT, once. Its req is ended
 * (logged, cache state released) when it leaves PENDING; the struct and its body
 * live until compose_free.
 */
#include "compose.h"

#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "log.h"
#include "rcache.h"
#include "rcrules.h"
#include "route.h"
#include "util.h"
#include "worker_int.h"

#define FRAG_HEAD_MAX 16384
#define FRAG_BODY_MAX (8u * 1024 * 1024) /* a larger fragment fails */
#define FRAG_TAGS_MAX 1024

#define COMPOSE_MIN_CAP 8  /* fragments a new composition has room for */
#define COMPOSE_RECYCLE 64 /* compositions a worker keeps for reuse */

struct frag {
    struct req req; /* first: the req_ops callbacks cast back */
    unsigned magic;
#define FRAG_MAGIC 0x46524147u
    struct compose *c;
    const struct compose_spec *spec;
    enum compose_state state;
    int status;
    struct evbuffer *body; /* body, timer and head outlive a composition (recycled) */
    struct event *timer;
    struct evbuffer *head; /* its request head, written before any is dispatched */
    uint64_t end_ms;
    char tags[FRAG_TAGS_MAX];
    char ctype[64];         /* Content-Type, truncated */
    char cenc[32];          /* Content-Encoding, truncated */
    unsigned ended : 1;     /* req__end ran */
    unsigned too_large : 1; /* the body went over FRAG_BODY_MAX: drained, then failed */
};

struct compose {
    unsigned magic;
#define COMPOSE_MAGIC 0x434f4d50u
    struct req *page;
    struct worker *w;
    struct frag *frags;
    size_t n, npending;
    uint64_t start_ms;
    compose_done_cb done;
    void *arg;
    struct event *done_ev;
    size_t cap;                /* frags allocated (with their buffers and timers) */
    struct compose *next_free; /* in the worker's list of recycled compositions */
    struct h1_msg msg;         /* a fragment's request head, parsed while it is dispatched */
};

static struct frag *frag_of(struct req *r)
{
    struct frag *f = (struct frag *)r;
    if (f->magic != FRAG_MAGIC)
        abort();
    return f;
}

/* Leaves PENDING (once): ends the sub-request and, after the last fragment,
 * schedules the page's callback. */
static void finish(struct frag *f, enum compose_state st)
{
    if (f->state != COMPOSE_PENDING)
        return;
    f->state = st;
    f->end_ms = util_now_ms();
    if (f->timer != NULL)
        evtimer_del(f->timer);
    if (f->req.fwd.up != NULL)
        up__abort(&f->req);
    if (!f->ended) {
        f->ended = 1;
        if (f->req.status == 0 && st == COMPOSE_TIMEOUT)
            f->req.status = 504; /* for the access log */
        req__end(&f->req);
    }
    struct compose *c = f->c;
    c->npending--;
    event_active(c->done_ev, EV_TIMEOUT, 0); /* progress: the page looks on the next turn */
}

static void on_head(struct req *r, const struct h1_msg *m)
{
    struct frag *f = frag_of(r);
    f->status = m->status;
    r->status = m->status;
    size_t len = 0;
    for (int i = h1_header_find(m, "surrogate-key", 0); i >= 0;
         i = h1_header_find(m, "surrogate-key", (size_t)i + 1)) {
        const struct h1_header *h = &m->headers[i];
        if (len + h->value_len + 2 > sizeof(f->tags))
            break; /* more tags than we keep: the first ones count */
        if (len > 0)
            f->tags[len++] = ' ';
        memcpy(f->tags + len, h->value, h->value_len);
        len += h->value_len;
    }
    f->tags[len] = '\0';
    int ct = h1_header_find(m, "content-type", 0);
    size_t cl = ct >= 0 ? m->headers[ct].value_len : 0;
    if (cl >= sizeof(f->ctype))
        cl = sizeof(f->ctype) - 1;
    if (ct >= 0)
        memcpy(f->ctype, m->headers[ct].value, cl);
    f->ctype[cl] = '\0';
    int ce = h1_header_find(m, "content-encoding", 0);
    size_t el = ce >= 0 ? m->headers[ce].value_len : 0;
    if (el >= sizeof(f->cenc))
        el = sizeof(f->cenc) - 1; /* a longer list is no coding we decode anyway */
    if (ce >= 0)
        memcpy(f->cenc, m->headers[ce].value, el);
    f->cenc[el] = '\0';
}

static void on_body(struct req *r, struct evbuffer *src, size_t n)
{
    struct frag *f = frag_of(r);
    /* Never ends the exchange from here: up.c is in the middle of relaying. */
    if (f->too_large || evbuffer_get_length(f->body) + n > FRAG_BODY_MAX) {
        f->too_large = 1;
        evbuffer_drain(src, n);
        return;
    }
    evbuffer_remove_buffer(src, f->body, n);
}

static void on_end(struct req *r)
{
    struct frag *f = frag_of(r);
    finish(f, f->status >= 200 && f->status < 300 && !f->too_large ? COMPOSE_OK : COMPOSE_FAILED);
}

static void on_abort(struct req *r)
{
    finish(frag_of(r), COMPOSE_FAILED);
}

/* A response made here (up.c's 502/504, a refusal): the fragment failed. */
static void on_respond(struct req *r, int status, const char *extra, const char *body,
                       int close_after)
{
    struct frag *f = frag_of(r);
    f->status = status;
    r->status = status;
    finish(f, COMPOSE_FAILED);
}

static size_t no_pending(struct req *r)
{
    return 0;
}

static void no_notify(struct req *r, size_t n)
{
}

static void no_pause(struct req *r, int v)
{
}

static const struct req_ops frag_ops = {
    .response_head = on_head,
    .response_body = on_body,
    .response_end = on_end,
    .response_abort = on_abort,
    .respond = on_respond,
    .pending = no_pending,
    .notify_below = no_notify,
    .pause_body = no_pause,
};

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct frag *f = arg;
    log_info("compose", "fragment %s timed out after %llu ms", f->spec->name,
             (unsigned long long)f->spec->timeout_ms);
    struct req *r = &f->req;
    if (rc_has_stale(r) && !r->fwd.resp_started) {
        /* Its last good copy, within its stale-if-error window, before any
         * fallback: the origin exchange is dropped and the copy answers. */
        up__abort(r);
        if (rc_serve_stale(r, 504) && f->state != COMPOSE_PENDING)
            return;
    }
    finish(f, COMPOSE_TIMEOUT);
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
    struct compose *c = arg;
    c->done(c, c->arg);
}

static const struct route_param *param(const struct route_match *rm, const char *name, size_t len)
{
    for (size_t i = 0; i < rm->nparams; i++)
        if (rm->params[i].name_len == len && memcmp(rm->params[i].name, name, len) == 0)
            return &rm->params[i];
    return NULL;
}

/* The fragment's path with the page route's parameters in place of ":name". */
static int fill_path(struct evbuffer *b, const char *path, const struct route_match *rm)
{
    const char *p = path;
    while (*p != '\0') {
        if (*p != ':') {
            size_t n = strcspn(p, ":");
            evbuffer_add(b, p, n);
            p += n;
            continue;
        }
        const char *s = ++p;
        while (*p != '\0' && *p != '/' && *p != '?' && *p != '.')
            p++;
        const struct route_param *pr = param(rm, s, (size_t)(p - s));
        if (pr == NULL)
            return -1;
        evbuffer_add(b, pr->value, pr->value_len);
    }
    return 0;
}

/* Query parameters of the page named by `keep`, appended to the target. */
static void pass_query(struct evbuffer *b, const char *q, size_t qlen,
                       const struct cfg_strlist *keep, int has_query)
{
    const char *p = q, *end = q + qlen;
    while (keep != NULL && keep->n > 0 && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *e = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(e - p));
        size_t nlen = (size_t)((eq ? eq : e) - p);
        if (nlen > 0 && rcr_list_match(keep, p, nlen, 0)) {
            evbuffer_add(b, has_query ? "&" : "?", 1);
            evbuffer_add(b, p, (size_t)(e - p));
            has_query = 1;
        }
        p = amp ? amp + 1 : end;
    }
}

/* Writes the fragment's request head. Returns its length or 0. */
static size_t frag_head(struct evbuffer *b, const struct compose_spec *s, const struct h1_msg *m,
                        const struct route_match *rm)
{
    evbuffer_add(b, "GET ", 4);
    if (fill_path(b, s->path, rm) < 0)
        return 0;
    const char *q = memchr(m->target, '?', m->target_len);
    if (q != NULL)
        pass_query(b, q + 1, m->target_len - (size_t)(q + 1 - m->target), s->query,
                   strchr(s->path, '?') != NULL);
    evbuffer_add_printf(b, " HTTP/1.1\r\nHost: %s\r\n", s->route->origin->name);
    for (size_t i = 0; s->headers != NULL && i < m->num_headers; i++) {
        const struct h1_header *h = &m->headers[i];
        if (!rcr_list_match(s->headers, h->name, h->name_len, 1) ||
            util_ieq(h->name, h->name_len, "host"))
            continue;
        evbuffer_add(b, h->name, h->name_len);
        evbuffer_add(b, ": ", 2);
        evbuffer_add(b, h->value, h->value_len);
        evbuffer_add(b, "\r\n", 2);
    }
    evbuffer_add(b, "\r\n", 2);
    return evbuffer_get_length(b);
}

/* Dispatches fragment f whose head is heads[0..len) (parsed into c->msg). */
static void launch(struct compose *c, struct frag *f, const char *head, size_t len)
{
    struct req *r = &f->req;
    struct h1_limits lim = {FRAG_HEAD_MAX, FRAG_HEAD_MAX, H1_MAX_HEADERS_CAP};
    struct h1_msg *m = &c->msg;
    if (h1_parse_request(head, len, &lim, m) != H1_OK) {
        finish(f, COMPOSE_FAILED);
        return;
    }
    req__note(r, "GET", 3, m->target, m->target_len, m);
    struct up_target tg = {m->target, m->target_len, NULL, 0};
    struct timeval tv = util_ms_tv(f->spec->timeout_ms);
    evtimer_add(f->timer, &tv);
    const struct cfg_route *route = f->spec->route;
    int rc = rc_lookup(r, route, m, &tg);
    if (rc == RC_ANSWERED)
        return;
    up__prepare(r, m, &tg);
    if (rc == RC_WAITING) {
        r->rc.origin = route->origin;
        return;
    }
    up__start(r, route->origin);
}

/* Frees a composition and what it keeps for reuse. */
static void destroy(struct compose *c)
{
    for (size_t i = 0; i < c->cap; i++) {
        struct frag *f = &c->frags[i];
        event_free(f->timer);
        evbuffer_free(f->body);
        evbuffer_free(f->head);
    }
    event_free(c->done_ev);
    free(c->frags);
    free(c);
}

/* A composition for n fragments: one the worker recycled, else a new one. Its
 * fragments' buffers and timers exist; every other field is zero. */
static struct compose *take(struct worker *w, size_t n)
{
    struct compose *c = w->compose_free;
    if (c != NULL) {
        w->compose_free = c->next_free;
        w->ncompose_free--;
        if (c->cap >= n) {
            struct frag *frags = c->frags;
            size_t cap = c->cap;
            struct event *done = c->done_ev;
            memset(c, 0, offsetof(struct compose, msg)); /* msg is written before use */
            c->frags = frags;
            c->cap = cap;
            c->done_ev = done;
            event_assign(done, w->base, -1, 0, on_done, c);
            return c;
        }
        destroy(c);
    }
    size_t cap = n > COMPOSE_MIN_CAP ? n : COMPOSE_MIN_CAP;
    c = xcalloc(1, sizeof(*c));
    c->cap = cap;
    c->frags = xcalloc(cap, sizeof(*c->frags));
    c->done_ev = event_new(w->base, -1, 0, on_done, c);
    for (size_t i = 0; i < cap; i++) {
        c->frags[i].body = evbuffer_new();
        c->frags[i].head = evbuffer_new();
        c->frags[i].timer = evtimer_new(w->base, on_timeout, &c->frags[i]);
    }
    return c;
}

void compose_worker_fini(struct worker *w)
{
    struct compose *c;
    while ((c = w->compose_free) != NULL) {
        w->compose_free = c->next_free;
        destroy(c);
    }
    w->ncompose_free = 0;
}

struct compose *compose_start(struct req *page, const struct compose_spec *specs, size_t n,
                              const struct h1_msg *m, const struct route_match *rm,
                              compose_done_cb done, void *arg)
{
    struct worker *w = page->w;
    struct compose *c = take(w, n);
    c->magic = COMPOSE_MAGIC;
    c->page = page;
    c->w = w;
    c->n = n;
    c->done = done;
    c->arg = arg;
    c->start_ms = util_now_ms();
    /* Every head is written before any fragment is dispatched: a cache hit
     * parses into the worker's scratch head, which may be m. */
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        if (frag_head(c->frags[i].head, &specs[i], m, rm) == 0)
            bad = 1;
    for (size_t i = 0; i < n; i++) {
        struct frag *f = &c->frags[i];
        struct evbuffer *body = f->body, *head = f->head;
        struct event *timer = f->timer;
        req__init(&f->req, w, &frag_ops, "-");
        f->magic = FRAG_MAGIC;
        f->c = c;
        f->spec = &specs[i];
        f->state = COMPOSE_PENDING;
        f->status = 0;
        f->end_ms = 0;
        f->tags[0] = f->ctype[0] = f->cenc[0] = '\0';
        f->ended = 0;
        f->too_large = 0;
        f->body = body;
        f->head = head;
        f->timer = timer;
        event_assign(timer, w->base, -1, 0, on_timeout, f);
        f->req.cfg = cfg_ref(page->cfg);
        req__begin(&f->req);
        f->req.proto = "fragment";
        f->req.tls = page->tls;
    }
    c->npending = n;
    if (bad) {
        for (size_t i = 0; i < n; i++)
            c->frags[i].req.in_request = 0; /* never sent: nothing to log */
        compose_free(&c);
        return NULL;
    }
    if (n == 0)
        event_active(c->done_ev, EV_TIMEOUT, 0);
    for (size_t i = 0; i < n; i++) {
        struct evbuffer *hb = c->frags[i].head;
        size_t len = evbuffer_get_length(hb);
        launch(c, &c->frags[i], (const char *)evbuffer_pullup(hb, -1), len);
    }
    return c;
}

size_t compose_count(const struct compose *c)
{
    return c->n;
}

size_t compose_pending(const struct compose *c)
{
    return c->npending;
}

enum compose_state compose_state(const struct compose *c, size_t i)
{
    return c->frags[i].state;
}

int compose_status(const struct compose *c, size_t i)
{
    return c->frags[i].status;
}

const char *compose_body(struct compose *c, size_t i, size_t *len)
{
    struct evbuffer *b = c->frags[i].body;
    *len = evbuffer_get_length(b);
    return *len > 0 ? (const char *)evbuffer_pullup(b, -1) : "";
}

int64_t compose_ttl(const struct compose *c, size_t i)
{
    return c->frags[i].req.rc.fresh_for;
}

const char *compose_ctype(const struct compose *c, size_t i)
{
    return c->frags[i].ctype;
}

const char *compose_cenc(const struct compose *c, size_t i)
{
    return c->frags[i].cenc;
}

const char *compose_tags(const struct compose *c, size_t i)
{
    return c->frags[i].tags;
}

const char *compose_source(const struct compose *c, size_t i)
{
    const char *cs = c->frags[i].req.cache_status;
    if (strncmp(cs, "tessera; hit", 12) == 0)
        return "cache";
    if (strstr(cs, "fwd=stale") != NULL && strstr(cs, "stale-if-error") != NULL)
        return "stale";
    return "origin";
}

uint64_t compose_ms(const struct compose *c, size_t i)
{
    const struct frag *f = &c->frags[i];
    return f->end_ms > c->start_ms ? f->end_ms - c->start_ms : 0;
}

void compose_free(struct compose **cp)
{
    struct compose *c = *cp;
    if (c == NULL)
        return;
    *cp = NULL;
    if (c->magic != COMPOSE_MAGIC)
        abort();
    for (size_t i = 0; i < c->n; i++) {
        struct frag *f = &c->frags[i];
        if (f->magic != FRAG_MAGIC)
            continue;
        event_del(f->timer);
        if (!f->ended) {
            f->ended = 1;
            if (f->req.fwd.up != NULL)
                up__abort(&f->req);
            req__end(&f->req);
        }
        req__fini(&f->req);
        evbuffer_drain(f->body, evbuffer_get_length(f->body));
        evbuffer_drain(f->head, evbuffer_get_length(f->head));
        f->magic = 0;
    }
    event_del(c->done_ev);
    c->magic = 0;
    struct worker *w = c->w;
    if (w->ncompose_free >= COMPOSE_RECYCLE) {
        destroy(c);
        return;
    }
    c->next_free = w->compose_free;
    w->compose_free = c;
    w->ncompose_free++;
}
