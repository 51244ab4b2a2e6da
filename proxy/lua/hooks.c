/* SPDX-License-Identifier: Apache-2.0
 *
 * hooks: the per-worker hook VM (hooks.h) on a sandbox (sandbox.h).
 *
 * Registry layout: one table per script, { [phase + 1] = function, lambdas = {
 * name = function } }, a copy of what the script returned (a script keeping and
 * changing its table changes nothing); the master `tessera` table and the
 * metatable that makes it every script's fallback; the message handler closure.
 *
 * Names: Lua keeps 59 bytes of a chunk name in messages (LUA_IDSIZE), so a chunk
 * is named "=NAME" when NAME fits and "=...TAIL" otherwise; messages and frames
 * are mapped back to the full NAME here (script_of_chunk, name_prefix).
 *
 * Ownership: the VM owns the sandbox and its script list. Thread: one at a time.
 */
#include "hooks.h"

#include "hook_json.h"
#include "hooks_int.h"
#include "sandbox.h"
#include "util.h"

#include <lauxlib.h>

#include <assert.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOOK_VM_MAGIC 0x484f4f4bu
#define SHORT_MAX (LUA_IDSIZE - 1) /* bytes of a "=name" chunk name Lua shows */

struct script {
    char *name;  /* as given to hook_vm_load */
    char *chunk; /* "=NAME" or "=...TAIL": what it was compiled as */
    unsigned phases;
    size_t nlambdas;
    int ref; /* registry: the hooks table */
};

struct hook_vm {
    unsigned magic;
    struct sandbox *sb;
    lua_State *L;
    void *ctx;
    int depth;          /* hook_pcall calls in progress (they may nest) */
    const char *callee; /* name of the script whose function is called */
    int ref_handler, ref_tessera, ref_tessera_mt;
    struct script *scripts;
    size_t nscripts, cap;
};

static const char *const phase_names[HOOK__NPHASES] = {"on_request", "on_fragment", "on_render",
                                                       "on_response", "on_log"};

const char *hook_strerror(int code)
{
    switch (code) {
    case HOOK_OK: return "ok";
    case HOOK_E_SYNTAX: return "the script does not compile";
    case HOOK_E_RUNTIME: return "the script raised an error";
    case HOOK_E_BUDGET: return "instruction budget exceeded";
    case HOOK_E_MEMORY: return "memory cap exceeded";
    case HOOK_E_SCRIPT: return "the script did not return a table of hooks";
    case HOOK_E_ABSENT: return "no such script, phase or lambda";
    case HOOK_E_INVALID: return "invalid argument";
    default: return "unknown error";
    }
}

const char *hook_phase_name(enum hook_phase phase)
{
    return (unsigned)phase < HOOK__NPHASES ? phase_names[phase] : "?";
}

/* Writes a message to err, one line: a newline becomes "\n", other control bytes
 * a space (messages go to logs and `tessera -t` output). Returns rc. */
__attribute__((format(printf, 4, 5))) static int set_err(int rc, char *err, size_t errlen,
                                                         const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (err == NULL || errlen == 0)
        return rc;
    size_t o = 0;
    for (const char *p = msg; *p != '\0' && o + 3 < errlen; p++) {
        if (*p == '\n') {
            err[o++] = '\\';
            err[o++] = 'n';
        } else {
            err[o++] = (unsigned char)*p < 0x20 ? ' ' : *p;
        }
    }
    err[o] = '\0';
    return rc;
}

static const struct script *script_of_chunk(const struct hook_vm *vm, const char *chunk)
{
    for (size_t i = 0; chunk != NULL && i < vm->nscripts; i++)
        if (strcmp(vm->scripts[i].chunk, chunk) == 0)
            return &vm->scripts[i];
    return NULL;
}

/* The script whose short name starts msg as "SHORT:LINE:", with *len the length
 * of SHORT; NULL when there is none. */
static const struct script *name_prefix(const struct hook_vm *vm, const char *msg, size_t mlen,
                                        size_t *len)
{
    for (size_t i = 0; i < vm->nscripts; i++) {
        const char *sh = vm->scripts[i].chunk + 1;
        size_t n = strlen(sh);
        if (mlen < n + 3 || memcmp(msg, sh, n) != 0 || msg[n] != ':')
            continue;
        size_t j = n + 1;
        while (j < mlen && msg[j] >= '0' && msg[j] <= '9')
            j++;
        if (j > n + 1 && j < mlen && msg[j] == ':') {
            *len = n;
            return &vm->scripts[i];
        }
    }
    return NULL;
}

/* The message handler of hook_pcall: "SHORT:LINE: msg" becomes "NAME:LINE: msg",
 * and a message without a position gets the innermost script line. A tripped
 * limit is left alone: call() writes that message itself. */
static int on_error(lua_State *L)
{
    const struct hook_vm *vm = lua_touserdata(L, lua_upvalueindex(1));
    if (sandbox_tripped(vm->sb) != SANDBOX_OK)
        return 1;
    const struct script *s = NULL;
    int line = 0;
    lua_Debug ar;
    /* C functions tail-called from Lua leave no Lua frame: look deep enough to
     * get past a C recursion refused by the sandbox (~250 levels) */
    for (int level = 1; level < 1000 && lua_getstack(L, level, &ar); level++) {
        if (lua_getinfo(L, "Sl", &ar) == 0 || ar.currentline <= 0)
            continue;
        s = script_of_chunk(vm, ar.source);
        if (s != NULL) {
            line = ar.currentline;
            break;
        }
    }
    /* No script frame: a C function the script tail-called raised (a tail call
     * leaves no frame in LuaJIT): the name of the script called, without line. */
    char where[600];
    if (s != NULL)
        snprintf(where, sizeof(where), "%s:%d", s->name, line);
    else
        snprintf(where, sizeof(where), "%s", vm->callee != NULL ? vm->callee : "");
    int t = lua_type(L, 1);
    if (t == LUA_TSTRING || t == LUA_TNUMBER) {
        size_t len, pre;
        lua_pushvalue(L, 1); /* a copy: converting a number changes the slot */
        const char *msg = lua_tolstring(L, -1, &len);
        const struct script *m = name_prefix(vm, msg, len, &pre);
        if (m != NULL) {
            lua_pushstring(L, m->name);
            lua_pushlstring(L, msg + pre, len - pre);
            lua_concat(L, 2);
        } else if (where[0] != '\0') {
            lua_pushfstring(L, "%s: ", where);
            lua_pushvalue(L, -2);
            lua_concat(L, 2);
        }
    } else if (where[0] != '\0') {
        lua_pushfstring(L, "%s: error object is a %s value", where, lua_typename(L, t));
    } else {
        lua_pushfstring(L, "error object is a %s value", lua_typename(L, t));
    }
    return 1;
}

/* The message of a tripped limit, at the line noted by the sandbox. */
static int limit_err(const struct hook_vm *vm, enum sandbox_limit lim, const char *fallback,
                     const char *when, char *err, size_t errlen)
{
    int line;
    const char *chunk = sandbox_where(vm->sb, &line);
    const struct script *s = script_of_chunk(vm, chunk);
    char where[600];
    if (s != NULL)
        snprintf(where, sizeof(where), "%s:%d", s->name, line);
    else if (chunk != NULL)
        snprintf(where, sizeof(where), "%s:%d", chunk + (chunk[0] == '=' || chunk[0] == '@'), line);
    else
        snprintf(where, sizeof(where), "%s", fallback);
    if (lim == SANDBOX_BUDGET)
        return set_err(HOOK_E_BUDGET, err, errlen, "%s: instruction budget of %llu exceeded%s",
                       where, (unsigned long long)sandbox_max_steps(vm->sb), when);
    char size[32];
    return set_err(HOOK_E_MEMORY, err, errlen, "%s: memory cap of %s exceeded%s", where,
                   sandbox_fmt_size(size, sandbox_max_memory(vm->sb)), when);
}

/* hook_pcall's body; `fallback` names the code in messages that have no line. */
static int call(struct hook_vm *vm, int nargs, int nresults, const char *fallback, char *err,
                size_t errlen)
{
    lua_State *L = vm->L;
    int base = lua_gettop(L) - nargs - 1;
    if (nargs < 0 || base < 0)
        return set_err(HOOK_E_INVALID, err, errlen, "hook_pcall: no function to call");
    /* which script the function belongs to, for messages without a line */
    const char *outer = vm->callee;
    const struct script *callee = NULL;
    lua_Debug ar;
    if (lua_type(L, base + 1) == LUA_TFUNCTION) { /* ">" takes nothing else */
        lua_pushvalue(L, base + 1);
        if (lua_getinfo(L, ">S", &ar))
            callee = script_of_chunk(vm, ar.source);
    }
    vm->callee = callee != NULL ? callee->name : fallback;
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_handler);
    lua_insert(L, base + 1);
    if (vm->depth++ == 0)
        sandbox_arm(vm->sb);
    int status = lua_pcall(L, nargs, nresults, base + 1);
    enum sandbox_limit lim = sandbox_tripped(vm->sb);
    if (--vm->depth == 0)
        sandbox_disarm(vm->sb);
    fallback = vm->callee;
    vm->callee = outer;
    if (status == 0) {
        lua_remove(L, base + 1);
        return HOOK_OK;
    }
    int rc;
    if (lim == SANDBOX_OK && status == LUA_ERRMEM)
        lim = SANDBOX_MEMORY; /* the process, not the cap: report it alike */
    if (lim != SANDBOX_OK) {
        rc = limit_err(vm, lim, fallback, "", err, errlen);
    } else {
        const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        rc = set_err(HOOK_E_RUNTIME, err, errlen, "%s", msg != NULL ? msg : "error");
    }
    lua_settop(L, base);
    if (lim == SANDBOX_MEMORY && vm->depth == 0)
        lua_gc(L, LUA_GCCOLLECT, 0);
    return rc;
}

int hook_pcall(struct hook_vm *vm, int nargs, int nresults, char *err, size_t errlen)
{
    assert(vm->magic == HOOK_VM_MAGIC);
    return call(vm, nargs, nresults, "hook", err, errlen);
}

/* ---- the VM ------------------------------------------------------------------- */

static int setup(lua_State *L)
{
    struct hook_vm *vm = lua_touserdata(L, 1);
    hook__json_init(L);
    lua_pushlightuserdata(L, vm);
    lua_pushcclosure(L, on_error, 1);
    vm->ref_handler = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_newtable(L);
    vm->ref_tessera = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_createtable(L, 0, 2);
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_tessera);
    lua_setfield(L, -2, "__index");
    lua_pushboolean(L, 0); /* getmetatable(tessera) must not give the master */
    lua_setfield(L, -2, "__metatable");
    vm->ref_tessera_mt = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

struct hook_vm *hook_vm_new(const struct hook_limits *lim, char *err, size_t errlen)
{
    uint64_t steps =
        lim != NULL && lim->max_instructions ? lim->max_instructions : HOOK_DEFAULT_INSTRUCTIONS;
    size_t mem = lim != NULL && lim->max_memory ? lim->max_memory : HOOK_DEFAULT_MEMORY;
    struct sandbox *sb = sandbox_new(mem, steps);
    if (sb == NULL) {
        set_err(0, err, errlen, "cannot create a Lua state");
        return NULL;
    }
    if (sandbox_open_libs(sb) < 0) {
        set_err(0, err, errlen, "cannot open the Lua libraries: out of memory");
        sandbox_free(sb);
        return NULL;
    }
    struct hook_vm *vm = xcalloc(1, sizeof(*vm));
    vm->magic = HOOK_VM_MAGIC;
    vm->sb = sb;
    vm->L = sandbox_state(sb);
    sandbox_set_user(sb, vm);
    if (lua_cpcall(vm->L, setup, vm) != 0) {
        set_err(0, err, errlen, "cannot set up the hook VM: out of memory");
        hook_vm_free(vm);
        return NULL;
    }
    return vm;
}

void hook_vm_free(struct hook_vm *vm)
{
    if (vm == NULL)
        return;
    assert(vm->magic == HOOK_VM_MAGIC && vm->depth == 0);
    sandbox_free(vm->sb);
    for (size_t i = 0; i < vm->nscripts; i++) {
        free(vm->scripts[i].name);
        free(vm->scripts[i].chunk);
    }
    free(vm->scripts);
    vm->magic = 0;
    free(vm);
}

lua_State *hook_vm_state(struct hook_vm *vm)
{
    assert(vm->magic == HOOK_VM_MAGIC);
    return vm->L;
}

void hook_vm_set_ctx(struct hook_vm *vm, void *ctx)
{
    assert(vm->magic == HOOK_VM_MAGIC);
    vm->ctx = ctx;
}

void *hook_ctx(lua_State *L)
{
    struct sandbox *sb = sandbox_of(L);
    const struct hook_vm *vm = sb != NULL ? sandbox_user(sb) : NULL;
    return vm != NULL ? vm->ctx : NULL;
}

static bool is_ident(const char *s)
{
    if (*s == '\0' || (*s >= '0' && *s <= '9'))
        return false;
    for (; *s != '\0'; s++)
        if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9')))
            return false;
    return true;
}

int hook_vm_register(struct hook_vm *vm, const char *name, lua_CFunction fn)
{
    assert(vm->magic == HOOK_VM_MAGIC);
    if (name == NULL || !is_ident(name) || fn == NULL)
        return HOOK_E_INVALID;
    lua_State *L = vm->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_tessera);
    lua_pushstring(L, name);
    lua_pushcfunction(L, fn);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    return HOOK_OK;
}

/* ---- scripts ------------------------------------------------------------------ */

static const struct script *get_script(const struct hook_vm *vm, int id)
{
    return id >= 0 && (size_t)id < vm->nscripts ? &vm->scripts[id] : NULL;
}

unsigned hook_phases(const struct hook_vm *vm, int script_id)
{
    const struct script *s = get_script(vm, script_id);
    return s != NULL ? s->phases : 0;
}

const char *hook_script_name(const struct hook_vm *vm, int script_id)
{
    const struct script *s = get_script(vm, script_id);
    return s != NULL ? s->name : NULL;
}

int hook_push_phase(struct hook_vm *vm, int script_id, enum hook_phase phase)
{
    assert(vm->magic == HOOK_VM_MAGIC);
    const struct script *s = get_script(vm, script_id);
    if (s == NULL || (unsigned)phase >= HOOK__NPHASES || !(s->phases & HOOK_PHASE_BIT(phase)))
        return HOOK_E_ABSENT;
    lua_rawgeti(vm->L, LUA_REGISTRYINDEX, s->ref);
    lua_rawgeti(vm->L, -1, (int)phase + 1);
    lua_remove(vm->L, -2);
    return HOOK_OK;
}

int hook_push_lambda(struct hook_vm *vm, int script_id, const char *name, size_t len)
{
    assert(vm->magic == HOOK_VM_MAGIC);
    const struct script *s = get_script(vm, script_id);
    if (s == NULL)
        return HOOK_E_ABSENT;
    lua_State *L = vm->L;
    int top = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->ref);
    lua_pushliteral(L, "lambdas");
    lua_rawget(L, -2);
    if (lua_type(L, -1) == LUA_TTABLE) {
        lua_pushlstring(L, name, len);
        lua_rawget(L, -2);
        if (lua_type(L, -1) == LUA_TFUNCTION) {
            lua_replace(L, top + 1);
            lua_settop(L, top + 1);
            return HOOK_OK;
        }
    }
    lua_settop(L, top);
    return HOOK_E_ABSENT;
}

int hook_has_lambdas(const struct hook_vm *vm, int script_id)
{
    const struct script *s = get_script(vm, script_id);
    return s != NULL && s->nlambdas > 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int hook_push_lambda_names(struct hook_vm *vm, int script_id)
{
    assert(vm->magic == HOOK_VM_MAGIC);
    const struct script *s = get_script(vm, script_id);
    if (s == NULL)
        return HOOK_E_ABSENT;
    lua_State *L = vm->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->ref);
    lua_pushliteral(L, "lambdas");
    lua_rawget(L, -2);
    const char **names = xcalloc(s->nlambdas + 1, sizeof(*names));
    size_t n = 0;
    if (lua_type(L, -1) == LUA_TTABLE) {
        lua_pushnil(L);
        while (lua_next(L, -2) != 0) {
            if (n < s->nlambdas)
                names[n++] = lua_tostring(L, -2); /* anchored by the table */
            lua_pop(L, 1);
        }
    }
    qsort(names, n, sizeof(*names), cmp_str);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushstring(L, names[i]);
        lua_rawseti(L, -2, (int)i + 1);
    }
    free(names);
    lua_replace(L, -3);
    lua_pop(L, 1);
    return HOOK_OK;
}

/* "got ..." for the value at idx. */
static void describe(lua_State *L, int idx, char *buf, size_t cap)
{
    int t = lua_type(L, idx);
    if (t == LUA_TSTRING) {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        snprintf(buf, cap, "\"%.*s%s\"", (int)(n < 40 ? n : 40), s, n > 40 ? "..." : "");
    } else if (t == LUA_TNIL) {
        snprintf(buf, cap, "nil");
    } else {
        snprintf(buf, cap, "a %s", lua_typename(L, t));
    }
}

#define HOOK_KEYS "on_request, on_fragment, on_render, on_response, on_log or lambdas"

/* Checks the lambdas table at idx and pushes a copy. */
static int copy_lambdas(lua_State *L, const char *name, int idx, size_t *count, char *err,
                        size_t errlen)
{
    char got[64];
    if (lua_type(L, idx) != LUA_TTABLE) {
        describe(L, idx, got, sizeof(got));
        return set_err(HOOK_E_SCRIPT, err, errlen,
                       "%s: lambdas: expected a table of name = function, got %s", name, got);
    }
    lua_newtable(L);
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            describe(L, -2, got, sizeof(got));
            return set_err(HOOK_E_SCRIPT, err, errlen,
                           "%s: lambdas: expected names as keys, got the key %s", name, got);
        }
        if (lua_type(L, -1) != LUA_TFUNCTION) {
            describe(L, -1, got, sizeof(got));
            return set_err(HOOK_E_SCRIPT, err, errlen,
                           "%s: lambdas.%s: expected a function, got %s", name, lua_tostring(L, -2),
                           got);
        }
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -4);
        (*count)++;
    }
    return HOOK_OK;
}

/* Checks the table the script returned (at idx) and keeps a copy in the registry. */
static int keep_hooks(struct hook_vm *vm, struct script *s, int idx, char *err, size_t errlen)
{
    lua_State *L = vm->L;
    char got[64];
    if (lua_type(L, idx) != LUA_TTABLE) {
        describe(L, idx, got, sizeof(got));
        return set_err(HOOK_E_SCRIPT, err, errlen,
                       "%s: expected the script to return a table of hooks like "
                       "`return { on_request = function(req) ... end }`, got %s",
                       s->name, got);
    }
    lua_createtable(L, HOOK__NPHASES, 1);
    int out = lua_gettop(L);
    unsigned phases = 0;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        if (k == NULL) {
            describe(L, -2, got, sizeof(got));
            return set_err(HOOK_E_SCRIPT, err, errlen,
                           "%s: the returned table has the key %s (expected " HOOK_KEYS ")",
                           s->name, got);
        }
        if (strcmp(k, "lambdas") == 0) {
            int rc = copy_lambdas(L, s->name, lua_gettop(L), &s->nlambdas, err, errlen);
            if (rc != HOOK_OK)
                return rc;
            lua_setfield(L, out, "lambdas");
            lua_pop(L, 1);
            continue;
        }
        int p = 0;
        while (p < HOOK__NPHASES && strcmp(k, phase_names[p]) != 0)
            p++;
        if (p == HOOK__NPHASES)
            return set_err(HOOK_E_SCRIPT, err, errlen,
                           "%s: the returned table has an unknown key \"%s\" (expected " HOOK_KEYS
                           ")",
                           s->name, k);
        if (lua_type(L, -1) != LUA_TFUNCTION) {
            describe(L, -1, got, sizeof(got));
            return set_err(HOOK_E_SCRIPT, err, errlen, "%s: %s: expected a function, got %s",
                           s->name, k, got);
        }
        phases |= HOOK_PHASE_BIT(p);
        lua_rawseti(L, out, p + 1);
    }
    lua_pushvalue(L, out);
    s->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    s->phases = phases;
    return HOOK_OK;
}

/* "=NAME", or "=...TAIL" when NAME is longer than Lua shows; unique in the VM. */
static char *chunk_name(const struct hook_vm *vm, const char *name)
{
    char buf[SHORT_MAX + 2];
    size_t n = strlen(name);
    if (n <= SHORT_MAX)
        snprintf(buf, sizeof(buf), "=%s", name);
    else
        snprintf(buf, sizeof(buf), "=...%s", name + n - (SHORT_MAX - 3));
    for (size_t i = 0; i < vm->nscripts; i++) {
        if (strcmp(vm->scripts[i].chunk, buf) == 0 && strcmp(vm->scripts[i].name, name) != 0) {
            char pre[32];
            int w = snprintf(pre, sizeof(pre), "#%zu...", vm->nscripts);
            snprintf(buf, sizeof(buf), "=%s%s", pre, name + n - (SHORT_MAX - (size_t)w));
            break;
        }
    }
    return xstrdup(buf);
}

/* Pushes a new environment for one script. */
static void push_env(struct hook_vm *vm)
{
    lua_State *L = vm->L;
    sandbox_push_env(vm->sb);
    hook__push_cjson(L);
    lua_setfield(L, -2, "cjson");
    lua_newtable(L); /* tessera: a copy of the master, and the master behind it */
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_tessera);
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -5);
    }
    lua_pop(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_tessera_mt);
    lua_setmetatable(L, -2);
    lua_setfield(L, -2, "tessera");
}

int hook_vm_load(struct hook_vm *vm, const char *name, const char *src, size_t len, int *script_id,
                 char *err, size_t errlen)
{
    assert(vm->magic == HOOK_VM_MAGIC);
    if (vm->depth > 0)
        return set_err(HOOK_E_INVALID, err, errlen, "%s: cannot load a script inside a hook call",
                       name);
    if (len > 0 && src[0] == '\033')
        /* LuaJIT bytecode is not verified: a crafted one can do anything */
        return set_err(HOOK_E_SYNTAX, err, errlen,
                       "%s: precompiled Lua (bytecode) is not accepted: give the source text",
                       name);
    if (len >= 3 && memcmp(src, "\xEF\xBB\xBF", 3) == 0) {
        src += 3; /* a UTF-8 byte order mark is not Lua; some editors add one */
        len -= 3;
    }
    if (vm->nscripts == vm->cap) {
        vm->cap = vm->cap ? 2 * vm->cap : 8;
        vm->scripts = xrealloc(vm->scripts, vm->cap * sizeof(*vm->scripts));
    }
    /* listed before it runs, so that its messages are mapped to its name */
    struct script *s = &vm->scripts[vm->nscripts];
    memset(s, 0, sizeof(*s));
    s->name = xstrdup(name);
    s->chunk = chunk_name(vm, name);
    s->ref = LUA_NOREF;
    vm->nscripts++;

    lua_State *L = vm->L;
    int top = lua_gettop(L);
    push_env(vm);
    int rc = HOOK_OK;
    sandbox_arm(vm->sb);
    int status = luaL_loadbufferx(L, src, len, s->chunk, "t");
    enum sandbox_limit lim = sandbox_tripped(vm->sb);
    sandbox_disarm(vm->sb);
    if (status != 0) {
        if (lim != SANDBOX_OK || status == LUA_ERRMEM) {
            rc = limit_err(vm, SANDBOX_MEMORY, name, " while compiling", err, errlen);
        } else {
            size_t mlen = 0, pre = 0;
            const char *msg = lua_tolstring(L, -1, &mlen);
            if (msg != NULL && name_prefix(vm, msg, mlen, &pre) == s)
                rc = set_err(HOOK_E_SYNTAX, err, errlen, "%s%s", name, msg + pre);
            else
                rc = set_err(HOOK_E_SYNTAX, err, errlen, "%s: %s", name, msg ? msg : "?");
        }
        goto fail;
    }
    lua_pushvalue(L, top + 1);
    lua_setfenv(L, -2);
    rc = call(vm, 0, 1, name, err, errlen);
    if (rc != HOOK_OK)
        goto fail;
    rc = keep_hooks(vm, s, lua_gettop(L), err, errlen);
    if (rc != HOOK_OK)
        goto fail;
    lua_settop(L, top);
    if (script_id != NULL)
        *script_id = (int)(vm->nscripts - 1);
    return HOOK_OK;

fail:
    lua_settop(L, top);
    vm->nscripts--;
    free(s->name);
    free(s->chunk);
    if (rc == HOOK_E_MEMORY)
        lua_gc(L, LUA_GCCOLLECT, 0);
    return rc;
}
