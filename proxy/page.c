/* SPDX-License-Identifier: Apache-2.0
 *
 * page: composition of page routes (see page.h).
 *
 * The page request keeps its head as it would be forwarded (up__prepare writes
 * r->fwd.req_head) so that it can be composed later than its dispatch: after a
 * coalesced wait (rcache.c calls r->rc.fetch), or by a background refresh.
 * Composing parses that head again, finds the route's parameters, and starts
 * the fragments; when they are all in, the data is built, the template
 * rendered, and the page answered through the same calls as an origin's
 * response (rc_response_* store it, r->ops send it).
 */
#include "page.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "channel.h"
#include "codec.h"
#include "compose.h"
#include "hookrun.h"
#include "jarena.h"
#include "log.h"
#include "rcache.h"
#include "render/tpl.h"
#include "route.h"
#include "util.h"
#include "worker_int.h"

#define PAGE_HEAD_MAX 65536
#define PAGE_FRAGMENT_MAX (8u << 20) /* a fragment decoded larger fails */
#define PAGE_SHORT_TTL 10            /* seconds: a page built with a fallback is kept no longer */

static void on_composed(struct compose *c, void *arg);

static const char *content_type(const struct tpl *t)
{
    switch (tpl_escape_for_file(tpl_file(t))) {
    case TPL_ESCAPE_JSON: return "application/json";
    case TPL_ESCAPE_NONE: return "text/plain; charset=utf-8";
    default: return "text/html; charset=utf-8";
    }
}

/* Starts composing r from its saved head (r->rc.fetch for pages). */
static void page_fetch(struct req *r)
{
    struct evbuffer *hb = r->fwd.req_head;
    struct h1_msg *m = &r->w->page_msg; /* one at a time, never across a callback */
    size_t n = hb ? evbuffer_get_length(hb) : 0;
    const char *p = n ? (const char *)evbuffer_pullup(hb, -1) : NULL;
    struct h1_limits lim = {PAGE_HEAD_MAX, PAGE_HEAD_MAX, H1_MAX_HEADERS_CAP};
    struct route_match rm;
    const char *q = NULL;
    if (p == NULL || h1_parse_request(p, n, &lim, m) != H1_OK ||
        (q = memchr(m->target, '?', m->target_len),
         route_find(r->cfg, m->target, q ? (size_t)(q - m->target) : m->target_len, &rm) < 0) ||
        rm.route->template == NULL) {
        r->ops->respond(r, 500, "", "page request head lost", 0);
        return;
    }
    hookrun_params(r, &rm);
    const struct cfg_route *route = rm.route;
    r->compose = compose_start(r, route->specs, route->nfragments, m, &rm, on_composed, r);
    if (r->compose == NULL)
        r->ops->respond(r, 500, "", "a fragment path names a parameter the route lacks", 0);
}

static int is_json(const char *ctype)
{
    return strstr(ctype, "json") != NULL;
}

/* The data of one fragment, or NULL (then `bad` says why when it failed). */
static json_t *fragment_data(struct compose *c, size_t i, const struct cfg_fragment *fr,
                             const char **bad)
{
    *bad = NULL;
    enum compose_state st = compose_state(c, i);
    if (st == COMPOSE_OK) {
        size_t len;
        const char *body = compose_body(c, i, &len);
        const char *ce = compose_cenc(c, i);
        int enc = codec_from_field(ce, strlen(ce));
        struct evbuffer *plain = NULL;
        if (enc != CODEC_IDENTITY) {
            /* Decoded before use (never passed on compressed inside a page). */
            plain = evbuffer_new();
            if (enc < 0 || codec_decode(enc, body, len, PAGE_FRAGMENT_MAX, plain) != 0) {
                log_warn("page", "fragment %s: cannot decode Content-Encoding \"%s\"", fr->name,
                         ce);
                evbuffer_free(plain);
                *bad = "undecodable body";
                return fr->fallback != NULL ? json_incref(fr->fallback) : NULL;
            }
            len = evbuffer_get_length(plain);
            body = len > 0 ? (const char *)evbuffer_pullup(plain, -1) : "";
        }
        json_t *v = NULL;
        json_error_t je;
        if (!is_json(compose_ctype(c, i)))
            v = json_stringn(body, len); /* HTML or text: inserted as it is */
        else if ((v = json_loadb(body, len, JSON_DECODE_ANY, &je)) == NULL)
            log_warn("page", "fragment %s: invalid JSON: %s (line %d)", fr->name, je.text, je.line);
        if (plain != NULL)
            evbuffer_free(plain);
        if (v != NULL)
            return v;
        *bad = "invalid JSON";
    } else {
        *bad = st == COMPOSE_TIMEOUT ? "timeout" : "failed";
    }
    return fr->fallback != NULL ? json_incref(fr->fallback) : NULL;
}

/* Whether the space-separated list all[0..have) holds tag t[0..n). */
static int has_tag(const char *all, size_t have, const char *t, size_t n)
{
    const char *p = all, *end = all + have;
    while (p < end) {
        const char *sp = memchr(p, ' ', (size_t)(end - p));
        size_t k = (size_t)((sp ? sp : end) - p);
        if (k == n && memcmp(p, t, n) == 0)
            return 1;
        p = sp ? sp + 1 : end;
    }
    return 0;
}

/* Appends the fragment's tags (NUL-terminated, separated by spaces or commas)
 * to the page's, each once. */
static void add_tags(struct evbuffer *tags, const char *t)
{
    while (*t != '\0') {
        size_t n = strcspn(t, " ,");
        if (n > 0) {
            size_t have = evbuffer_get_length(tags);
            const char *all = have ? (const char *)evbuffer_pullup(tags, -1) : "";
            if (!has_tag(all, have, t, n)) {
                if (have)
                    evbuffer_add(tags, " ", 1);
                evbuffer_add(tags, t, n);
            }
        }
        t += n;
        t += strspn(t, " ,");
    }
}

/* The page's response head, parsed into a new h1_msg (freed by the caller), or
 * NULL. blen < 0: the length is not known yet (streamed, chunked). */
static struct h1_msg *page_head(struct req *r, const struct tpl *t, int64_t ttl,
                                struct evbuffer *tags, long long blen, struct evbuffer *hb)
{
    evbuffer_add_printf(hb, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\n", content_type(t));
    evbuffer_add_printf(hb, "Cache-Control: max-age=%lld\r\n", (long long)(ttl > 0 ? ttl : 0));
    if (r->page_enc != CODEC_IDENTITY)
        evbuffer_add_printf(hb, "Content-Encoding: %s\r\n", codec_name(r->page_enc));
    const char *vary = channel_vary(r->cfg);
    evbuffer_add_printf(hb, "Vary: Accept-Encoding%s%s\r\n", vary[0] != '\0' ? ", " : "", vary);
    size_t tl = evbuffer_get_length(tags);
    if (tl > 0) {
        evbuffer_add(hb, "Surrogate-Key: ", 15);
        evbuffer_add(hb, evbuffer_pullup(tags, -1), tl);
        evbuffer_add(hb, "\r\n", 2);
    }
    if (blen >= 0)
        evbuffer_add_printf(hb, "Content-Length: %lld\r\n\r\n", blen);
    else
        evbuffer_add(hb, "Transfer-Encoding: chunked\r\n\r\n", 30);
    struct h1_msg *m = &r->w->page_msg; /* one at a time, never across a callback */
    struct h1_limits lim = {PAGE_HEAD_MAX, PAGE_HEAD_MAX, H1_MAX_HEADERS_CAP};
    size_t hl = evbuffer_get_length(hb);
    if (h1_parse_response((const char *)evbuffer_pullup(hb, -1), hl, &lim, r->head_method, m) !=
        H1_OK) {
        return NULL;
    }
    return m;
}

/* Sends the rendered page, or its rest after the streamed part (and stores it
 * whole, as rcache decides). */
static void answer(struct req *r, const struct tpl *t, struct evbuffer *body, int64_t ttl,
                   struct evbuffer *tags)
{
    struct evbuffer *hb = evbuffer_new();
    struct evbuffer *enc = NULL;
    if (r->page_enc != CODEC_IDENTITY) {
        /* Stored and sent in the client's coding (one cache entry per coding). */
        enc = evbuffer_new();
        size_t n = evbuffer_get_length(body);
        if (codec_encode(r->page_enc, n ? evbuffer_pullup(body, -1) : (const unsigned char *)"", n,
                         enc) != 0) {
            evbuffer_free(enc);
            evbuffer_free(hb);
            r->ops->respond(r, 500, "", "page could not be compressed", 0);
            return;
        }
        body = enc;
    }
    size_t blen = evbuffer_get_length(body);
    const struct h1_msg *m = page_head(r, t, ttl, tags, (long long)blen, hb);
    const char *bad = m == NULL ? "page head unreadable" : NULL;
    if (m != NULL && r->hk != NULL && (m = hookrun_response(r, m)) == NULL)
        bad = "the route's response hook failed";
    if (bad != NULL) {
        evbuffer_free(hb);
        if (enc != NULL)
            evbuffer_free(enc);
        if (r->page_sent > 0 || r->page_streamed)
            r->ops->response_abort(r);
        else
            r->ops->respond(r, 500, "", bad, 0);
        return;
    }
    r->fwd.up_start_ms = util_now_ms();
    rc_response_head(r, m); /* the stored head carries the whole length */
    if (!r->page_streamed) {
        r->status = 200;
        r->ops->response_head(r, m);
    }
    evbuffer_free(hb);
    if (!r->head_method && blen > 0)
        rc_response_body(r, body, blen);
    rc_response_end(r, 1); /* stored before the client can see the last byte */
    if (!r->head_method && blen > 0) {
        /* What was streamed is the same prefix: rendering is deterministic. */
        size_t skip = r->page_sent < blen ? r->page_sent : blen;
        evbuffer_drain(body, skip);
        if (blen > skip)
            r->ops->response_body(r, body, blen - skip);
    }
    if (enc != NULL)
        evbuffer_free(enc);
    r->ops->response_end(r);
}

/* The data of the fragments finished so far; *failed / why when a required
 * one failed. *ttl and tags over the fragments that answered. */
static json_t *build_data(struct req *r, struct compose *c, int64_t *ttl, int *degraded,
                          struct evbuffer *tags, int *failed, char *why, size_t whylen)
{
    const struct cfg_route *pr = r->page_route;
    json_t *data = json_object();
    *ttl = INT64_MAX;
    *failed = 0;
    *degraded = 0;
    for (size_t i = 0; i < compose_count(c); i++) {
        if (compose_state(c, i) == COMPOSE_PENDING)
            continue;
        const struct cfg_fragment *fr = &pr->fragments[i];
        const char *bad;
        json_t *v = fragment_data(c, i, fr, &bad);
        if (r->hk != NULL &&
            hookrun_fragment(r, fr->name, &v, compose_status(c, i),
                             bad == NULL ? compose_source(c, i)
                                         : (v != NULL ? "fallback" : "error")) < 0 &&
            *failed == 0) {
            *failed = 500;
            snprintf(why, whylen, "fragment %s: the route's fragment hook failed", fr->name);
        }
        if (bad != NULL && fr->required && *failed == 0) {
            *failed = compose_state(c, i) == COMPOSE_TIMEOUT ? 503 : 502;
            snprintf(why, whylen, "required fragment %s: %s (status %d)", fr->name, bad,
                     compose_status(c, i));
        }
        if (bad != NULL)
            *degraded = 1;
        if (v != NULL)
            json_object_set_new(data, fr->name, v);
        if (bad == NULL && compose_ttl(c, i) < *ttl)
            *ttl = compose_ttl(c, i);
        add_tags(tags, compose_tags(c, i));
    }
    if (*ttl == INT64_MAX)
        *ttl = 0;
    if (*degraded && *ttl > PAGE_SHORT_TTL)
        *ttl = PAGE_SHORT_TTL;
    json_object_set_new(data, "channel", json_string(r->channel));
    return data;
}

/* tpl_render's pending test: a fragment still in flight. */
static int fragment_pending(void *arg, const char *top, size_t len)
{
    struct req *r = arg;
    const struct cfg_route *pr = r->page_route;
    for (size_t i = 0; i < pr->nfragments; i++) {
        const char *n = pr->fragments[i].name;
        if (strlen(n) == len && memcmp(n, top, len) == 0)
            return compose_state(r->compose, i) == COMPOSE_PENDING;
    }
    return 0;
}

/* Every required fragment is in and some optional ones are not: sends the
 * head and the page up to the first place that needs a missing fragment. */
static void stream_start(struct req *r, const struct tpl *t, json_t *data, int64_t ttl,
                         struct evbuffer *tags)
{
    struct evbuffer *out = evbuffer_new();
    struct tpl_render_opts o = {0};
    o.is_pending = fragment_pending;
    o.pending_arg = r;
    struct tpl_error err;
    int rc = tpl_render(t, data, &o, out, &err);
    size_t n = evbuffer_get_length(out);
    if (rc == TPL_PENDING && n > 0) {
        struct evbuffer *hb = evbuffer_new();
        struct h1_msg *m = page_head(r, t, ttl, tags, -1, hb);
        if (m != NULL) {
            r->status = 200;
            r->page_streamed = 1;
            r->ops->response_head(r, m);
            r->page_sent = n;
            r->ops->response_body(r, out, n);
        }
        evbuffer_free(hb);
    }
    evbuffer_free(out);
}

static void on_composed(struct compose *c, void *arg)
{
    struct req *r = arg;
    const struct cfg_route *pr = r->page_route;
    const struct tpl *t = pr->tpls[r->channel_idx];
    int pending = compose_pending(c) > 0;
    /* Streaming is for identity only: a compressed page goes out whole. So
     * does a page whose data hooks shape (they need not be deterministic). */
    if (pending && (r->page_streamed || r->head_method || r->page_enc != CODEC_IDENTITY ||
                    hookrun_shapes_page(r)))
        return;
    for (size_t i = 0; pending && i < compose_count(c); i++)
        if (pr->fragments[i].required && compose_state(c, i) == COMPOSE_PENDING)
            return; /* nothing to show before the required ones */
    struct evbuffer *tags = evbuffer_new();
    int64_t ttl;
    int failed, degraded;
    char why[256] = "";
    jarena_begin(); /* the fragments' data lives until json_decref(data) */
    json_t *data = build_data(r, c, &ttl, &degraded, tags, &failed, why, sizeof(why));
    if (pending && failed == 0) {
        stream_start(r, t, data, ttl, tags);
        json_decref(data);
        jarena_end();
        evbuffer_free(tags);
        return;
    }
    r->compose = NULL; /* ours now: answering may end r; in-flight ones are cancelled */
    compose_free(&c);
    if (failed != 0) {
        json_decref(data);
        jarena_end();
        evbuffer_free(tags);
        log_warn("page", "%s %s: %s", r->method, r->target, why);
        r->ops->respond(r, failed, "", why, 0);
        return;
    }
    struct tpl_render_opts ro = {0};
    if (r->hk != NULL && hookrun_render(r, &data, &ro) < 0) {
        json_decref(data);
        jarena_end();
        evbuffer_free(tags);
        r->ops->respond(r, 500, "", "the route's render hook failed", 0);
        return;
    }
    struct evbuffer *body = evbuffer_new();
    struct tpl_error err;
    int rc = tpl_render(t, data, &ro, body, &err);
    json_decref(data);
    jarena_end();
    if (rc != TPL_OK) {
        log_warn("page", "%s %s: render: %s", r->method, r->target, err.msg);
        evbuffer_free(body);
        evbuffer_free(tags);
        if (r->page_streamed)
            r->ops->response_abort(r);
        else
            r->ops->respond(r, 500, "", "the page template failed to render", 0);
        return;
    }
    answer(r, t, body, ttl, tags);
    evbuffer_free(body);
    evbuffer_free(tags);
}

void page_classify(struct req *r, const struct h1_msg *m, const struct up_target *t)
{
    const char *q = memchr(t->uri, '?', t->uri_len);
    r->channel = channel_classify(r->cfg, m, q ? q + 1 : NULL,
                                  q ? t->uri_len - (size_t)(q + 1 - t->uri) : 0);
    r->channel_idx = 0;
    for (size_t i = 0; i < r->cfg->channel_names.n; i++)
        if (r->cfg->channel_names.items[i] == r->channel)
            r->channel_idx = i;
}

void page_dispatch(struct req *r, const struct route_match *rm, const struct h1_msg *m,
                   const struct up_target *t)
{
    const struct cfg_route *route = rm->route;
    if (r->channel == NULL)
        page_classify(r, m, t);
    r->page_route = route;
    r->fetch = page_fetch;
    r->page_enc = (int)codec_pick(m);
    r->key_extra = r->page_enc != CODEC_IDENTITY ? codec_name(r->page_enc) : NULL;
    int rc = rc_lookup(r, route, m, t);
    if (rc == RC_ANSWERED)
        return;
    up__prepare(r, m, t); /* the head to compose from, now or later */
    if (rc == RC_WAITING)
        return;
    page_fetch(r);
}
