/* SPDX-License-Identifier: Apache-2.0
 *
 * test_purge: purges by URL, prefix and tag against an L1 store filled with keys
 * built the way rcache.c builds them (method, host, path, query, channel, coding
 * and hook parts, Vary markers and variants). URL purges: every channel, coding,
 * hook part and Vary variant of the URL, nothing else; normalisation of path,
 * query and host; a route's query rules. Prefix purges, exact tag matches in one
 * or several Surrogate-Key lines, soft purges (stale copies that keep their
 * windows; already stale and dead objects), bad requests, purge_req_set_url,
 * purge_execute with and without a store, the observer and the metrics. A fake
 * clock: `now` is a parameter.
 */
#include "purge.h"

#include <event2/buffer.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "check.h"
#include "key.h"
#include "l1.h"
#include "obj.h"

#define NOW 1500
#define NONCE "00000000000000a1"

/* One stored object: its key parts and head. Unset times are 1000 / 2000 / 2030 /
 * 5000 (fresh at NOW, 30 s of stale-while-revalidate, 3000 s of stale-if-error). */
struct spec {
    const char *host;
    int https;
    const char *path;
    const char *query; /* NULL: no query part */
    const struct key_query_rules *rules;
    const char *channel, *coding, *hook;
    const char *vary; /* a Vary variant: "en" (accept-language) under NONCE */
    int marker;       /* the Vary marker of the URL (accept-language) */
    const char *fields;
    int64_t stored, expires, stale, error;
};

static size_t key_of(const struct spec *sp, unsigned char *key, uint64_t *lo, uint64_t *hi)
{
    struct key_builder kb;
    size_t len = 0;

    key_init(&kb, key, 1024);
    key_add_method(&kb, "GET", 3);
    key_add_host(&kb, sp->host ? sp->host : "shop.example",
                 strlen(sp->host ? sp->host : "shop.example"), sp->https);
    key_add_path(&kb, sp->path, strlen(sp->path));
    if (sp->query != NULL)
        key_add_query(&kb, sp->query, strlen(sp->query), sp->rules);
    if (sp->channel != NULL)
        key_add_part(&kb, KEY_TAG_CHANNEL, sp->channel, strlen(sp->channel));
    if (sp->coding != NULL)
        key_add_part(&kb, KEY_TAG_EXTRA, sp->coding, strlen(sp->coding));
    if (sp->hook != NULL)
        key_add_part(&kb, KEY_TAG_EXTRA, sp->hook, strlen(sp->hook));
    if (sp->vary != NULL) {
        key_add_part(&kb, KEY_TAG_VARY, NONCE, 16);
        key_add_vary(&kb, "accept-language", 15, sp->vary, strlen(sp->vary));
    }
    if (key_finish(&kb, lo, hi, &len) != KEY_OK)
        abort();
    return len;
}

static struct obj *make(const struct spec *sp)
{
    unsigned char key[1024];
    uint64_t lo, hi;
    size_t klen = key_of(sp, key, &lo, &hi);
    char head[512];
    struct obj *o;

    if (sp->marker)
        snprintf(head, sizeof(head), "%saccept-language", NONCE);
    else
        snprintf(head, sizeof(head),
                 "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n%s"
                 "Content-Length: 4\r\n\r\n",
                 sp->fields ? sp->fields : "");
    o = obj_new(key, klen, lo, hi, strlen(head), sp->marker ? 0 : 4);
    memcpy(obj_head_mut(o), head, strlen(head));
    if (!sp->marker)
        memcpy(obj_body_mut(o), "body", 4);
    obj_set_flags(o, sp->marker ? 1u : 2u);
    obj_set_times(o, sp->stored ? sp->stored : 1000, sp->expires ? sp->expires : 2000,
                  sp->stale ? sp->stale : 2030, sp->error ? sp->error : 5000);
    return o;
}

static void put(struct l1 *c, const struct spec *sp)
{
    struct obj *o = make(sp);

    if (l1_insert(c, o) != L1_OK)
        abort();
    obj_unref(&o);
}

/* The stored object for sp (a reference), or NULL. */
static struct obj *get(struct l1 *c, const struct spec *sp)
{
    unsigned char key[1024];
    uint64_t lo, hi;
    size_t klen = key_of(sp, key, &lo, &hi);

    return l1_lookup(c, key, klen, lo, hi);
}

static int has(struct l1 *c, const struct spec *sp)
{
    struct obj *o = get(c, sp);
    int found = o != NULL;

    obj_unref(&o);
    return found;
}

static size_t objects(struct l1 *c)
{
    struct l1_stats st;

    l1_stats(c, &st);
    return (size_t)st.objects;
}

/* purge_run with the fields of a purge_req; returns the count, or -1 on error. */
static long purge(struct l1 *c, const struct cfg *cfg, enum purge_kind kind, const char *host,
                  const char *value, int soft)
{
    struct purge_req pr = {kind, host, host ? strlen(host) : 0, -1, value, strlen(value), soft};
    size_t n = 0;
    int err = purge_run(c, cfg, &pr, NOW, &n);

    return err == PURGE_OK ? (long)n : -1;
}

static const char *const channels[] = {NULL, "web", "mobile", "app"};
static const char *const codings[] = {NULL, "gzip", "br"};

static void test_url(void)
{
    struct l1 *c = l1_new(16 << 20, 8, L1_S3FIFO);
    const struct spec others[] = {
        {.path = "/product/42", .query = "x=1"},
        {.path = "/product/420"},
        {.path = "/product/4"},
        {.path = "/product/42/"},
        {.path = "/product/42", .host = "other.example"},
        {.path = "/api/v", .query = "a=1", .marker = 1},
    };
    size_t i, j;
    int ok = 1;

    for (i = 0; i < 4; i++)
        for (j = 0; j < 3; j++)
            put(c, &(struct spec){
                       .path = "/product/42", .channel = channels[i], .coding = codings[j]});
    put(c, &(struct spec){.path = "/product/42", .channel = "web", .hook = "ab=b"});
    put(c,
        &(struct spec){.path = "/product/42", .query = "", .channel = "app"}); /* "/product/42?" */
    put(c, &(struct spec){.path = "/api/v", .marker = 1});
    put(c, &(struct spec){.path = "/api/v", .vary = "en"});
    put(c, &(struct spec){.path = "/api/v", .vary = "fr"});
    for (i = 0; i < sizeof(others) / sizeof(others[0]); i++)
        put(c, &others[i]);
    CHECK_INT(objects(c), 14 + 3 + 6);

    /* every channel, coding and hook part of the URL, and "?" alone is no query */
    CHECK_INT(purge(c, NULL, PURGE_URL, "shop.example", "/product/42", 0), 14);
    for (i = 0; i < 4; i++)
        for (j = 0; j < 3; j++)
            ok &= !has(c, &(struct spec){
                              .path = "/product/42", .channel = channels[i], .coding = codings[j]});
    CHECK_MSG(ok, "a channel or coding variant survived");
    for (i = 0; i < sizeof(others) / sizeof(others[0]); i++)
        CHECK(has(c, &others[i]));
    CHECK_INT(purge(c, NULL, PURGE_URL, "shop.example", "/product/42", 0), 0);
    /* without a host: that URL on every host */
    CHECK_INT(purge(c, NULL, PURGE_URL, NULL, "/product/42", 0), 1);
    CHECK(!has(c, &others[4]));

    /* Vary: the marker and the variants go; the marker is not counted */
    CHECK_INT(purge(c, NULL, PURGE_URL, NULL, "/api/v", 0), 2);
    CHECK(!has(c, &(struct spec){.path = "/api/v", .marker = 1}));
    CHECK(!has(c, &(struct spec){.path = "/api/v", .vary = "en"}));
    CHECK(has(c, &(struct spec){.path = "/api/v", .query = "a=1", .marker = 1}));
    CHECK_INT(objects(c), 5);

    /* host: case, default ports; another host is not touched */
    put(c, &(struct spec){.path = "/h"});
    CHECK_INT(purge(c, NULL, PURGE_URL, "other.example", "/h", 0), 0);
    CHECK_INT(purge(c, NULL, PURGE_URL, "SHOP.Example:80", "/h", 0), 1);
    put(c, &(struct spec){.path = "/h"});
    CHECK_INT(purge(c, NULL, PURGE_URL, "shop.example:443", "/h", 0), 1);
    put(c, &(struct spec){.path = "/h", .host = "shop.example:8080"});
    CHECK_INT(purge(c, NULL, PURGE_URL, "shop.example", "/h", 0), 0);
    CHECK_INT(purge(c, NULL, PURGE_URL, "shop.example:8080", "/h", 0), 1);

    /* path and query normalisation as keys have it (cache/key.h) */
    put(c, &(struct spec){.path = "/a/b", .query = "y=2&x=1"});
    CHECK_INT(purge(c, NULL, PURGE_URL, NULL, "/A/b?x=1&y=2", 0), 0); /* paths are case-sensitive */
    CHECK_INT(purge(c, NULL, PURGE_URL, NULL, "/a/b?x=1", 0), 0);
    CHECK_INT(purge(c, NULL, PURGE_URL, NULL, "/a/b", 0), 0);
    CHECK_INT(purge(c, NULL, PURGE_URL, NULL, "/a/./c/../%62?x=1&y=2#top", 0), 1);
    put(c, &(struct spec){.path = "/a/b", .query = "y=2&x=1"});
    CHECK_INT(purge(c, NULL, PURGE_URL, NULL, "//a//b?y=2&x=1", 0), 1);
    CHECK_INT(l1__check(c), 0);
    l1_free(c);
}

static const char cfg_text[] =
    "workers = 1\n"
    "listen = { { addr = \"127.0.0.1:0\" } }\n"
    "origins = { api = { servers = { \"127.0.0.1:9000\" } } }\n"
    "routes = {\n"
    "  { path = \"/s/*\", origin = \"api\", cache = { query = { drop = { \"utm_*\" } } } },\n"
    "  { path = \"/k/*\", origin = \"api\", cache = { query = { keep = { \"id\" } } } },\n"
    "  { path = \"/*\", origin = \"api\", cache = {} },\n"
    "}\n";

/* A URL purge compares the query as the route's rules keep it. */
static void test_url_route_rules(void)
{
    char path[] = "/tmp/test_purge-XXXXXX";
    int fd = mkstemp(path);
    struct cfg *cfg;
    struct l1 *c = l1_new(4 << 20, 4, L1_S3FIFO);
    const char *const drop[] = {"utm_*"}, *const keep[] = {"id"};
    const struct key_query_rules rdrop = {NULL, 0, drop, 1}, rkeep = {keep, 1, NULL, 0};

    CHECK(fd >= 0 && write(fd, cfg_text, sizeof(cfg_text) - 1) == (ssize_t)sizeof(cfg_text) - 1);
    close(fd);
    cfg = cfg_load(path, stderr);
    unlink(path);
    CHECK(cfg != NULL);
    if (cfg == NULL)
        return;
    put(c, &(struct spec){.path = "/s/x", .query = "q=1&utm_source=a", .rules = &rdrop});
    CHECK_INT(purge(c, NULL, PURGE_URL, NULL, "/s/x?q=1&utm_source=zzz", 0), 0);
    CHECK_INT(purge(c, cfg, PURGE_URL, NULL, "/s/x?utm_medium=b&q=1", 0), 1);
    put(c, &(struct spec){.path = "/s/x", .query = "q=1&utm_source=a", .rules = &rdrop});
    CHECK_INT(purge(c, NULL, PURGE_URL, NULL, "/s/x?q=1", 0), 1); /* as written, too */
    put(c, &(struct spec){.path = "/k/y", .query = "x=1&id=5", .rules = &rkeep});
    CHECK_INT(purge(c, cfg, PURGE_URL, NULL, "/k/y?id=6", 0), 0);
    CHECK_INT(purge(c, cfg, PURGE_URL, NULL, "/k/y?z=9&id=5", 0), 1);
    /* a fragment's key keeps every parameter, whatever the route of its path says */
    put(c, &(struct spec){.host = "api", .path = "/s/f", .query = "utm_x=1"});
    CHECK_INT(purge(c, cfg, PURGE_URL, NULL, "/s/f?utm_x=1", 0), 1);
    cfg_unref(cfg);
    l1_free(c);
}

static void test_prefix(void)
{
    struct l1 *c = l1_new(4 << 20, 4, L1_S3FIFO);
    const struct spec in[] = {
        {.path = "/category/shoes"},
        {.path = "/category/shoes", .query = "page=2", .channel = "mobile"},
        {.path = "/category/"},
        {.path = "/category/hats", .host = "other.example"},
    };
    const struct spec out[] = {
        {.path = "/categoryx"},
        {.path = "/category"},
        {.path = "/cat"},
        {.path = "/product/category/"},
    };
    size_t i;

    for (i = 0; i < 4; i++) {
        put(c, &in[i]);
        put(c, &out[i]);
    }
    CHECK_INT(purge(c, NULL, PURGE_PREFIX, NULL, "category/", 0), -1);
    CHECK_INT(purge(c, NULL, PURGE_PREFIX, "shop.example", "/category/", 0), 3);
    CHECK(has(c, &in[3]));
    CHECK_INT(purge(c, NULL, PURGE_PREFIX, NULL, "/category/", 0), 1);
    for (i = 0; i < 4; i++)
        CHECK(has(c, &out[i]) && !has(c, &in[i]));
    CHECK_INT(purge(c, NULL, PURGE_PREFIX, NULL, "/cat", 0), 3);
    CHECK_INT(purge(c, NULL, PURGE_PREFIX, NULL, "/", 0), 1);
    CHECK_INT(objects(c), 0);
    l1_free(c);
}

static void test_tag(void)
{
    struct l1 *c = l1_new(4 << 20, 4, L1_S3FIFO);
    const struct spec tagged[] = {
        {.path = "/1", .fields = "Surrogate-Key: product-1 nav\r\n"},
        {.path = "/2", .fields = "Surrogate-Key: x\r\nsurrogate-key:  a,product-1\t b\r\n"},
        {.path = "/3", .fields = "SURROGATE-KEY: product-1\r\n", .channel = "app"},
    };
    const struct spec untagged[] = {
        {.path = "/4", .fields = "Surrogate-Key: product-10 product-\r\n"},
        {.path = "/5", .fields = "Surrogate-Key: Product-1\r\n"},
        {.path = "/6", .fields = "X-Surrogate-Key: product-1\r\nSurrogate-Keys: product-1\r\n"},
        {.path = "/7", .fields = "Link: product-1\r\n"},
        {.path = "/product-1", .marker = 1},
    };
    size_t i;

    for (i = 0; i < 3; i++)
        put(c, &tagged[i]);
    for (i = 0; i < 5; i++)
        put(c, &untagged[i]);
    CHECK_INT(purge(c, NULL, PURGE_TAG, NULL, "product-1", 0), 3);
    for (i = 0; i < 3; i++)
        CHECK(!has(c, &tagged[i]));
    for (i = 0; i < 5; i++)
        CHECK(has(c, &untagged[i]));
    CHECK_INT(purge(c, NULL, PURGE_TAG, NULL, "product-10", 0), 1);
    CHECK_INT(purge(c, NULL, PURGE_TAG, NULL, "product", 0), 0); /* never a pattern */
    CHECK_INT(purge(c, NULL, PURGE_TAG, NULL, "product-*", 0), 0);
    CHECK_INT(purge(c, NULL, PURGE_TAG, NULL, "product-1 nav", 0), -1);
    CHECK_INT(purge(c, NULL, PURGE_TAG, NULL, "a,b", 0), -1);
    CHECK_INT(purge(c, NULL, PURGE_TAG, NULL, "", 0), -1);
    CHECK_INT(l1__check(c), 0);
    l1_free(c);
}

static void test_soft(void)
{
    struct l1 *c = l1_new(4 << 20, 4, L1_S3FIFO);
    const struct spec fresh = {.path = "/p", .channel = "web", .fields = "Surrogate-Key: t\r\n"};
    const struct spec stale = {.path = "/p", .channel = "app", .expires = 1400, .stale = 1430};
    const struct spec dead = {
        .path = "/p", .channel = "mobile", .expires = 1100, .stale = 1100, .error = 1100};
    const struct spec marker = {.path = "/v", .marker = 1};
    const struct spec variant = {.path = "/v", .vary = "en"};
    struct obj *before_fresh, *before_stale, *o;

    put(c, &fresh);
    put(c, &stale);
    put(c, &dead);
    put(c, &marker);
    put(c, &variant);
    before_fresh = get(c, &fresh);
    before_stale = get(c, &stale);
    CHECK_INT(purge(c, NULL, PURGE_URL, NULL, "/p", 1), 2); /* the dead one is not counted */
    o = get(c, &fresh);
    CHECK(o != NULL && o != before_fresh);
    if (o != NULL) {
        CHECK_INT(obj_stored_at(o), 1000);
        CHECK_INT(obj_expires_at(o), NOW);
        CHECK_INT(obj_stale_until(o), NOW + 30);
        CHECK_INT(obj_error_until(o), NOW + 3000);
        CHECK_INT(obj_flags(o), 2);
        CHECK(obj_head_len(o) == obj_head_len(before_fresh) &&
              memcmp(obj_head(o), obj_head(before_fresh), obj_head_len(o)) == 0);
        CHECK(obj_body_len(o) == 4 && memcmp(obj_body(o), "body", 4) == 0);
    }
    obj_unref(&o);
    o = get(c, &stale);
    CHECK(o == before_stale); /* stale already: left as it is */
    obj_unref(&o);
    CHECK(has(c, &dead));
    /* again: everything is stale now, nothing is rewritten */
    o = get(c, &fresh);
    CHECK_INT(purge(c, NULL, PURGE_TAG, NULL, "t", 1), 1);
    struct obj *again = get(c, &fresh);
    CHECK(again == o);
    obj_unref(&again);
    obj_unref(&o);
    /* Vary: variants are marked stale, the marker stays so they stay reachable */
    CHECK_INT(purge(c, NULL, PURGE_URL, NULL, "/v", 1), 1);
    CHECK(has(c, &marker));
    o = get(c, &variant);
    CHECK(o != NULL && obj_expires_at(o) == NOW);
    obj_unref(&o);
    /* a hard purge removes the dead one too */
    CHECK_INT(purge(c, NULL, PURGE_URL, NULL, "/p", 0), 2);
    CHECK(!has(c, &dead));
    CHECK_INT(l1__check(c), 0);
    obj_unref(&before_fresh);
    obj_unref(&before_stale);
    l1_free(c);
}

static void test_errors(void)
{
    struct l1 *c = l1_new(1 << 20, 1, L1_S3FIFO);
    char longv[PURGE_VALUE_MAX + 2];

    memset(longv, 'a', sizeof(longv) - 1);
    longv[0] = '/';
    longv[sizeof(longv) - 1] = '\0';
    struct purge_req pr = {PURGE_URL, NULL, 0, -1, "/%zz", 4, 0};
    size_t n = 7;
    CHECK_INT(purge_run(c, NULL, &pr, NOW, &n), PURGE_E_URL);
    CHECK_INT(n, 0);
    pr.value = "/ok";
    pr.value_len = 3;
    pr.host = "a/b";
    pr.host_len = 3;
    CHECK_INT(purge_run(c, NULL, &pr, NOW, &n), PURGE_E_HOST);
    pr.host = "a b";
    CHECK_INT(purge_run(c, NULL, &pr, NOW, &n), PURGE_E_HOST);
    pr.host = NULL;
    pr.value = longv;
    pr.value_len = strlen(longv);
    CHECK_INT(purge_run(c, NULL, &pr, NOW, &n), PURGE_E_VALUE);
    pr.value_len = 0;
    CHECK_INT(purge_run(c, NULL, &pr, NOW, &n), PURGE_E_VALUE);
    pr.kind = PURGE_TAG;
    pr.value = "x\001";
    pr.value_len = 2;
    CHECK_INT(purge_run(c, NULL, &pr, NOW, &n), PURGE_E_TAG);
    for (int e = PURGE_OK; e >= PURGE_E_NO_STORE; e--)
        CHECK(strcmp(purge_strerror(e), "unknown error") != 0);
    CHECK(strcmp(purge_kind_name(PURGE_PREFIX), "prefix") == 0);
    l1_free(c);
}

static void test_set_url(void)
{
    static const struct {
        const char *url;
        int err;
        const char *host; /* NULL: untouched */
        int https;
        const char *value;
    } cases[] = {
        {"/p?q=1", PURGE_OK, NULL, -1, "/p?q=1"},
        {"/p#frag", PURGE_OK, NULL, -1, "/p"},
        {"http://Shop.example:8080/p?q", PURGE_OK, "Shop.example:8080", 0, "/p?q"},
        {"HTTPS://h/", PURGE_OK, "h", 1, "/"},
        {"https://h", PURGE_OK, "h", 1, "/"},
        {"http://h?q=1", PURGE_OK, "h", 0, "?q=1"},
        {"http:///p", PURGE_E_URL, NULL, -1, NULL},
        {"http://user@h/p", PURGE_E_URL, NULL, -1, NULL},
        {"ftp://h/p", PURGE_E_URL, NULL, -1, NULL},
        {"//h/p", PURGE_E_URL, NULL, -1, NULL},
        {"p", PURGE_E_URL, NULL, -1, NULL},
        {"", PURGE_E_VALUE, NULL, -1, NULL},
        {"#x", PURGE_E_VALUE, NULL, -1, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct purge_req pr = {PURGE_TAG, NULL, 0, -1, NULL, 0, 0};
        int err = purge_req_set_url(&pr, cases[i].url, strlen(cases[i].url));

        CHECK_MSG(err == cases[i].err, "%s: %d", cases[i].url, err);
        if (err != PURGE_OK || cases[i].err != PURGE_OK)
            continue;
        CHECK(pr.kind == PURGE_URL);
        CHECK_STRN(pr.value, pr.value_len, cases[i].value);
        CHECK_INT(pr.https, cases[i].https);
        if (cases[i].host == NULL)
            CHECK(pr.host == NULL);
        else
            CHECK_STRN(pr.host, pr.host_len, cases[i].host);
    }
}

static int observed;
static void on_purged(void *arg, const struct purge_req *pr)
{
    observed += pr->kind == PURGE_TAG && *(int *)arg == 42;
}

static void test_execute_and_metrics(void)
{
    struct l1 *c = l1_new(1 << 20, 1, L1_S3FIFO);
    struct purge_req pr = {PURGE_TAG, NULL, 0, -1, "t", 1, 0};
    struct evbuffer *b = evbuffer_new();
    int arg = 42;
    size_t n = 9;

    CHECK_INT(purge_execute(NULL, &pr, &n), PURGE_E_NO_STORE);
    CHECK_INT(n, 0);
    pr.value = "t t";
    pr.value_len = 3;
    CHECK_INT(purge_execute(NULL, &pr, &n), PURGE_E_TAG); /* bad before missing */
    pr.value = "t";
    pr.value_len = 1;
    put(c, &(struct spec){.path = "/e", .fields = "Surrogate-Key: t\r\n", .expires = 4000000000});
    purge_attach(c);
    purge_set_observer(on_purged, &arg);
    CHECK_INT(purge_execute(NULL, &pr, &n), PURGE_OK);
    CHECK_INT(n, 1);
    CHECK_INT(observed, 1);
    pr.value = "t t";
    pr.value_len = 3;
    CHECK_INT(purge_execute(NULL, &pr, &n), PURGE_E_TAG);
    CHECK_INT(observed, 1); /* only purges made */
    purge_set_observer(NULL, NULL);
    purge_attach(NULL);

    purge_metrics(b);
    size_t len = evbuffer_get_length(b);
    char *text = malloc(len + 1);
    evbuffer_remove(b, text, len);
    text[len] = '\0';
    CHECK(strstr(text, "# TYPE tessera_purges_total counter\n") != NULL);
    CHECK(strstr(text, "tessera_purges_total{kind=\"url\"} ") != NULL);
    CHECK(strstr(text, "tessera_purges_total{kind=\"prefix\"} ") != NULL);
    CHECK(strstr(text, "tessera_purges_total{kind=\"tag\"} ") != NULL);
    CHECK(strstr(text, "tessera_purged_objects_total ") != NULL);
    free(text);
    evbuffer_free(b);
    l1_free(c);
}

int main(void)
{
    test_url();
    test_url_route_rules();
    test_prefix();
    test_tag();
    test_soft();
    test_errors();
    test_set_url();
    test_execute_and_metrics();
    return check_report("test_purge");
}
