/* SPDX-License-Identifier: Apache-2.0
 *
 * test_route: route_compile (pattern rules) and route_find (first match wins,
 * parameters point into the request path), as tables of cases. The routes are
 * compiled directly into a struct cfg built here, without a config file.
 */
#include "cfg.h"
#include "route.h"
#include "util.h"

#include "check.h"

#include <stdlib.h>
#include <string.h>

static void test_compile_errors(void)
{
    static const struct {
        const char *pattern;
        const char *why; /* a fragment of the message */
    } cases[] = {
        {"", "start with '/'"},
        {"api", "start with '/'"},
        {"api/*", "start with '/'"},
        {"//", "empty segment"},
        {"/a//b", "empty segment"},
        {"//a", "empty segment"},
        {"/a//", "empty segment"},
        {"/:", "':' must be followed by a parameter name"},
        {"/a/:/b", "':' must be followed by a parameter name"},
        {"/:a-b", "letters, digits and '_'"},
        {"/:a.json", "letters, digits and '_'"},
        {"/*/x", "'*' must be the last segment"},
        {"/*/", "'*' must be the last segment"},
        {"/a*", "'*' must be a whole segment"},
        {"/a/b*", "'*' must be a whole segment"},
        {"/**", "'*' must be a whole segment"},
        {"/:id/:id", "duplicate parameter name"},
        {"/a b", "spaces and control characters"},
        {"/a\tb", "spaces and control characters"},
        {"/a?x=1", "'?' and '#'"},
        {"/a#frag", "'?' and '#'"},
        {"/:a/:b/:c/:d/:e/:f/:g/:h/:i", "too many parameters"},
        {"/:a/:b/:c/:d/:e/:f/:g/:h/*", "too many parameters"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct cfg_route r;
        memset(&r, 0, sizeof(r));
        const char *why = NULL;
        int rc = route_compile(cases[i].pattern, &r, &why);
        CHECK_MSG(rc == -1, "\"%s\" compiled", cases[i].pattern);
        CHECK_MSG(why != NULL && strstr(why, cases[i].why) != NULL, "\"%s\": %s", cases[i].pattern,
                  why ? why : "(null)");
        CHECK(r.segs == NULL && r.nsegs == 0);
    }
    struct cfg_route r;
    memset(&r, 0, sizeof(r));
    CHECK_INT(route_compile(NULL, &r, NULL), -1); /* why may be NULL */
}

static void test_compile_segments(void)
{
    static const struct {
        const char *pattern;
        size_t nsegs;
        const char *segs; /* kinds and texts: "L:a P:id R:*", "L:" is an empty literal */
    } cases[] = {
        {"/", 0, ""},
        {"/*", 1, "R:*"},
        {"/api/*", 2, "L:api R:*"},
        {"/product/:id", 2, "L:product P:id"},
        {"/product/:id/*", 3, "L:product P:id R:*"},
        {"/docs/", 2, "L:docs L:"},
        {"/a:b/c.json", 2, "L:a:b L:c.json"},
        {"/u/:user_1/p/:Post9", 4, "L:u P:user_1 L:p P:Post9"},
        {"/%41/~x", 2, "L:%41 L:~x"},
        {"/:a/:b/:c/:d/:e/:f/:g/:h", 8, "P:a P:b P:c P:d P:e P:f P:g P:h"},
        {"/:a/:b/:c/:d/:e/:f/:g/*", 8, "P:a P:b P:c P:d P:e P:f P:g R:*"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct cfg_route r;
        memset(&r, 0, sizeof(r));
        const char *why = NULL;
        int rc = route_compile(cases[i].pattern, &r, &why);
        CHECK_MSG(rc == 0, "\"%s\": %s", cases[i].pattern, why ? why : "");
        if (rc != 0)
            continue;
        CHECK_MSG(r.nsegs == cases[i].nsegs, "\"%s\": %zu segments", cases[i].pattern, r.nsegs);
        char got[256] = "";
        size_t o = 0;
        for (size_t s = 0; s < r.nsegs && o < sizeof(got); s++) {
            const struct cfg_seg *g = &r.segs[s];
            char kind = g->kind == CFG_SEG_LITERAL ? 'L' : g->kind == CFG_SEG_PARAM ? 'P' : 'R';
            o += (size_t)snprintf(got + o, sizeof(got) - o, "%s%c:%.*s", s ? " " : "", kind,
                                  (int)g->len, g->kind == CFG_SEG_REST ? "*" : g->text);
            /* segment texts are NUL-terminated too */
            if (g->kind != CFG_SEG_REST)
                CHECK(g->text[g->len] == '\0');
        }
        CHECK_MSG(strcmp(got, cases[i].segs) == 0, "\"%s\": %s", cases[i].pattern, got);
        free(r.segs);
    }
}

struct param_want {
    const char *name, *value;
};

struct match_case {
    const char *path;
    int route;                   /* index in the table's patterns, -1: no match */
    struct param_want params[3]; /* up to the first NULL name */
};

static void run_matches(const char *const *patterns, size_t npatterns,
                        const struct match_case *cases, size_t ncases)
{
    struct cfg c;
    memset(&c, 0, sizeof(c));
    c.routes = xcalloc(npatterns, sizeof(*c.routes));
    c.nroutes = npatterns;
    for (size_t i = 0; i < npatterns; i++) {
        const char *why = NULL;
        CHECK_MSG(route_compile(patterns[i], &c.routes[i], &why) == 0, "%s: %s", patterns[i], why);
    }
    for (size_t i = 0; i < ncases; i++) {
        const struct match_case *k = &cases[i];
        struct route_match m;
        memset(&m, 0xa5, sizeof(m));
        size_t len = strlen(k->path);
        int rc = route_find(&c, k->path, len, &m);
        if (k->route < 0) {
            CHECK_MSG(rc == -1, "\"%s\" matched %s", k->path,
                      rc == 0 ? patterns[m.route - c.routes] : "");
            continue;
        }
        CHECK_MSG(rc == 0, "\"%s\" did not match", k->path);
        if (rc != 0)
            continue;
        CHECK_MSG(m.route == &c.routes[k->route], "\"%s\": matched %s, want %s", k->path,
                  patterns[m.route - c.routes], patterns[k->route]);
        size_t want = 0;
        while (want < 3 && k->params[want].name != NULL)
            want++;
        CHECK_MSG(m.nparams == want, "\"%s\": %zu params", k->path, m.nparams);
        for (size_t p = 0; p < want && p < m.nparams; p++) {
            CHECK_STRN(m.params[p].name, m.params[p].name_len, k->params[p].name);
            CHECK_STRN(m.params[p].value, m.params[p].value_len, k->params[p].value);
            /* values point into the caller's path */
            CHECK(m.params[p].value >= k->path && m.params[p].value <= k->path + len);
        }
    }
    for (size_t i = 0; i < npatterns; i++)
        free(c.routes[i].segs);
    free(c.routes);
}

static void test_find(void)
{
    static const char *const patterns[] = {
        "/",                    /* 0 */
        "/product/:id",         /* 1 */
        "/product/:id/reviews", /* 2 */
        "/api/*",               /* 3 */
        "/docs/",               /* 4 */
        "/u/:user/p/:post",     /* 5 */
        "/static/*",            /* 6 */
        "/a/*",                 /* 7: before "/a/:id", so it wins */
        "/a/:id",               /* 8: never reached */
        "/files/:name/*",       /* 9 */
    };
    static const struct match_case cases[] = {
        {"/", 0, {{NULL, NULL}}},
        {"/product/42", 1, {{"id", "42"}}},
        {"/product/42/reviews", 2, {{"id", "42"}}},
        {"/product/", -1, {{NULL, NULL}}}, /* a parameter is never empty */
        {"/product", -1, {{NULL, NULL}}},
        {"/product/42/", -1, {{NULL, NULL}}}, /* trailing slash is significant */
        {"/product/42/reviews/x", -1, {{NULL, NULL}}},
        {"/products/42", -1, {{NULL, NULL}}},
        {"/api", 3, {{"*", ""}}}, /* the bare prefix, see route.c */
        {"/api/", 3, {{"*", ""}}},
        {"/api/x", 3, {{"*", "x"}}},
        {"/api/x/y/", 3, {{"*", "x/y/"}}},
        {"/api//x", 3, {{"*", "/x"}}},
        {"/apix", -1, {{NULL, NULL}}},  /* segments compare whole */
        {"/API/x", -1, {{NULL, NULL}}}, /* case-sensitive */
        {"/docs/", 4, {{NULL, NULL}}},
        {"/docs", -1, {{NULL, NULL}}},
        {"/docs/x", -1, {{NULL, NULL}}},
        {"/u/ann/p/7", 5, {{"user", "ann"}, {"post", "7"}}},
        {"/u/ann/p/", -1, {{NULL, NULL}}},
        {"/u//p/7", -1, {{NULL, NULL}}},
        {"/static/css/site.css", 6, {{"*", "css/site.css"}}},
        {"/a/b", 7, {{"*", "b"}}},
        {"/files/x.tar/part/2", 9, {{"name", "x.tar"}, {"*", "part/2"}}},
        {"/files/x.tar", 9, {{"name", "x.tar"}, {"*", ""}}},
        {"/nothing", -1, {{NULL, NULL}}},
        {"//", -1, {{NULL, NULL}}},
        {"", -1, {{NULL, NULL}}},
        {"api/x", -1, {{NULL, NULL}}}, /* not a path */
    };
    run_matches(patterns, ARRAY_SIZE(patterns), cases, ARRAY_SIZE(cases));

    /* a catch-all last takes whatever the others leave */
    static const char *const with_catch_all[] = {"/", "/api/*", "/*"};
    static const struct match_case cases2[] = {
        {"/", 0, {{NULL, NULL}}},
        {"/api/v1", 1, {{"*", "v1"}}},
        {"/nothing", 2, {{"*", "nothing"}}},
        {"/x/y/z", 2, {{"*", "x/y/z"}}},
        {"//", 2, {{"*", "/"}}},
        {"/apix", 2, {{"*", "apix"}}},
    };
    run_matches(with_catch_all, ARRAY_SIZE(with_catch_all), cases2, ARRAY_SIZE(cases2));
}

static void test_find_len(void)
{
    /* Only path[0..len) is matched: the caller strips the query without copying. */
    static const char *const patterns[] = {"/product/:id"};
    struct cfg c;
    memset(&c, 0, sizeof(c));
    struct cfg_route r;
    memset(&r, 0, sizeof(r));
    CHECK_INT(route_compile(patterns[0], &r, NULL), 0);
    c.routes = &r;
    c.nroutes = 1;
    const char *target = "/product/42?lang=en";
    struct route_match m;
    CHECK_INT(route_find(&c, target, 11, &m), 0);
    CHECK_INT(m.nparams, 1);
    CHECK_STRN(m.params[0].value, m.params[0].value_len, "42");
    CHECK(m.params[0].value == target + 9);
    CHECK_INT(route_find(&c, target, strlen(target), &m), 0); /* "42?lang=en" is one segment */
    CHECK_INT(route_find(&c, target, 9, &m), -1);             /* "/product/" */
    CHECK_INT(route_find(&c, target, 0, &m), -1);
    CHECK(m.route == NULL);
    /* no routes at all, and no generation */
    c.nroutes = 0;
    CHECK_INT(route_find(&c, "/", 1, &m), -1);
    CHECK_INT(route_find(NULL, "/", 1, &m), -1);
    free(r.segs);
}

int main(void)
{
    test_compile_errors();
    test_compile_segments();
    test_find();
    test_find_len();
    return check_report("test_route");
}
