/* SPDX-License-Identifier: Apache-2.0
 *
 * hook_json: JSON <-> Lua (hook_json.h) and the sandbox's `cjson` table.
 *
 * Why not Debian's lua-cjson (2.1.0): its .so links no liblua (it would bind to
 * LuaJIT's symbols, fine), but it allocates its buffers with malloc, outside the
 * state's allocator, so a script could build gigabytes past the memory cap
 * (cjson.encode of a table that holds a large string many times); it runs in C
 * without the count hook, so the budget does not hold either (a table of tables
 * shared 2^30 ways encodes for minutes); and it knows no array marker, so an empty
 * array from hook_push_json would come back as {}. This one is jansson with bounds:
 * encode counts nodes against the budget and estimated bytes against the memory
 * left, decode takes at most 1/64 of the cap (jansson's tree costs up to ~30 times
 * the text, outside the cap) and charges its length.
 *
 * jansson values held across a call that may raise (a push) sit in a "guard"
 * userdata whose __gc releases them, so a Lua error never leaks them.
 */
#include "hook_json.h"

#include "hooks_int.h"
#include "sandbox.h"

#include <lauxlib.h>

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define NODE_COST 64                      /* C bytes of one json_t, roughly */
#define NO_SANDBOX_MAX ((size_t)64 << 20) /* hook_to_json on a plain state */
#define DECODE_MIN ((size_t)64 << 10)     /* cjson.decode always takes this much */
#define MAX_SAFE_INT 9007199254740992.0   /* 2^53: integers exact in a double */
#define ENCODE_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS | JSON_REAL_PRECISION(15))

/* Their addresses are the registry keys, and cjson.empty_array. */
static const char array_mt_key = 0;
static const char guard_mt_key = 0;
static const char empty_array_key = 0;

/* ---- JSON -> Lua ---------------------------------------------------------------- */

/* Pushes the array metatable, creating it on first use: hidden from scripts
 * (__metatable = false), so they can neither change nor reuse it. */
static void push_array_mt(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&array_mt_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    if (lua_type(L, -1) == LUA_TTABLE)
        return;
    lua_pop(L, 1);
    lua_createtable(L, 0, 1);
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pushlightuserdata(L, (void *)&array_mt_key);
    lua_pushvalue(L, -2);
    lua_rawset(L, LUA_REGISTRYINDEX);
}

static void push_json(lua_State *L, const json_t *v, int mt)
{
    luaL_checkstack(L, 3, "JSON nested too deep");
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        lua_createtable(L, 0, (int)json_object_size(v));
        for (void *it = json_object_iter((json_t *)v); it != NULL;
             it = json_object_iter_next((json_t *)v, it)) {
            lua_pushlstring(L, json_object_iter_key(it), json_object_iter_key_len(it));
            push_json(L, json_object_iter_value(it), mt);
            lua_rawset(L, -3);
        }
        break;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        lua_createtable(L, n < INT32_MAX ? (int)n : 0, 0);
        for (size_t i = 0; i < n; i++) {
            push_json(L, json_array_get(v, i), mt);
            lua_rawseti(L, -2, (int)(i + 1));
        }
        lua_pushvalue(L, mt);
        lua_setmetatable(L, -2);
        break;
    }
    case JSON_STRING: lua_pushlstring(L, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: lua_pushnumber(L, (lua_Number)json_integer_value(v)); break;
    case JSON_REAL: lua_pushnumber(L, json_real_value(v)); break;
    case JSON_TRUE: lua_pushboolean(L, 1); break;
    case JSON_FALSE: lua_pushboolean(L, 0); break;
    case JSON_NULL: lua_pushlightuserdata(L, NULL); break;
    }
}

void hook_push_json(lua_State *L, const json_t *v)
{
    if (v == NULL) {
        lua_pushnil(L);
        return;
    }
    push_array_mt(L);
    int mt = lua_gettop(L);
    push_json(L, v, mt);
    lua_remove(L, mt);
}

/* ---- Lua -> JSON ---------------------------------------------------------------- */

struct conv {
    lua_State *L;
    int mt; /* stack index of the array metatable */
    unsigned depth;
    const void *seen[HOOK_JSON_MAX_DEPTH]; /* the tables on the path: cycles */
    uint64_t nodes, max_nodes;
    size_t cost, max_cost; /* estimated C bytes */
    enum sandbox_limit over;
    char path[256];
    size_t plen;
    char *err;
    size_t errlen;
};

__attribute__((format(printf, 2, 3))) static void fail(struct conv *c, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->err != NULL && c->errlen > 0)
        snprintf(c->err, c->errlen, "%s%s%s", c->path, c->plen ? ": " : "", msg);
}

static bool is_ident(const char *s, size_t n)
{
    if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!(ch == '_' || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9')))
            return false;
    }
    return true;
}

/* Appends to the error path: `name`, `.name`, `["odd key"]` or `[3]`; a path too
 * long for the buffer is cut. Returns the length to restore. */
static size_t path_key(struct conv *c, const char *k, size_t n)
{
    size_t old = c->plen, cap = sizeof(c->path) - old;
    int w = is_ident(k, n) ? snprintf(c->path + old, cap, "%s%.*s", old ? "." : "", (int)n, k)
                           : snprintf(c->path + old, cap, "[\"%.*s\"]", (int)(n < 64 ? n : 64), k);
    c->plen = w < 0 || (size_t)w >= cap ? old : old + (size_t)w;
    c->path[c->plen] = '\0';
    return old;
}

static size_t path_index(struct conv *c, size_t i)
{
    size_t old = c->plen, cap = sizeof(c->path) - old;
    int w = snprintf(c->path + old, cap, "[%zu]", i);
    c->plen = w < 0 || (size_t)w >= cap ? old : old + (size_t)w;
    c->path[c->plen] = '\0';
    return old;
}

static void path_pop(struct conv *c, size_t old)
{
    c->plen = old;
    c->path[old] = '\0';
}

static json_t *to_json(struct conv *c, int idx);

/* An integral number within 2^53 as "%lld", others "%.17g" (exact). */
static int number_key(char *buf, size_t cap, double d)
{
    if (d >= -MAX_SAFE_INT && d <= MAX_SAFE_INT && d == floor(d))
        return snprintf(buf, cap, "%lld", (long long)d);
    return snprintf(buf, cap, "%.17g", d);
}

static json_t *array_to_json(struct conv *c, int idx, size_t n)
{
    lua_State *L = c->L;
    json_t *arr = json_array();
    if (arr == NULL) {
        fail(c, "out of memory");
        return NULL;
    }
    for (size_t i = 1; i <= n; i++) {
        size_t old = path_index(c, i);
        lua_rawgeti(L, idx, (int)i);
        json_t *v = to_json(c, lua_gettop(L));
        lua_pop(L, 1);
        if (v == NULL) {
            json_decref(arr);
            return NULL;
        }
        path_pop(c, old);
        if (json_array_append_new(arr, v) < 0) {
            fail(c, "out of memory");
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *object_to_json(struct conv *c, int idx)
{
    lua_State *L = c->L;
    json_t *obj = json_object();
    if (obj == NULL) {
        fail(c, "out of memory");
        return NULL;
    }
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        char num[32];
        size_t klen;
        const char *k;
        if (lua_type(L, -2) == LUA_TSTRING) {
            k = lua_tolstring(L, -2, &klen); /* a string already: no conversion */
        } else {
            /* lua_tolstring would turn the key into a string in place, which
             * breaks lua_next: format it ourselves */
            double d = lua_tonumber(L, -2);
            if (!isfinite(d)) {
                lua_pop(L, 2);
                fail(c, "an infinite key has no JSON form");
                json_decref(obj);
                return NULL;
            }
            klen = (size_t)number_key(num, sizeof(num), d);
            k = num;
        }
        size_t old = path_key(c, k, klen);
        c->cost += klen;
        json_t *v = to_json(c, lua_gettop(L));
        lua_pop(L, 1);
        const char *why = NULL;
        if (v != NULL && json_object_getn(obj, k, klen) != NULL) {
            json_decref(v);
            why = "this key is in the table twice (as a number and as a string)";
        } else if (v != NULL && json_object_setn_new(obj, k, klen, v) < 0) {
            why = "a key that is not UTF-8 has no JSON form";
        }
        if (why != NULL) {
            fail(c, "%s", why);
            v = NULL;
        }
        if (v == NULL) {
            lua_pop(L, 1);
            json_decref(obj);
            return NULL;
        }
        path_pop(c, old);
    }
    return obj;
}

/* A table: keys 1..n only (n > 0, or the array metatable) is an array, any other
 * an object; a table from a JSON array must stay an array. */
static json_t *table_to_json(struct conv *c, int idx)
{
    lua_State *L = c->L;
    if (c->depth >= HOOK_JSON_MAX_DEPTH) {
        fail(c, "more than %d tables inside each other", HOOK_JSON_MAX_DEPTH);
        return NULL;
    }
    const void *p = lua_topointer(L, idx);
    for (unsigned i = 0; i < c->depth; i++) {
        if (c->seen[i] == p) {
            fail(c, "the table holds itself (a cycle has no JSON form)");
            return NULL;
        }
    }
    bool marked = false;
    if (lua_getmetatable(L, idx)) {
        marked = lua_rawequal(L, -1, c->mt);
        lua_pop(L, 1);
    }
    size_t n = 0;
    double top = 0;
    bool other = false;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        n++;
        int kt = lua_type(L, -2);
        if (kt == LUA_TNUMBER) {
            double d = lua_tonumber(L, -2);
            if (d >= 1 && d <= INT32_MAX && d == floor(d))
                top = d > top ? d : top;
            else
                other = true;
        } else if (kt == LUA_TSTRING) {
            other = true;
        } else {
            const char *tn = lua_typename(L, kt);
            lua_pop(L, 2);
            fail(c, "a %s key has no JSON form (keys are strings or numbers)", tn);
            return NULL;
        }
        lua_pop(L, 1);
    }
    bool array = !other && top == (double)n && (n > 0 || marked);
    if (marked && !array) {
        fail(c, "an array from JSON got keys other than 1..%zu", n);
        return NULL;
    }
    c->seen[c->depth++] = p;
    json_t *v = array ? array_to_json(c, idx, n) : object_to_json(c, idx);
    c->depth--;
    return v;
}

static json_t *to_json(struct conv *c, int idx)
{
    lua_State *L = c->L;
    json_t *v = NULL;
    size_t len = 0;
    c->nodes++;
    c->cost += NODE_COST;
    if (lua_type(L, idx) == LUA_TSTRING)
        lua_tolstring(L, idx, &len);
    c->cost += len;
    if (c->nodes > c->max_nodes) {
        c->over = SANDBOX_BUDGET;
        fail(c, "instruction budget exceeded");
        return NULL;
    }
    if (c->cost > c->max_cost) {
        c->over = SANDBOX_MEMORY;
        char size[32];
        fail(c, "the value is larger than %s as JSON", sandbox_fmt_size(size, c->max_cost));
        return NULL;
    }
    switch (lua_type(L, idx)) {
    case LUA_TNIL: v = json_null(); break;
    case LUA_TBOOLEAN: v = json_boolean(lua_toboolean(L, idx)); break;
    case LUA_TNUMBER: {
        double d = lua_tonumber(L, idx);
        if (!isfinite(d)) {
            fail(c, "%s has no JSON form", isnan(d) ? "NaN" : "infinity");
            return NULL;
        }
        /* integral and exact: a JSON integer, so that 3 is "3", not "3.0" */
        if (d >= -MAX_SAFE_INT && d <= MAX_SAFE_INT && d == floor(d))
            v = json_integer((json_int_t)d);
        else
            v = json_real(d);
        break;
    }
    case LUA_TSTRING: {
        const char *s = lua_tolstring(L, idx, &len);
        v = json_stringn(s, len);
        if (v == NULL) {
            fail(c, "a string that is not UTF-8 has no JSON form");
            return NULL;
        }
        break;
    }
    case LUA_TLIGHTUSERDATA: {
        const void *p = lua_touserdata(L, idx);
        if (p == NULL) {
            v = json_null();
        } else if (p == &empty_array_key) {
            v = json_array();
        } else {
            fail(c, "a light userdata has no JSON form");
            return NULL;
        }
        break;
    }
    case LUA_TTABLE: return table_to_json(c, idx);
    default: fail(c, "a %s has no JSON form", lua_typename(L, lua_type(L, idx))); return NULL;
    }
    if (v == NULL)
        fail(c, "out of memory");
    return v;
}

/* The stack must have room for 2 slots per level (key, value) and the array
 * metatable: checked first, so that nothing raises once jansson holds memory. */
#define CONV_STACK (2 * HOOK_JSON_MAX_DEPTH + 8)

static json_t *convert(struct conv *c, int idx)
{
    lua_State *L = c->L;
    int top = lua_gettop(L);
    if (idx < 0 && idx > LUA_REGISTRYINDEX)
        idx = top + idx + 1;
    if (!lua_checkstack(L, CONV_STACK)) {
        fail(c, "the Lua stack is full");
        return NULL;
    }
    push_array_mt(L);
    c->mt = lua_gettop(L);
    json_t *v = to_json(c, idx);
    lua_settop(L, top);
    return v;
}

json_t *hook_to_json(lua_State *L, int idx, char *err, size_t errlen)
{
    struct sandbox *sb = sandbox_of(L);
    struct conv c;
    memset(&c, 0, sizeof(c));
    c.L = L;
    c.err = err;
    c.errlen = errlen;
    /* from a tessera function, while a script runs, the walk counts against the
     * script's budget; disarmed it is bounded by size only */
    c.max_nodes = sb != NULL ? sandbox_steps_left(sb) : UINT64_MAX;
    c.max_cost = sb != NULL ? sandbox_max_memory(sb) : NO_SANDBOX_MAX;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    json_t *v = convert(&c, idx);
    if (sb != NULL)
        sandbox_charge(sb, c.nodes);
    return v;
}

/* ---- cjson ---------------------------------------------------------------------- */

struct guard {
    json_t *v;
};

static int guard_gc(lua_State *L)
{
    struct guard *g = lua_touserdata(L, 1);
    if (g != NULL && g->v != NULL) {
        json_decref(g->v);
        g->v = NULL;
    }
    return 0;
}

static struct guard *push_guard(lua_State *L)
{
    struct guard *g = lua_newuserdata(L, sizeof(*g));
    g->v = NULL;
    lua_pushlightuserdata(L, (void *)&guard_mt_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    lua_setmetatable(L, -2);
    return g;
}

/* cjson.encode(value): compact JSON text, object keys sorted, reals with 15
 * significant digits (19.99 stays "19.99"; lua-cjson writes 14). */
static int cjson_encode(lua_State *L)
{
    struct sandbox *sb = sandbox_of(L);
    luaL_checkany(L, 1);
    lua_settop(L, 1);
    struct guard *g = push_guard(L);
    char msg[320];
    struct conv c;
    memset(&c, 0, sizeof(c));
    c.L = L;
    c.err = msg;
    c.errlen = sizeof(msg);
    c.max_nodes = sb != NULL ? sandbox_steps_left(sb) : UINT64_MAX;
    c.max_cost = sb != NULL ? sandbox_room(sb) : NO_SANDBOX_MAX;
    if (sb != NULL && c.max_cost > sandbox_max_memory(sb))
        c.max_cost = sandbox_max_memory(sb);
    json_t *v = convert(&c, 1);
    if (sb != NULL) {
        sandbox_charge(sb, c.nodes);
        if (c.over == SANDBOX_MEMORY)
            sandbox_trip(sb, L, SANDBOX_MEMORY);
    }
    if (v == NULL) {
        if (sb != NULL && sandbox_tripped(sb) != SANDBOX_OK)
            return sandbox_raise(L);
        return luaL_error(L, "cjson.encode: %s", msg);
    }
    g->v = v;
    size_t n = json_dumpb(v, NULL, 0, ENCODE_FLAGS);
    if (sb != NULL && (sandbox_tripped(sb) != SANDBOX_OK || 2 * n > sandbox_room(sb))) {
        json_decref(v);
        g->v = NULL;
        sandbox_trip(sb, L, SANDBOX_MEMORY);
        return sandbox_raise(L);
    }
    if (n == 0) {
        json_decref(v);
        g->v = NULL;
        return luaL_error(L, "cjson.encode: out of memory");
    }
    char *buf = lua_newuserdata(L, n); /* may raise: the guard frees v */
    json_dumpb(v, buf, n, ENCODE_FLAGS);
    json_decref(v);
    g->v = NULL;
    lua_pushlstring(L, buf, n);
    return 1;
}

/* cjson.decode(text): any JSON value (a bare string or number too). */
static int cjson_decode(lua_State *L)
{
    struct sandbox *sb = sandbox_of(L);
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    size_t max = sb != NULL ? sandbox_max_memory(sb) / 64 : NO_SANDBOX_MAX / 64;
    if (max < DECODE_MIN)
        max = DECODE_MIN;
    if (len > max)
        return luaL_error(L, "cjson.decode: the text is larger than %zu KB", max >> 10);
    if (sb != NULL && sandbox_charge(sb, len / 8 + 1) < 0)
        return sandbox_raise(L);
    lua_settop(L, 1);
    struct guard *g = push_guard(L);
    json_error_t e;
    json_t *v = json_loadb(s, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (v == NULL)
        return luaL_error(L, "cjson.decode: %s at line %d column %d", e.text, e.line, e.column);
    g->v = v;
    hook_push_json(L, v); /* may raise: the guard frees v */
    json_decref(v);
    g->v = NULL;
    return 1;
}

void hook__json_init(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&guard_mt_key);
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, guard_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_rawset(L, LUA_REGISTRYINDEX);
    push_array_mt(L);
    lua_pop(L, 1);
}

void hook__push_cjson(lua_State *L)
{
    lua_createtable(L, 0, 4);
    lua_pushcfunction(L, cjson_encode);
    lua_setfield(L, -2, "encode");
    lua_pushcfunction(L, cjson_decode);
    lua_setfield(L, -2, "decode");
    lua_pushlightuserdata(L, NULL);
    lua_setfield(L, -2, "null");
    lua_pushlightuserdata(L, (void *)&empty_array_key);
    lua_setfield(L, -2, "empty_array");
}
