/* SPDX-License-Identifier: Apache-2.0
 *
 * hookrun_res: on_response and on_log (hookrun.h). on_response gets res =
 * { status, headers, ttl, tags, cacheable, vars } and changes the response by
 * assigning to res.headers.NAME (nil removes; framing fields stay as they are),
 * res.ttl, res.tags (joined to Surrogate-Key) and res.cacheable; on_log gets the
 * log entry and returns a table of fields to add to the line.
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

/* ---- on_response ---------------------------------------------------------------- */

static int framing_field(const char *n, size_t nl)
{
    return util_ieq(n, nl, "content-length") || util_ieq(n, nl, "transfer-encoding") ||
           util_ieq(n, nl, "connection");
}

/* Writes the head: m's fields as the script left them (in m's order; a field it
 * did not change keeps its lines as they were), then the fields it added, then
 * the tags. res is at idx; its headers table below it on the stack top. */
static int rebuild(struct req *r, lua_State *L, const struct h1_msg *m, struct evbuffer *b,
                   char *why, size_t whylen)
{
    int hdrs = lua_gettop(L);
    evbuffer_add_printf(b, "HTTP/1.1 %d %.*s\r\n", m->status, (int)m->reason_len, m->reason);
    /* The original values, to tell which fields changed. */
    hookrun__push_headers(L, m);
    int orig = lua_gettop(L);
    for (size_t i = 0; i < m->num_headers; i++) {
        const struct h1_header *hd = &m->headers[i];
        if (framing_field(hd->name, hd->name_len)) {
            evbuffer_add_printf(b, "%.*s: %.*s\r\n", (int)hd->name_len, hd->name,
                                (int)hd->value_len, hd->value);
            continue;
        }
        char name[HOOK_NAME_MAX];
        size_t n = hookrun__lower_name(hd, name);
        lua_pushlstring(L, name, n);
        lua_rawget(L, hdrs);
        lua_pushlstring(L, name, n);
        lua_rawget(L, orig);
        if (lua_type(L, -1) == LUA_TBOOLEAN) {
            /* changed, and written at its first line already */
        } else if (lua_rawequal(L, -1, -2)) {
            evbuffer_add_printf(b, "%.*s: %.*s\r\n", (int)hd->name_len, hd->name,
                                (int)hd->value_len, hd->value);
        } else if (lua_isstring(L, -2)) {
            /* changed: written once, at its first line */
            size_t vl;
            const char *v = lua_tolstring(L, -2, &vl);
            if (!hookrun__clean_text(v, vl)) {
                snprintf(why, whylen, "res.headers[\"%.*s\"]: control characters", (int)n, name);
                return -1;
            }
            evbuffer_add_printf(b, "%.*s: %.*s\r\n", (int)hd->name_len, hd->name, (int)vl, v);
            lua_pushlstring(L, name, n);
            lua_pushboolean(L, 1);
            lua_rawset(L, orig); /* mark: its other lines are not written */
        }
        lua_pop(L, 2);
    }
    /* Added fields: in headers but not in the original. */
    lua_pushnil(L);
    while (lua_next(L, hdrs) != 0) {
        size_t nl, vl;
        const char *n = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &nl) : NULL;
        lua_pushvalue(L, -2);
        lua_rawget(L, orig);
        int known = !lua_isnil(L, -1);
        lua_pop(L, 1);
        if (!known) {
            const char *v = lua_isstring(L, -1) ? lua_tolstring(L, -1, &vl) : NULL;
            if (n == NULL || v == NULL || !hookrun__is_token(n, nl) ||
                !hookrun__clean_text(v, vl) || framing_field(n, nl)) {
                snprintf(why, whylen, "res.headers: invalid or reserved field %.64s",
                         n ? n : "(not a string)");
                return -1;
            }
            evbuffer_add_printf(b, "%.*s: %.*s\r\n", (int)nl, n, (int)vl, v);
        }
        lua_pop(L, 1);
    }
    lua_settop(L, hdrs);
    return 0;
}

const struct h1_msg *hookrun_response(struct req *r, const struct h1_msg *m)
{
    if (!hookrun__has(r, HOOK_RESPONSE))
        return m;
    struct hookreq *h = r->hk;
    lua_State *L = hook_vm_state(h->vm);
    int top = lua_gettop(L);
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, m->status);
    lua_setfield(L, -2, "status");
    hookrun__push_headers(L, m);
    lua_setfield(L, -2, "headers");
    lua_newtable(L);
    lua_setfield(L, -2, "tags");
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "cacheable");
    hookrun__push_vars(r, L);
    int res = lua_gettop(L);
    lua_pushvalue(L, res);
    int fail = 0;
    if (hookrun__call(r, HOOK_RESPONSE, 1, &fail) < 0) {
        lua_settop(L, top);
        return fail ? NULL : m;
    }
    lua_pop(L, 1);
    char why[300] = "";
    lua_getfield(L, res, "ttl");
    if (lua_isnumber(L, -1)) {
        lua_Number t = lua_tonumber(L, -1);
        if (t >= 0 && t < 1e10)
            h->ttl = (int64_t)t;
        else
            snprintf(why, sizeof(why), "res.ttl: expected seconds >= 0");
    }
    lua_pop(L, 1);
    lua_getfield(L, res, "cacheable");
    if (lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1))
        h->no_store = 1;
    lua_pop(L, 1);
    /* Tags join Surrogate-Key. */
    lua_getfield(L, res, "headers");
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        lua_newtable(L);
    }
    int hdrs = lua_gettop(L);
    lua_getfield(L, res, "tags");
    int ntags = lua_istable(L, -1) ? (int)lua_objlen(L, -1) : 0;
    if (ntags > 0) {
        lua_getfield(L, hdrs, "surrogate-key");
        int parts = lua_isstring(L, -1) ? 1 : 0;
        if (!parts)
            lua_pop(L, 1);
        for (int i = 1; i <= ntags; i++) {
            lua_rawgeti(L, -1 - parts, i);
            size_t tl;
            const char *t = lua_isstring(L, -1) ? lua_tolstring(L, -1, &tl) : NULL;
            if (t == NULL || !hookrun__is_token(t, tl)) {
                snprintf(why, sizeof(why), "res.tags[%d]: not a tag", i);
                lua_pop(L, 1);
                break;
            }
            if (parts > 0) {
                lua_pushliteral(L, " ");
                lua_insert(L, -2);
                lua_concat(L, 3);
            } else {
                parts = 1;
            }
        }
        if (parts)
            lua_setfield(L, hdrs, "surrogate-key");
    }
    lua_settop(L, hdrs);
    if (why[0] == '\0') {
        if (h->head == NULL)
            h->head = evbuffer_new();
        evbuffer_drain(h->head, evbuffer_get_length(h->head));
        if (rebuild(r, L, m, h->head, why, sizeof(why)) == 0)
            evbuffer_add(h->head, "\r\n", 2);
    }
    lua_settop(L, top);
    if (why[0] != '\0')
        return hookrun__failed(r, HOOK_RESPONSE, why) < 0 ? NULL : m;
    size_t hl = evbuffer_get_length(h->head);
    if (h->msg == NULL)
        h->msg = xmalloc(sizeof(*h->msg));
    struct h1_limits lim = {HOOK_HEAD_MAX, HOOK_HEAD_MAX, H1_MAX_HEADERS_CAP};
    const char *p = (const char *)evbuffer_pullup(h->head, -1);
    if (hl > HOOK_HEAD_MAX || h1_parse_response(p, hl, &lim, r->head_method, h->msg) != H1_OK)
        return hookrun__failed(r, HOOK_RESPONSE, "the head it left is invalid") < 0 ? NULL : m;
    h->msg->head_len = m->head_len; /* what the caller drains is the origin's */
    return h->msg;
}

int64_t hookrun_ttl(const struct req *r)
{
    return r->hk != NULL ? r->hk->ttl : -1;
}

int hookrun_no_store(const struct req *r)
{
    return r->hk != NULL && r->hk->no_store;
}

/* ---- on_log ---------------------------------------------------------------------- */

static void add_field(struct evbuffer *b, int json, const char *k, size_t kl, const char *v,
                      size_t vl, int quote)
{
    evbuffer_add_printf(b, json ? ",\"" : " ");
    for (size_t i = 0; i < kl; i++)
        if (hookrun__is_token(k + i, 1))
            evbuffer_add(b, k + i, 1);
    evbuffer_add_printf(b, json ? "\":" : "=");
    if (quote)
        evbuffer_add(b, "\"", 1);
    for (size_t i = 0; i < vl; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '"' || c == '\\' || c < 0x20 || c == 0x7f)
            evbuffer_add_printf(b, json ? "\\u%04x" : "\\x%02X", c);
        else
            evbuffer_add(b, v + i, 1);
    }
    if (quote)
        evbuffer_add(b, "\"", 1);
}

const char *hookrun_log_fields(struct req *r, int json)
{
    if (!hookrun__has(r, HOOK_LOG))
        return NULL;
    struct hookreq *h = r->hk;
    lua_State *L = hook_vm_state(h->vm);
    int top = lua_gettop(L);
    lua_createtable(L, 0, 8);
    hookrun__set_str(L, "method", r->method, strlen(r->method));
    hookrun__set_str(L, "path", r->target ? r->target : "", r->target ? r->target_len : 0);
    lua_pushinteger(L, r->status);
    lua_setfield(L, -2, "status");
    lua_pushnumber(L, (lua_Number)r->bytes_out);
    lua_setfield(L, -2, "bytes");
    lua_pushnumber(L, (lua_Number)(util_now_ms() - r->start_ms) / 1000.0);
    lua_setfield(L, -2, "duration");
    hookrun__set_str(L, "cache", r->cache_status, strlen(r->cache_status));
    hookrun__set_str(L, "client", r->peer, strlen(r->peer));
    if (r->channel != NULL)
        hookrun__set_str(L, "channel", r->channel, strlen(r->channel));
    hookrun__push_vars(r, L);
    int fail = 0;
    if (hookrun__call(r, HOOK_LOG, 1, &fail) < 0 || !lua_istable(L, -1)) {
        lua_settop(L, top);
        return NULL;
    }
    struct evbuffer *b = evbuffer_new();
    lua_pushnil(L);
    while (lua_next(L, -2) != 0 && evbuffer_get_length(b) < HOOK_LOG_MAX) {
        size_t kl, vl;
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &kl) : NULL;
        int t = lua_type(L, -1);
        if (k != NULL && (t == LUA_TSTRING || t == LUA_TNUMBER)) {
            lua_pushvalue(L, -1); /* tolstring would change a number key's type */
            const char *v = lua_tolstring(L, -1, &vl);
            add_field(b, json, k, kl, v, vl, t == LUA_TSTRING || !json);
            lua_pop(L, 1);
        } else if (k != NULL && t == LUA_TBOOLEAN) {
            const char *v = lua_toboolean(L, -1) ? "true" : "false";
            add_field(b, json, k, kl, v, strlen(v), !json);
        }
        lua_pop(L, 1);
    }
    lua_settop(L, top);
    size_t n = evbuffer_get_length(b);
    free(h->log);
    h->log = xmalloc(n + 1);
    evbuffer_remove(b, h->log, n);
    h->log[n] = '\0';
    evbuffer_free(b);
    return h->log;
}
