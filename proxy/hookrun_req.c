/* SPDX-License-Identifier: Apache-2.0
 *
 * hookrun_req: on_request (hookrun.h). The script gets req = { method, path,
 * query_string, query, params, headers, cookies, client, channel, key_parts,
 * vars } and changes the request by assigning to req.channel, req.path,
 * req.params.NAME, req.key_parts and req.vars; returning { status, body,
 * headers } answers the request at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <lauxlib.h>

#include "cfg.h"
#include "h1.h"
#include "hookrun.h"
#include "hookrun_int.h"
#include "log.h"
#include "lua/hook_json.h"
#include "util.h"
#include "worker_int.h"
#include "route.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
        return (c | 0x20) - 'a' + 10;
    return -1;
}

/* Pushes s[0..n) percent-decoded ('+' as a space, as forms send it). */
static void push_decoded(lua_State *L, const char *s, size_t n)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < n && (hi = hexval(s[i + 1])) >= 0 &&
            (lo = hexval(s[i + 2])) >= 0) {
            luaL_addchar(&b, (char)(hi * 16 + lo));
            i += 2;
        } else {
            luaL_addchar(&b, s[i] == '+' ? ' ' : s[i]);
        }
    }
    luaL_pushresult(&b);
}

/* A table of the query's parameters (the first of a repeated name). */
static void push_query(lua_State *L, const char *q, size_t n)
{
    lua_newtable(L);
    const char *p = q, *end = q + n;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *e = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(e - p));
        const char *ne = eq ? eq : e;
        if (ne > p) {
            push_decoded(L, p, (size_t)(ne - p));
            lua_pushvalue(L, -1);
            lua_rawget(L, -3);
            if (lua_isnil(L, -1)) {
                lua_pop(L, 1);
                if (eq)
                    push_decoded(L, eq + 1, (size_t)(e - eq - 1));
                else
                    lua_pushliteral(L, "");
                lua_rawset(L, -3);
            } else {
                lua_pop(L, 2);
            }
        }
        p = amp ? amp + 1 : end;
    }
}

/* Cookies by name from every Cookie field line (the first of a name wins). */
static void push_cookies(lua_State *L, const struct h1_msg *m)
{
    lua_newtable(L);
    for (size_t i = 0; i < m->num_headers; i++) {
        const struct h1_header *hd = &m->headers[i];
        if (!util_ieq(hd->name, hd->name_len, "cookie"))
            continue;
        const char *p = hd->value, *end = hd->value + hd->value_len;
        while (p < end) {
            while (p < end && (*p == ' ' || *p == ';'))
                p++;
            const char *semi = memchr(p, ';', (size_t)(end - p));
            const char *e = semi ? semi : end;
            const char *eq = memchr(p, '=', (size_t)(e - p));
            if (eq != NULL && eq > p) {
                const char *v = eq + 1;
                size_t vl = (size_t)(e - v);
                while (vl > 0 && v[vl - 1] == ' ')
                    vl--;
                if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
                    v++;
                    vl -= 2;
                }
                lua_pushlstring(L, p, (size_t)(eq - p));
                lua_pushvalue(L, -1);
                lua_rawget(L, -3);
                if (lua_isnil(L, -1)) {
                    lua_pop(L, 1);
                    lua_pushlstring(L, v, vl);
                    lua_rawset(L, -3);
                } else {
                    lua_pop(L, 2);
                }
            }
            p = e;
        }
    }
}

/* ---- on_request ---------------------------------------------------------------- */

/* Answers r from the table on top: { status = N, body = "...", headers = {...} }. */
static int answer_direct(struct req *r, lua_State *L, char *why, size_t whylen)
{
    lua_getfield(L, -1, "status");
    lua_Number st = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : 0;
    lua_pop(L, 1);
    if (st < 200 || st > 599 || st != (lua_Number)(int)st) {
        snprintf(why, whylen, "on_request returned a response without a status 200..599");
        return -1;
    }
    size_t blen = 0;
    lua_getfield(L, -1, "body");
    const char *body = lua_isstring(L, -1) ? lua_tolstring(L, -1, &blen) : "";
    struct evbuffer *hb = evbuffer_new();
    evbuffer_add_printf(hb, "HTTP/1.1 %d %s\r\n", (int)st, req__reason((int)st));
    int ctype = 0;
    lua_getfield(L, -2, "headers");
    if (lua_istable(L, -1)) {
        lua_pushnil(L);
        while (lua_next(L, -2) != 0) {
            size_t nl, vl;
            const char *n = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &nl) : NULL;
            const char *v = lua_isstring(L, -1) ? lua_tolstring(L, -1, &vl) : NULL;
            if (n == NULL || v == NULL || !hookrun__is_token(n, nl) ||
                !hookrun__clean_text(v, vl) || util_ieq(n, nl, "content-length") ||
                util_ieq(n, nl, "transfer-encoding") || util_ieq(n, nl, "connection")) {
                snprintf(why, whylen, "on_request returned an invalid or reserved header %s",
                         n ? n : "(not a string)");
                lua_pop(L, 4);
                evbuffer_free(hb);
                return -1;
            }
            ctype |= util_ieq(n, nl, "content-type");
            evbuffer_add_printf(hb, "%.*s: %.*s\r\n", (int)nl, n, (int)vl, v);
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    if (!ctype)
        evbuffer_add_printf(hb, "Content-Type: text/plain; charset=utf-8\r\n");
    evbuffer_add_printf(hb, "Content-Length: %zu\r\n\r\n", blen);
    size_t hl = evbuffer_get_length(hb);
    struct h1_limits lim = {HOOK_HEAD_MAX, HOOK_HEAD_MAX, H1_MAX_HEADERS_CAP};
    struct h1_msg *m = &r->w->page_msg;
    const char *hp = (const char *)evbuffer_pullup(hb, -1);
    if (hl > HOOK_HEAD_MAX || h1_parse_response(hp, hl, &lim, 0, m) != H1_OK) {
        snprintf(why, whylen, "on_request returned a response whose head is invalid");
        lua_pop(L, 1);
        evbuffer_free(hb);
        return -1;
    }
    snprintf(r->cache_status, sizeof(r->cache_status), "tessera; detail=hook");
    r->status = (int)st;
    r->ops->response_head(r, m);
    evbuffer_free(hb);
    if (!r->head_method && blen > 0) {
        struct evbuffer *b = r->w->scratch;
        evbuffer_add(b, body, blen);
        r->ops->response_body(r, b, blen);
    }
    lua_pop(L, 1); /* body */
    r->ops->response_end(r);
    return 0;
}

/* Reads req.channel, req.path, req.params and req.key_parts back (req at idx). */
static int read_request(struct req *r, lua_State *L, int idx, const struct up_target *tg,
                        struct route_match *rm, char *why, size_t whylen)
{
    struct hookreq *h = r->hk;
    lua_getfield(L, idx, "channel");
    if (lua_type(L, -1) == LUA_TSTRING && r->channel != NULL) {
        const char *ch = lua_tostring(L, -1);
        const struct cfg_strlist *names = &r->cfg->channel_names;
        size_t i = 0;
        while (i < names->n && strcmp(names->items[i], ch) != 0)
            i++;
        if (i == names->n) {
            snprintf(why, whylen, "req.channel: no channel called \"%.64s\"", ch);
            lua_pop(L, 1);
            return -1;
        }
        r->channel = names->items[i];
        r->channel_idx = i;
    }
    lua_pop(L, 1);

    lua_getfield(L, idx, "key_parts");
    if (lua_istable(L, -1)) {
        int kt = lua_gettop(L);
        int n = (int)lua_objlen(L, kt);
        size_t total = 0;
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        for (int i = 1; i <= n; i++) {
            lua_rawgeti(L, kt, i);
            size_t pl;
            const char *p = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &pl) : NULL;
            if (p == NULL || (total += pl + 1) > HOOK_KEY_MAX) {
                snprintf(why, whylen, "req.key_parts[%d]: %s", i,
                         p == NULL ? "not a string" : "key parts over 1024 bytes");
                return -1; /* the caller resets the stack */
            }
            luaL_addvalue(&b);
            luaL_addchar(&b, '\x1f');
        }
        luaL_pushresult(&b);
        size_t kl;
        const char *k = lua_tolstring(L, -1, &kl);
        if (kl > 0) {
            h->key = xmalloc(kl);
            memcpy(h->key, k, kl);
            h->key_len = kl;
        }
        lua_settop(L, kt);
    }
    lua_pop(L, 1);

    lua_getfield(L, idx, "params");
    for (size_t i = 0; lua_istable(L, -1) && i < rm->nparams; i++) {
        struct route_param *p = &rm->params[i];
        lua_pushlstring(L, p->name, p->name_len);
        lua_rawget(L, -2);
        size_t vl;
        const char *v = lua_isstring(L, -1) ? lua_tolstring(L, -1, &vl) : NULL;
        if (v != NULL && (vl != p->value_len || memcmp(v, p->value, vl) != 0)) {
            if (vl == 0 || !hookrun__clean_text(v, vl) || memchr(v, '/', vl) ||
                memchr(v, '?', vl) || memchr(v, ' ', vl)) {
                snprintf(why, whylen, "req.params.%.*s: not a path segment", (int)p->name_len,
                         p->name);
                lua_pop(L, 2);
                return -1;
            }
            struct hook_param *hp = &h->params[h->nparams++];
            hp->name = p->name;
            hp->name_len = p->name_len;
            hp->value = xstrndup(v, vl);
            p->value = hp->value;
            p->value_len = vl;
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);

    lua_getfield(L, idx, "vars");
    if (lua_istable(L, -1)) {
        char err[256];
        json_t *v = hook_to_json(L, lua_gettop(L), err, sizeof(err));
        if (v == NULL || !json_is_object(v)) {
            json_decref(v);
            snprintf(why, whylen, "req.vars: %s", v == NULL ? err : "expected a table of names");
            return -1;
        }
        if (json_object_size(v) > 0)
            h->vars = v;
        else
            json_decref(v);
    }
    lua_pop(L, 1);

    lua_getfield(L, idx, "path");
    size_t pl;
    const char *path = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &pl) : NULL;
    const char *q = memchr(tg->uri, '?', tg->uri_len);
    size_t old_pl = q ? (size_t)(q - tg->uri) : tg->uri_len;
    if (path != NULL && (pl != old_pl || memcmp(path, tg->uri, pl) != 0)) {
        if (pl == 0 || path[0] != '/' || !hookrun__clean_text(path, pl) || memchr(path, ' ', pl) ||
            pl > 8192) {
            snprintf(why, whylen, "req.path: expected an absolute path without spaces");
            lua_pop(L, 1);
            return -1;
        }
        /* The new path keeps the query, unless it brings its own. */
        size_t ql = memchr(path, '?', pl) == NULL && q ? tg->uri_len - old_pl : 0;
        h->target = xmalloc(pl + ql + 1);
        memcpy(h->target, path, pl);
        memcpy(h->target + pl, q ? q : "", ql);
        h->target[pl + ql] = '\0';
        h->nparams = 0; /* routed again: params come from the new path */
    }
    lua_pop(L, 1);
    return 0;
}

/* What req's lazy fields are made from, during an on_request call. */
struct lazy {
    const struct h1_msg *m;
    const char *q; /* the query, without '?' */
    size_t qlen;
    const struct route_match *rm;
};

/* __index of req: makes query, params, headers, cookies or key_parts. */
static int lazy_index(lua_State *L)
{
    const struct req *r = hook_ctx(L);
    const struct lazy *lz = r != NULL && r->hk != NULL ? r->hk->lazy : NULL;
    size_t n;
    const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tolstring(L, 2, &n) : NULL;
    if (lz == NULL || k == NULL)
        return 0;
    if (strcmp(k, "query") == 0) {
        push_query(L, lz->q, lz->qlen);
    } else if (strcmp(k, "headers") == 0) {
        hookrun__push_headers(L, lz->m);
    } else if (strcmp(k, "cookies") == 0) {
        push_cookies(L, lz->m);
    } else if (strcmp(k, "key_parts") == 0) {
        lua_newtable(L);
    } else if (strcmp(k, "params") == 0) {
        lua_createtable(L, 0, (int)lz->rm->nparams);
        for (size_t i = 0; i < lz->rm->nparams; i++) {
            lua_pushlstring(L, lz->rm->params[i].name, lz->rm->params[i].name_len);
            lua_pushlstring(L, lz->rm->params[i].value, lz->rm->params[i].value_len);
            lua_rawset(L, -3);
        }
    } else {
        return 0;
    }
    lua_pushvalue(L, 2);
    lua_pushvalue(L, -2);
    lua_rawset(L, 1); /* made once */
    return 1;
}

static const char lazy_mt_key = 0; /* its address keys the metatable in the registry */

/* The metatable of req tables (one per VM, locked against scripts). */
static void push_lazy_mt(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&lazy_mt_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    if (!lua_isnil(L, -1))
        return;
    lua_pop(L, 1);
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, lazy_index);
    lua_setfield(L, -2, "__index");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pushlightuserdata(L, (void *)&lazy_mt_key);
    lua_pushvalue(L, -2);
    lua_rawset(L, LUA_REGISTRYINDEX);
}

int hookrun_request(struct req *r, const struct h1_msg *m, struct up_target *tg,
                    struct route_match *rm)
{
    if (!hookrun__has(r, HOOK_REQUEST))
        return 0;
    struct hookreq *h = r->hk;
    lua_State *L = hook_vm_state(h->vm);
    int top = lua_gettop(L);
    const char *q = memchr(tg->uri, '?', tg->uri_len);
    size_t pl = q ? (size_t)(q - tg->uri) : tg->uri_len;
    lua_createtable(L, 0, 8);
    hookrun__set_str(L, "method", m->method, m->method_len);
    hookrun__set_str(L, "path", tg->uri, pl);
    hookrun__set_str(L, "query_string", q ? q + 1 : "", q ? tg->uri_len - pl - 1 : 0);
    hookrun__set_str(L, "client", r->peer, strlen(r->peer));
    if (r->channel != NULL)
        hookrun__set_str(L, "channel", r->channel, strlen(r->channel));
    /* query, params, headers, cookies and key_parts are made on first use. */
    struct lazy lz = {m, q ? q + 1 : "", q ? tg->uri_len - pl - 1 : 0, rm};
    h->lazy = &lz;
    push_lazy_mt(L);
    lua_setmetatable(L, -2);
    int req_idx = lua_gettop(L);
    lua_pushvalue(L, req_idx);
    int fail = 0;
    char why[512] = "";
    int called = hookrun__call(r, HOOK_REQUEST, 1, &fail);
    h->lazy = NULL;
    lua_pushnil(L); /* the table may outlive the call: m and rm do not */
    lua_setmetatable(L, req_idx);
    if (called < 0) {
        lua_settop(L, top);
        if (fail) {
            r->ops->respond(r, 500, "", "the route's request hook failed", 0);
            return 1;
        }
        return 0;
    }
    int rc = 0;
    if (lua_istable(L, -1)) {
        rc = answer_direct(r, L, why, sizeof(why)) == 0 ? 1 : -1;
    } else {
        lua_pop(L, 1);
        rc = read_request(r, L, req_idx, tg, rm, why, sizeof(why));
    }
    lua_settop(L, top);
    if (rc < 0) {
        if (hookrun__failed(r, HOOK_REQUEST, why) == 0)
            return 0;
        r->ops->respond(r, 500, "", "the route's request hook failed", 0);
        return 1;
    }
    if (rc == 1)
        return 1;
    if (h->target != NULL) {
        tg->uri = h->target;
        tg->uri_len = strlen(h->target);
        const char *nq = memchr(tg->uri, '?', tg->uri_len);
        struct route_match nrm;
        if (route_find(r->cfg, tg->uri, nq ? (size_t)(nq - tg->uri) : tg->uri_len, &nrm) < 0 ||
            (nrm.route->origin == NULL && nrm.route->template == NULL)) {
            r->ops->respond(r, 404, "", "no route for the rewritten path", 0);
            return 1;
        }
        *rm = nrm;
    }
    return 0;
}

void hookrun_params(const struct req *r, struct route_match *rm)
{
    const struct hookreq *h = r->hk;
    for (size_t i = 0; h != NULL && i < h->nparams; i++)
        for (size_t k = 0; k < rm->nparams; k++)
            if (rm->params[k].name_len == h->params[i].name_len &&
                memcmp(rm->params[k].name, h->params[i].name, h->params[i].name_len) == 0) {
                rm->params[k].value = h->params[i].value;
                rm->params[k].value_len = strlen(h->params[i].value);
            }
}

const char *hookrun_key_part(const struct req *r, size_t *len)
{
    if (r->hk == NULL || r->hk->key == NULL) {
        *len = 0;
        return NULL;
    }
    *len = r->hk->key_len;
    return r->hk->key;
}
