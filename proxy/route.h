/* SPDX-License-Identifier: Apache-2.0
 *
 * route: matches a request path against the routes of a configuration generation.
 * Patterns are split into segments at load time (cfg.c); matching walks them with
 * no allocation. Captured parameters point into the caller's path.
 * Thread: any; read-only on the generation.
 */
#ifndef TESSERA_ROUTE_H
#define TESSERA_ROUTE_H

#include <stddef.h>

struct cfg;
struct cfg_route;

#define ROUTE_MAX_PARAMS 8

struct route_param {
    const char *name; /* from the pattern, without ':'; "*" for the rest */
    size_t name_len;
    const char *value; /* points into the matched path */
    size_t value_len;
};

struct route_match {
    const struct cfg_route *route;
    struct route_param params[ROUTE_MAX_PARAMS];
    size_t nparams;
};

/* Finds the first route whose pattern matches path[0..len) (the path only: the
 * caller strips the query). Returns 0 and fills *m, or -1 when nothing matches.
 * A ":name" segment matches one non-empty segment; "*" (last segment only)
 * matches the rest of the path, possibly empty; literals compare exactly. */
int route_find(const struct cfg *c, const char *path, size_t len, struct route_match *m);

/* Splits a pattern into segments for cfg.c. Returns 0, or -1 with *why set to a
 * static message (e.g. "'*' must be the last segment"). Allocates segs with xmalloc. */
int route_compile(const char *pattern, struct cfg_route *r, const char **why);

#endif
