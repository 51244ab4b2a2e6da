/* SPDX-License-Identifier: Apache-2.0
 *
 * route: compiles route patterns into segments (at config load, on the main thread)
 * and matches request paths against them (on the workers, read-only, no allocation).
 *
 * Ownership: route_compile allocates one block per route: the segment array followed
 * by a private copy of the pattern in which every '/' is replaced by NUL, so each
 * segment's text is NUL-terminated. free(r->segs) releases everything; r->path is not
 * touched (cfg.c owns it). Captured parameters point into the caller's path.
 *
 * Segment rules (pinned by tests/unit/test_route.c):
 *   - a pattern starts with '/'; "/" alone has no segments and matches only "/";
 *   - "//" (an empty segment) is an error, except one trailing '/', which is a
 *     significant empty last segment: "/docs/" matches "/docs/" but not "/docs";
 *   - ":name" matches one non-empty segment; name is [A-Za-z0-9_]+, unique;
 *   - "*" is a whole segment and the last one; it matches the rest of the path,
 *     possibly empty, and is captured under the name "*". So the pattern
 *     "/api" + "/" + "*" matches "/api/", "/api/x/y" and also "/api" (rest empty): a
 *     request for the bare prefix goes to the same route as its children rather than
 *     falling through to a later catch-all. It never matches "/apix" (segments
 *     compare whole).
 *   - literals compare byte for byte: no case folding and no percent-decoding, which
 *     is the caller's job before routing.
 */
#include "route.h"

#include "cfg.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

static int is_name_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_';
}

/* Validates one segment [s, s+n) of a pattern; `last` is set for the final one.
 * Returns its kind, or -1 with *why set. */
static int classify(const char *s, size_t n, int last, const char **why)
{
    if (n == 0) {
        if (last)
            return CFG_SEG_LITERAL; /* trailing '/' */
        *why = "empty segment \"//\"";
        return -1;
    }
    if (n == 1 && s[0] == '*') {
        if (!last) {
            *why = "'*' must be the last segment";
            return -1;
        }
        return CFG_SEG_REST;
    }
    if (memchr(s, '*', n) != NULL) {
        *why = "'*' must be a whole segment, as in \"/static/*\"";
        return -1;
    }
    if (s[0] == ':') {
        if (n == 1) {
            *why = "':' must be followed by a parameter name";
            return -1;
        }
        for (size_t i = 1; i < n; i++) {
            if (!is_name_char(s[i])) {
                *why = "parameter names may only contain letters, digits and '_'";
                return -1;
            }
        }
        return CFG_SEG_PARAM;
    }
    return CFG_SEG_LITERAL;
}

int route_compile(const char *pattern, struct cfg_route *r, const char **why)
{
    const char *unused;
    if (why == NULL)
        why = &unused;
    if (pattern == NULL || pattern[0] != '/') {
        *why = "a pattern must start with '/'";
        return -1;
    }
    size_t plen = strlen(pattern);
    for (size_t i = 0; i < plen; i++) {
        unsigned char ch = (unsigned char)pattern[i];
        if (ch <= 0x20 || ch == 0x7f) {
            *why = "spaces and control characters are not allowed (percent-encode them)";
            return -1;
        }
        if (ch == '?' || ch == '#') {
            *why = "'?' and '#' are not allowed: routes match the path only";
            return -1;
        }
    }

    /* Pass 1: count and validate. The text after the leading '/' is split on '/';
     * "/" alone yields no segment. */
    const char *body = pattern + 1;
    size_t blen = plen - 1;
    size_t nsegs = 0, nparams = 0;
    if (blen > 0) {
        const char *s = body, *end = body + blen;
        for (;;) {
            const char *slash = memchr(s, '/', (size_t)(end - s));
            const char *e = slash ? slash : end;
            int kind = classify(s, (size_t)(e - s), slash == NULL, why);
            if (kind < 0)
                return -1;
            if (kind == CFG_SEG_PARAM || kind == CFG_SEG_REST)
                nparams++;
            nsegs++;
            if (slash == NULL)
                break;
            s = slash + 1;
        }
    }
    if (nparams > ROUTE_MAX_PARAMS) {
        *why = "too many parameters (at most 8, counting '*')";
        return -1;
    }

    /* Pass 2: one block, segments then the NUL-separated copy of the text. */
    struct cfg_seg *segs = xmalloc(nsegs * sizeof(*segs) + blen + 1);
    char *text = (char *)(segs + nsegs);
    memcpy(text, body, blen);
    text[blen] = '\0';
    size_t i = 0;
    if (blen > 0) {
        char *s = text, *end = text + blen;
        for (;;) {
            char *slash = memchr(s, '/', (size_t)(end - s));
            char *e = slash ? slash : end;
            *e = '\0';
            struct cfg_seg *g = &segs[i++];
            g->kind = (enum cfg_seg_kind)classify(s, (size_t)(e - s), slash == NULL, why);
            g->text = g->kind == CFG_SEG_PARAM ? s + 1 : s;
            g->len = (size_t)(e - g->text);
            if (slash == NULL)
                break;
            s = slash + 1;
        }
    }

    /* Duplicate parameter names would make the second capture unreachable by name. */
    for (size_t a = 0; a < nsegs; a++) {
        if (segs[a].kind != CFG_SEG_PARAM)
            continue;
        for (size_t b = a + 1; b < nsegs; b++) {
            if (segs[b].kind == CFG_SEG_PARAM && segs[b].len == segs[a].len &&
                memcmp(segs[a].text, segs[b].text, segs[a].len) == 0) {
                free(segs);
                *why = "duplicate parameter name";
                return -1;
            }
        }
    }

    r->segs = segs;
    r->nsegs = nsegs;
    return 0;
}

/* Matches one route. The path is consumed segment by segment: `p` is the start of
 * the next segment and `more` says whether one exists ("/" has none; "/a/" has "a"
 * then an empty one). */
static int match_route(const struct cfg_route *r, const char *path, size_t len,
                       struct route_match *m)
{
    const char *p = path + 1, *end = path + len;
    int more = len > 1;
    m->nparams = 0;
    for (size_t i = 0; i < r->nsegs; i++) {
        const struct cfg_seg *g = &r->segs[i];
        if (g->kind == CFG_SEG_REST) {
            struct route_param *pr = &m->params[m->nparams++];
            pr->name = "*";
            pr->name_len = 1;
            pr->value = more ? p : end;
            pr->value_len = more ? (size_t)(end - p) : 0;
            m->route = r;
            return 0;
        }
        if (!more)
            return -1;
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *e = slash ? slash : end;
        size_t n = (size_t)(e - p);
        if (g->kind == CFG_SEG_LITERAL) {
            if (n != g->len || memcmp(p, g->text, n) != 0)
                return -1;
        } else {
            if (n == 0)
                return -1;
            struct route_param *pr = &m->params[m->nparams++];
            pr->name = g->text;
            pr->name_len = g->len;
            pr->value = p;
            pr->value_len = n;
        }
        if (slash != NULL) {
            p = slash + 1;
        } else {
            p = end;
            more = 0;
        }
    }
    if (more)
        return -1;
    m->route = r;
    return 0;
}

int route_find(const struct cfg *c, const char *path, size_t len, struct route_match *m)
{
    if (c == NULL || path == NULL || len == 0 || path[0] != '/')
        return -1;
    for (size_t i = 0; i < c->nroutes; i++) {
        if (match_route(&c->routes[i], path, len, m) == 0)
            return 0;
    }
    m->route = NULL;
    m->nparams = 0;
    return -1;
}
