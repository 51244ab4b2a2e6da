/* SPDX-License-Identifier: Apache-2.0
 *
 * rcrules: bypass conditions and cookie stripping for cached routes (rcrules.h).
 * Cookie pairs are split on ';' as RFC 6265 4.2.1 writes them ("a=1; b=2"); an
 * HTTP/2 client may send one Cookie field per pair (RFC 9113 8.2.3), so every
 * Cookie field line is looked at.
 */
#include "rcrules.h"

#include <string.h>
#include <strings.h>

#include "cfg.h"
#include "h1.h"
#include "util.h"

int rcr_list_match(const struct cfg_strlist *l, const char *name, size_t len, int icase)
{
    for (size_t i = 0; i < l->n; i++) {
        const char *e = l->items[i];
        size_t el = strlen(e);
        int wild = el > 0 && e[el - 1] == '*';
        size_t cmp = wild ? el - 1 : el;
        if (wild ? len < cmp : len != cmp)
            continue;
        if (icase ? strncasecmp(name, e, cmp) == 0 : memcmp(name, e, cmp) == 0)
            return 1;
    }
    return 0;
}

/* Calls each cookie pair of v[0..n): name and the whole pair, trimmed. */
struct cookie_it {
    const char *p, *end;
};

static int cookie_next(struct cookie_it *it, const char **name, size_t *nlen, const char **pair,
                       size_t *plen)
{
    while (it->p < it->end) {
        const char *s = it->p;
        const char *semi = memchr(s, ';', (size_t)(it->end - s));
        const char *e = semi ? semi : it->end;
        it->p = semi ? semi + 1 : it->end;
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (s == e)
            continue;
        const char *eq = memchr(s, '=', (size_t)(e - s));
        const char *ne = eq ? eq : e;
        while (ne > s && (ne[-1] == ' ' || ne[-1] == '\t'))
            ne--;
        *name = s;
        *nlen = (size_t)(ne - s);
        *pair = s;
        *plen = (size_t)(e - s);
        return 1;
    }
    return 0;
}

static int has_cookie(const struct cfg_strlist *l, const struct h1_msg *m)
{
    for (size_t i = 0; i < m->num_headers; i++) {
        const struct h1_header *h = &m->headers[i];
        if (!util_ieq(h->name, h->name_len, "cookie"))
            continue;
        struct cookie_it it = {h->value, h->value + h->value_len};
        const char *name, *pair;
        size_t nlen, plen;
        while (cookie_next(&it, &name, &nlen, &pair, &plen))
            if (rcr_list_match(l, name, nlen, 0))
                return 1;
    }
    return 0;
}

static int has_param(const struct cfg_strlist *l, const char *q, size_t n)
{
    const char *p = q, *end = q + n;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *e = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(e - p));
        size_t nlen = (size_t)((eq ? eq : e) - p);
        if (nlen > 0 && rcr_list_match(l, p, nlen, 0))
            return 1;
        p = amp ? amp + 1 : end;
    }
    return 0;
}

const char *rcr_bypass(const struct cfg_route_cache *rules, const struct h1_msg *m,
                       const char *query, size_t qlen)
{
    if (rules->bypass_headers.n > 0)
        for (size_t i = 0; i < m->num_headers; i++)
            if (rcr_list_match(&rules->bypass_headers, m->headers[i].name, m->headers[i].name_len,
                               1))
                return "header";
    if (rules->bypass_cookies.n > 0 && has_cookie(&rules->bypass_cookies, m))
        return "cookie";
    if (rules->bypass_query.n > 0 && query != NULL && has_param(&rules->bypass_query, query, qlen))
        return "query";
    return NULL;
}

size_t rcr_strip_cookies(const struct cfg_strlist *strip, const char *v, size_t n, char *out,
                         size_t cap)
{
    struct cookie_it it = {v, v + n};
    const char *name, *pair;
    size_t nlen, plen, len = 0;
    while (cookie_next(&it, &name, &nlen, &pair, &plen)) {
        if (rcr_list_match(strip, name, nlen, 0))
            continue;
        size_t need = plen + (len > 0 ? 2 : 0);
        if (len + need > cap)
            return (size_t)-1;
        if (len > 0) {
            memcpy(out + len, "; ", 2);
            len += 2;
        }
        memcpy(out + len, pair, plen);
        len += plen;
    }
    return len;
}
