/* SPDX-License-Identifier: Apache-2.0
 *
 * purge: invalidation by URL, prefix or tag (see purge.h). A purge request is
 * first normalised into a matcher the way keys are built (cache/key.h), then the
 * store is scanned once (l1_scan): the match callback runs under a shard lock, so
 * it only reads the key parts and, for tags, the stored head, and allocates
 * nothing; soft purges make their stale copies in the copy callback, without a
 * lock. The matcher is private to one call; the attached store, the observer and
 * the counters are process-wide (set before serving, counters atomic).
 */
#include "purge.h"

#include <event2/buffer.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cfg.h"
#include "key.h"
#include "l1.h"
#include "obj.h"
#include "route.h"
#include "util.h"

/* key_norm_path needs room for the path before dot segments go, and escaping may
 * triple it. */
#define NORM_CAP (3 * PURGE_VALUE_MAX + 16)

static _Atomic(struct l1 *) attached;
static purge_observer_cb *observer;
static void *observer_arg;
static _Atomic uint64_t purges[PURGE_NKINDS];
static _Atomic uint64_t purged_objects;

/* One purge, normalised. */
struct matcher {
    enum purge_kind kind;
    int soft;
    int64_t now;
    size_t nhost; /* 0: any host; else host[0..nhost) are the accepted forms */
    char host[2][PURGE_HOST_MAX];
    size_t host_len[2];
    char *path; /* PURGE_URL: the normalised path; PURGE_PREFIX: the prefix */
    size_t path_len;
    char *query[2]; /* PURGE_URL: normalised with the route's rules and without */
    size_t query_len[2];
    size_t nquery;
    const char *tag;
    size_t tag_len;
    size_t count; /* matching responses */
};

/* The parts of a stored key a purge compares. */
struct key_view {
    const unsigned char *host, *path, *query;
    size_t host_len, path_len, query_len; /* no query part: length 0, like "?" alone */
    int has_path;
};

const char *purge_kind_name(enum purge_kind kind)
{
    switch (kind) {
    case PURGE_URL: return "url";
    case PURGE_PREFIX: return "prefix";
    case PURGE_TAG: return "tag";
    default: return "unknown";
    }
}

const char *purge_strerror(int err)
{
    switch (err) {
    case PURGE_OK: return "ok";
    case PURGE_E_VALUE: return "the value is empty or too long";
    case PURGE_E_URL: return "not a URL or path that can be normalised";
    case PURGE_E_HOST: return "not a host";
    case PURGE_E_TAG: return "a tag is one token: no white space, ',' or control characters";
    case PURGE_E_NO_STORE: return "no memory cache";
    }
    return "unknown error";
}

int purge_req_set_url(struct purge_req *pr, const char *url, size_t len)
{
    const char *hash = memchr(url, '#', len);
    if (hash != NULL)
        len = (size_t)(hash - url); /* never sent to a server (RFC 9110 4.2.4) */
    if (len == 0 || len > PURGE_VALUE_MAX)
        return PURGE_E_VALUE;
    pr->kind = PURGE_URL;
    if (url[0] == '/') {
        if (len >= 2 && url[1] == '/')
            return PURGE_E_URL; /* "//host/path": scheme-relative, name the scheme */
        pr->value = url;
        pr->value_len = len;
        return PURGE_OK;
    }
    size_t skip;
    if (len > 8 && strncasecmp(url, "https://", 8) == 0)
        skip = 8;
    else if (len > 7 && strncasecmp(url, "http://", 7) == 0)
        skip = 7;
    else
        return PURGE_E_URL;
    const char *a = url + skip, *end = url + len, *ae = a;
    while (ae < end && *ae != '/' && *ae != '?')
        ae++;
    if (ae == a || memchr(a, '@', (size_t)(ae - a)) != NULL)
        return PURGE_E_URL; /* no host, or userinfo (RFC 9110 4.2.4) */
    pr->host = a;
    pr->host_len = (size_t)(ae - a);
    pr->https = skip == 8;
    /* "http://h" is "/"; "http://h?q" has the empty path, which normalises to "/". */
    pr->value = ae < end ? ae : "/";
    pr->value_len = ae < end ? (size_t)(end - ae) : 1;
    return PURGE_OK;
}

/* A host as a Host field may hold it: visible ASCII, nothing that ends an
 * authority. The rest is key_norm_host's. */
static int host_ok(const char *h, size_t n)
{
    if (n == 0 || n >= PURGE_HOST_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)h[i];
        if (ch <= 0x20 || ch >= 0x7f || strchr("/?#@\\", ch) != NULL)
            return 0;
    }
    return 1;
}

/* A tag is one token of a Surrogate-Key value, which is split at white space and
 * commas (several field lines join with ", "). */
static int tag_byte_ok(unsigned char ch)
{
    return ch > 0x20 && ch < 0x7f && ch != ',';
}

static void matcher_free(struct matcher *m)
{
    free(m->path);
    free(m->query[0]);
    free(m->query[1]);
}

/* The route's query rules for a path, as rcache.c builds keys with them; 0 when
 * no cached route matches. */
static int route_rules(const struct cfg *c, const char *path, size_t len,
                       struct key_query_rules *qr)
{
    struct route_match rm;
    if (c == NULL || route_find(c, path, len, &rm) < 0 || rm.route->cache == NULL)
        return 0;
    const struct cfg_route_cache *rc = rm.route->cache;
    if (rc->query_keep.items == NULL && rc->query_drop.items == NULL)
        return 0; /* the same as no rules */
    *qr = (struct key_query_rules){(const char *const *)rc->query_keep.items, rc->query_keep.n,
                                   (const char *const *)rc->query_drop.items, rc->query_drop.n};
    return 1;
}

static int matcher_url(struct matcher *m, const struct cfg *c, const struct purge_req *pr)
{
    const char *v = pr->value;
    size_t n = pr->value_len;
    const char *hash = memchr(v, '#', n);
    if (hash != NULL)
        n = (size_t)(hash - v);
    const char *q = memchr(v, '?', n);
    size_t plen = q != NULL ? (size_t)(q - v) : n;
    m->path = xmalloc(NORM_CAP);
    if (key_norm_path(v, plen, m->path, NORM_CAP, &m->path_len) != KEY_OK)
        return PURGE_E_URL;
    const char *qs = q != NULL ? q + 1 : "";
    size_t qlen = q != NULL ? n - plen - 1 : 0;
    m->query[0] = xmalloc(NORM_CAP);
    if (key_norm_query(qs, qlen, NULL, m->query[0], NORM_CAP, &m->query_len[0]) != KEY_OK)
        return PURGE_E_URL;
    m->nquery = 1;
    struct key_query_rules qr;
    if (route_rules(c, v, plen, &qr)) {
        m->query[1] = xmalloc(NORM_CAP);
        if (key_norm_query(qs, qlen, &qr, m->query[1], NORM_CAP, &m->query_len[1]) != KEY_OK)
            return PURGE_E_URL;
        if (m->query_len[1] != m->query_len[0] ||
            memcmp(m->query[1], m->query[0], m->query_len[0]) != 0)
            m->nquery = 2;
    }
    return PURGE_OK;
}

static int matcher_init(struct matcher *m, const struct cfg *c, const struct purge_req *pr,
                        int64_t now)
{
    memset(m, 0, sizeof(*m));
    m->kind = pr->kind;
    m->soft = pr->soft != 0;
    m->now = now;
    if (pr->value == NULL || pr->value_len == 0 || pr->value_len > PURGE_VALUE_MAX)
        return PURGE_E_VALUE;
    if (pr->host != NULL) {
        if (!host_ok(pr->host, pr->host_len))
            return PURGE_E_HOST;
        /* Without a scheme, "h:443" and "h:80" are both taken for the default
         * port (key_norm_host drops the scheme's own). */
        for (int https = 0; https <= 1; https++) {
            if (pr->https >= 0 && pr->https != https)
                continue;
            char *out = m->host[m->nhost];
            size_t len;
            if (key_norm_host(pr->host, pr->host_len, https, out, PURGE_HOST_MAX, &len) != KEY_OK)
                return PURGE_E_HOST;
            if (m->nhost == 1 && len == m->host_len[0] && memcmp(out, m->host[0], len) == 0)
                continue;
            m->host_len[m->nhost++] = len;
        }
    }
    switch (pr->kind) {
    case PURGE_URL: return matcher_url(m, c, pr);
    case PURGE_PREFIX:
        m->path = xmalloc(NORM_CAP);
        if (key_norm_path(pr->value, pr->value_len, m->path, NORM_CAP, &m->path_len) != KEY_OK ||
            pr->value[0] != '/')
            return PURGE_E_URL;
        /* "/a/" normalises to "/a/", and "/a/." to "/a/" as well: a prefix keeps
         * the slash it ends with. */
        return PURGE_OK;
    case PURGE_TAG:
        for (size_t i = 0; i < pr->value_len; i++)
            if (!tag_byte_ok((unsigned char)pr->value[i]))
                return PURGE_E_TAG;
        m->tag = pr->value;
        m->tag_len = pr->value_len;
        return PURGE_OK;
    default: return PURGE_E_VALUE;
    }
}

/* Splits a key written by cache/key.c into the parts a purge compares. Returns 0,
 * or -1 for bytes that are not such a key (never stored by rcache.c). */
static int key_view_of(const unsigned char *k, size_t n, struct key_view *v)
{
    memset(v, 0, sizeof(*v));
    size_t i = 0;
    while (i < n) {
        if (n - i < KEY_PART_OVERHEAD)
            return -1;
        unsigned char tag = k[i];
        size_t len = ((size_t)k[i + 1] << 8) | k[i + 2];
        const unsigned char *d = k + i + KEY_PART_OVERHEAD;
        if (len > n - i - KEY_PART_OVERHEAD)
            return -1;
        switch (tag) {
        case KEY_TAG_HOST:
            v->host = d;
            v->host_len = len;
            break;
        case KEY_TAG_PATH:
            v->path = d;
            v->path_len = len;
            v->has_path = 1;
            break;
        case KEY_TAG_QUERY:
            v->query = d;
            v->query_len = len;
            break;
        case KEY_TAG_VARY:
            return v->has_path ? 0 : -1; /* Vary parts come last: nothing more to read */
        default: break;
        }
        i += KEY_PART_OVERHEAD + len;
    }
    return v->has_path ? 0 : -1;
}

static int bytes_eq(const void *a, size_t alen, const void *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static int key_matches(const struct matcher *m, const struct obj *o)
{
    struct key_view v;
    if (key_view_of(obj_key(o), obj_key_len(o), &v) != 0)
        return 0;
    if (m->nhost > 0) {
        size_t i = 0;
        while (i < m->nhost && !bytes_eq(v.host, v.host_len, m->host[i], m->host_len[i]))
            i++;
        if (i == m->nhost)
            return 0;
    }
    if (m->kind == PURGE_PREFIX)
        return v.path_len >= m->path_len && memcmp(v.path, m->path, m->path_len) == 0;
    if (!bytes_eq(v.path, v.path_len, m->path, m->path_len))
        return 0;
    for (size_t i = 0; i < m->nquery; i++)
        if (bytes_eq(v.query, v.query_len, m->query[i], m->query_len[i]))
            return 1;
    return 0;
}

/* 1 when the stored head has a Surrogate-Key field holding the tag as a token.
 * The head is what rcache.c stored: a status line, then "Name: value" lines, each
 * ended by CRLF, then an empty line. */
static int head_has_tag(const struct matcher *m, const char *h, size_t n)
{
    static const char name[] = "surrogate-key";
    const char *end = h + n;
    const char *p = memchr(h, '\n', n); /* after the status line */
    while (p != NULL && ++p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *le = eol != NULL ? eol : end;
        const char *colon = memchr(p, ':', (size_t)(le - p));
        if (colon != NULL && (size_t)(colon - p) == sizeof(name) - 1 &&
            strncasecmp(p, name, sizeof(name) - 1) == 0) {
            const char *t = colon + 1;
            while (t < le) {
                while (t < le && !tag_byte_ok((unsigned char)*t))
                    t++;
                const char *te = t;
                while (te < le && tag_byte_ok((unsigned char)*te))
                    te++;
                if (te > t && bytes_eq(t, (size_t)(te - t), m->tag, m->tag_len))
                    return 1;
                t = te;
            }
        }
        p = eol;
    }
    return 0;
}

/* A stored response, as opposed to rcache.c's Vary marker (whose head is a nonce
 * and field names, not a status line). */
static int is_response(const struct obj *o)
{
    return obj_head_len(o) >= 5 && memcmp(obj_head(o), "HTTP/", 5) == 0;
}

/* The one test of an object against a purge, for l1_scan and for the L2's ban
 * list (purge_matcher_test): a response whose key (URL, prefix) or head (tag)
 * matches, or the Vary marker of a matching URL for a hard purge (gone, so is
 * every variant). Reads, allocates nothing. */
static int matches(const struct matcher *m, const struct obj *o)
{
    int response = is_response(o);
    if (m->kind == PURGE_TAG)
        return response && head_has_tag(m, obj_head(o), obj_head_len(o));
    if (!key_matches(m, o))
        return 0;
    return response || !m->soft;
}

/* Under the shard lock (l1_scan_ops.match): reads, allocates nothing. */
static int on_match(void *arg, const struct obj *o)
{
    struct matcher *m = arg;
    if (!matches(m, o))
        return L1_SCAN_KEEP;
    if (!is_response(o)) /* a Vary marker of a hard purge */
        return L1_SCAN_REMOVE;
    if (!obj_is_dead(o, m->now))
        m->count++; /* dead ones are removed by a hard purge, but were not servable */
    if (!m->soft)
        return L1_SCAN_REMOVE;
    return m->now < obj_expires_at(o) ? L1_SCAN_REPLACE : L1_SCAN_KEEP; /* stale already */
}

struct obj *purge_obj_expired(const struct obj *o, int64_t now)
{
    struct obj *c = obj_new(obj_key(o), obj_key_len(o), obj_hash_lo(o), obj_hash_hi(o),
                            obj_head_len(o), obj_body_len(o));
    if (c == NULL)
        return NULL; /* l1_scan removes o instead */
    memcpy(obj_head_mut(c), obj_head(o), obj_head_len(o));
    if (obj_body_len(o) > 0)
        memcpy(obj_body_mut(c), obj_body(o), obj_body_len(o));
    obj_set_flags(c, obj_flags(o));
    int64_t exp = obj_expires_at(o);
    int64_t swr = obj_stale_until(o) > exp ? obj_stale_until(o) - exp : 0;
    int64_t sie = obj_error_until(o) > exp ? obj_error_until(o) - exp : 0;
    int64_t born = obj_stored_at(o) < now ? obj_stored_at(o) : now;
    obj_set_times(c, born, now, now + swr, now + sie);
    return c;
}

/* Without a lock (l1_scan_ops.copy): the same response, expired at `now`, with
 * its stale-while-revalidate and stale-if-error windows as long as they were
 * (RFC 5861: served stale while one background request refreshes it). */
static struct obj *on_copy(void *arg, const struct obj *o)
{
    const struct matcher *m = arg;
    return purge_obj_expired(o, m->now);
}

/* purge_run, where store may be NULL: a bad request is told apart from a missing
 * store (400 and 503 in the admin API). */
static int run(struct l1 *store, const struct cfg *c, const struct purge_req *pr, int64_t now,
               size_t *count)
{
    struct matcher m;
    *count = 0;
    int err = matcher_init(&m, c, pr, now);
    if (err == PURGE_OK && store == NULL)
        err = PURGE_E_NO_STORE;
    if (err == PURGE_OK) {
        static const struct l1_scan_ops ops = {on_match, on_copy};
        l1_scan(store, &ops, &m);
        *count = m.count;
        atomic_fetch_add_explicit(&purges[pr->kind], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&purged_objects, m.count, memory_order_relaxed);
    }
    matcher_free(&m);
    return err;
}

int purge_run(struct l1 *store, const struct cfg *c, const struct purge_req *pr, int64_t now,
              size_t *count)
{
    return run(store, c, pr, now, count);
}

int purge_apply(const struct cfg *c, const struct purge_req *pr, int64_t now, size_t *count)
{
    return run(atomic_load_explicit(&attached, memory_order_acquire), c, pr, now, count);
}

static int on_match_all(void *arg, const struct obj *o)
{
    size_t *n = arg;
    if (is_response(o))
        (*n)++;
    return L1_SCAN_REMOVE;
}

size_t purge_flush(void)
{
    struct l1 *store = atomic_load_explicit(&attached, memory_order_acquire);
    size_t n = 0;
    if (store != NULL) {
        static const struct l1_scan_ops ops = {on_match_all, NULL};
        l1_scan(store, &ops, &n);
    }
    return n;
}

/* ---- matchers for others (the L2's ban list) ---------------------------------- */

#define MATCHER_MAGIC 0x50474d41u

struct purge_matcher {
    unsigned magic;
    struct matcher m;
};

int purge_matcher_new(const struct cfg *c, const struct purge_req *pr, struct purge_matcher **out)
{
    struct purge_matcher *pm = xcalloc(1, sizeof(*pm));
    pm->magic = MATCHER_MAGIC;
    *out = NULL;
    int err = matcher_init(&pm->m, c, pr, 0);
    if (err != PURGE_OK) {
        matcher_free(&pm->m);
        free(pm);
        return err;
    }
    if (pm->m.kind == PURGE_TAG) {
        /* matcher_init points into the caller's string: keep a copy */
        char *t = xmalloc(pr->value_len);
        memcpy(t, pr->value, pr->value_len);
        pm->m.tag = t;
    }
    *out = pm;
    return PURGE_OK;
}

int purge_matcher_test(const struct purge_matcher *pm, const struct obj *o)
{
    if (pm == NULL || pm->magic != MATCHER_MAGIC)
        abort();
    return matches(&pm->m, o);
}

void purge_matcher_free(struct purge_matcher **pmp)
{
    struct purge_matcher *pm = *pmp;
    *pmp = NULL;
    if (pm == NULL)
        return;
    if (pm->m.kind == PURGE_TAG)
        free((char *)pm->m.tag);
    matcher_free(&pm->m);
    pm->magic = 0;
    free(pm);
}

void purge_attach(struct l1 *store)
{
    atomic_store_explicit(&attached, store, memory_order_release);
}

void purge_set_observer(purge_observer_cb *fn, void *arg)
{
    observer = fn;
    observer_arg = arg;
}

int purge_execute(const struct cfg *c, const struct purge_req *pr, size_t *count)
{
    struct l1 *store = atomic_load_explicit(&attached, memory_order_acquire);
    int err = run(store, c, pr, (int64_t)time(NULL), count);
    if (err == PURGE_OK && observer != NULL)
        observer(observer_arg, pr);
    return err;
}

void purge_metrics(struct evbuffer *out)
{
    evbuffer_add_printf(out, "# HELP tessera_purges_total Purge requests executed, by kind.\n"
                             "# TYPE tessera_purges_total counter\n");
    for (int k = 0; k < PURGE_NKINDS; k++)
        evbuffer_add_printf(
            out, "tessera_purges_total{kind=\"%s\"} %llu\n", purge_kind_name((enum purge_kind)k),
            (unsigned long long)atomic_load_explicit(&purges[k], memory_order_relaxed));
    evbuffer_add_printf(
        out,
        "# HELP tessera_purged_objects_total Stored responses removed or marked stale by "
        "purges.\n# TYPE tessera_purged_objects_total counter\ntessera_purged_objects_total %llu\n",
        (unsigned long long)atomic_load_explicit(&purged_objects, memory_order_relaxed));
}
