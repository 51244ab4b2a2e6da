/* SPDX-License-Identifier: Apache-2.0
 *
 * rcrules: a route's request-side cache rules (routes[i].cache in the config):
 * which requests bypass the cache (a named cookie, header field or query
 * parameter), and which cookies are stripped before the key is built and the
 * request forwarded. Names in the lists may end in '*', a prefix wildcard.
 * Pure functions over a parsed head: no allocation, no I/O. Thread: any.
 */
#ifndef TESSERA_RCRULES_H
#define TESSERA_RCRULES_H

#include <stddef.h>

struct cfg_strlist;
struct cfg_route_cache;
struct h1_msg;

/* 1 when name[0..len) matches an entry of l (exact, or the prefix of an entry
 * ending in '*'). Case-sensitive unless `icase`. */
int rcr_list_match(const struct cfg_strlist *l, const char *name, size_t len, int icase);

/* What makes the request skip the cache: "cookie", "header", "query", or NULL
 * when it may use it. query[0..qlen) is the raw query without '?'. */
const char *rcr_bypass(const struct cfg_route_cache *rules, const struct h1_msg *m,
                       const char *query, size_t qlen);

/* Writes the Cookie value v[0..n) without the cookies `strip` names into
 * out[0..cap), pairs joined by "; ". Returns the length written (0 when nothing
 * is left), or (size_t)-1 when it does not fit. */
size_t rcr_strip_cookies(const struct cfg_strlist *strip, const char *v, size_t n, char *out,
                         size_t cap);

#endif
