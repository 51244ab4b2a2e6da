/* SPDX-License-Identifier: Apache-2.0
 *
 * sandbox: a LuaJIT state with a memory cap and an instruction budget (see
 * sandbox.h), shared by the configuration loader and the hook VMs.
 *   - Memory: our allocator counts every byte of the state and refuses growth past
 *     the cap while armed; LuaJIT then raises LUA_ERRMEM. The refusing allocation
 *     also notes the running script line, which the error itself does not carry.
 *   - Budget: a count hook every `every` instructions; the JIT is off for the whole
 *     state because compiled traces do not run hooks. Hook scripts are short and
 *     the interpreter is fast; a budget that holds is worth more than the JIT.
 * Ownership: struct sandbox owns the lua_State. Thread: one thread at a time.
 */
#include "sandbox.h"

#include "util.h"

#include <lauxlib.h>
#include <lualib.h>
#include <luajit.h>

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SANDBOX_MAGIC 0x53424f58u
#define HOOK_EVERY 1000        /* instructions between two budget checks */
#define HOOK_EVERY_FALLBACK 10 /* the same without our allocator, see sandbox_new */
/* C stack that Lua code may take through C functions calling back into Lua
 * (string.gsub with a function, table.sort, pcall): LuaJIT does not bound that
 * recursion, and `local function f() return ("x"):gsub("x", f) end` overflows
 * the thread's stack (8MB by default; gsub takes ~9KB a level). */
#define C_STACK_MAX ((uintptr_t)1 << 20)

struct sandbox {
    unsigned magic;
    lua_State *L;
    size_t used;       /* bytes the state holds */
    size_t limit;      /* max_memory while armed, else SIZE_MAX */
    size_t max_memory; /* the cap */
    uint64_t steps, max_steps;
    int every;      /* instructions between two calls of the count hook */
    bool own_alloc; /* false: luaL_newstate's allocator, memory checked in the hook */
    bool armed;
    enum sandbox_limit tripped;
    int where_line;
    uintptr_t stack_base; /* frame address when armed; 0 disarmed */
    void *user;
    char where[256]; /* chunk name of the line running when the limit was hit */
};

static const char sandbox_key = 0; /* its address keys the sandbox in the registry */
static const char env_key = 0;     /* ... and the environment template */

/* Notes the innermost Lua line running in L. Called from the allocator too: there
 * it must not allocate, and it does not (lua_getstack and lua_getinfo "Sl" only
 * read frames). LuaJIT saves the frame and PC before any call that may allocate,
 * since its own errors need them: that is what makes the frames readable here. */
static void note_where(struct sandbox *sb, lua_State *L)
{
    lua_Debug ar;
    sb->where[0] = '\0';
    sb->where_line = 0;
    for (int level = 0; L != NULL && level < 64 && lua_getstack(L, level, &ar); level++) {
        if (lua_getinfo(L, "Sl", &ar) == 0 || ar.currentline <= 0 || ar.source == NULL)
            continue;
        snprintf(sb->where, sizeof(sb->where), "%s", ar.source);
        sb->where_line = ar.currentline;
        return;
    }
}

static void *sandbox_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct sandbox *sb = ud;
    if (ptr == NULL)
        osize = 0;
    if (nsize == 0) {
        free(ptr);
        sb->used -= osize;
        return NULL;
    }
    /* used may be above limit: the host pushed data disarmed, then armed */
    if (nsize > osize && (sb->used > sb->limit || nsize - osize > sb->limit - sb->used)) {
        if (sb->tripped == SANDBOX_OK) {
            sb->tripped = SANDBOX_MEMORY;
            note_where(sb, sb->L);
        }
        return NULL; /* Lua raises "not enough memory" (LUA_ERRMEM) */
    }
    void *p = realloc(ptr, nsize);
    if (p != NULL)
        sb->used = sb->used - osize + nsize;
    return p;
}

struct sandbox *sandbox_of(lua_State *L)
{
    void *ud = NULL;
    if (lua_getallocf(L, &ud) == sandbox_alloc)
        return ud;
    lua_pushlightuserdata(L, (void *)&sandbox_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    struct sandbox *sb = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return sb;
}

const char *sandbox_fmt_size(char buf[32], size_t bytes)
{
    if (bytes >= (1u << 20) && bytes % (1u << 20) == 0)
        snprintf(buf, 32, "%zu MB", bytes >> 20);
    else if (bytes >= 1024 && bytes % 1024 == 0)
        snprintf(buf, 32, "%zu KB", bytes >> 10);
    else
        snprintf(buf, 32, "%zu bytes", bytes);
    return buf;
}

/* Pushes "CHUNK:LINE: text" for the tripped limit (CHUNK as Lua shows it). */
static void push_limit_message(lua_State *L, const struct sandbox *sb)
{
    char text[128], size[32];
    if (sb->tripped == SANDBOX_MEMORY)
        snprintf(text, sizeof(text), "memory cap of %s exceeded",
                 sandbox_fmt_size(size, sb->max_memory));
    else
        snprintf(text, sizeof(text), "instruction budget of %llu exceeded",
                 (unsigned long long)sb->max_steps);
    if (sb->where_line > 0) {
        /* what lua_Debug.short_src shows for "=name", the only names we give */
        const char *w = sb->where[0] == '=' || sb->where[0] == '@' ? sb->where + 1 : sb->where;
        lua_pushfstring(L, "%s:%d: %s", w, sb->where_line, text);
    } else {
        lua_pushstring(L, text);
    }
}

int sandbox_raise(lua_State *L)
{
    struct sandbox *sb = sandbox_of(L);
    assert(sb != NULL && sb->tripped != SANDBOX_OK);
    push_limit_message(L, sb);
    return lua_error(L);
}

static void on_count(lua_State *L, lua_Debug *ar)
{
    struct sandbox *sb = sandbox_of(L);
    if (!sb->armed)
        return;
    sb->steps += (uint64_t)sb->every;
    if (sb->tripped == SANDBOX_OK) {
        if (!sb->own_alloc && (size_t)lua_gc(L, LUA_GCCOUNT, 0) * 1024 > sb->max_memory)
            sb->tripped = SANDBOX_MEMORY;
        else if (sb->steps > sb->max_steps)
            sb->tripped = SANDBOX_BUDGET;
        else
            return;
        if (lua_getinfo(L, "Sl", ar) != 0 && ar->currentline > 0 && ar->source != NULL) {
            snprintf(sb->where, sizeof(sb->where), "%s", ar->source);
            sb->where_line = ar->currentline;
        } else {
            note_where(sb, L);
        }
    }
    /* Tripped: raise again at every check, whatever caught the first error. */
    push_limit_message(L, sb);
    lua_error(L);
}

static int on_panic(lua_State *L)
{
    /* An error outside any protected call: a bug of ours (host code must run Lua
     * code with lua_pcall), or the process is out of memory. */
    const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?";
    fprintf(stderr, "tessera: unprotected Lua error: %s\n", msg);
    abort();
}

/* Creates the state. A LuaJIT 2.1 built in GC64 mode accepts lua_newstate with our
 * allocator, which caps memory exactly: Debian 12's libluajit2-5.1 (2.1-20230119,
 * x86_64) is such a build. A non-GC64 x86_64 build refuses (it needs its own
 * allocator for low addresses, and prints a line on stderr); test_cfg passes on
 * both paths. Then we fall back to luaL_newstate and the count hook checks
 * lua_gc(LUA_GCCOUNT) every few instructions instead. */
struct sandbox *sandbox_new(size_t max_memory, uint64_t max_steps)
{
    struct sandbox *sb = xcalloc(1, sizeof(*sb));
    sb->magic = SANDBOX_MAGIC;
    sb->limit = SIZE_MAX;
    sb->max_memory = max_memory;
    sb->max_steps = max_steps;
    sb->own_alloc = true;
    sb->every = max_steps < HOOK_EVERY ? (int)(max_steps > 0 ? max_steps : 1) : HOOK_EVERY;
    lua_State *L = lua_newstate(sandbox_alloc, sb);
    if (L == NULL) {
        sb->own_alloc = false;
        sb->every = sb->every < HOOK_EVERY_FALLBACK ? sb->every : HOOK_EVERY_FALLBACK;
        L = luaL_newstate();
        if (L == NULL) {
            free(sb);
            return NULL;
        }
    }
    sb->L = L;
    lua_atpanic(L, on_panic);
    /* The count hook does not run inside compiled traces: interpret only. */
    luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
    lua_pushlightuserdata(L, (void *)&sandbox_key);
    lua_pushlightuserdata(L, sb);
    lua_rawset(L, LUA_REGISTRYINDEX);
    return sb;
}

void sandbox_free(struct sandbox *sb)
{
    if (sb == NULL)
        return;
    assert(sb->magic == SANDBOX_MAGIC);
    sandbox_disarm(sb);
    lua_close(sb->L);
    sb->magic = 0;
    free(sb);
}

lua_State *sandbox_state(const struct sandbox *sb)
{
    assert(sb->magic == SANDBOX_MAGIC);
    return sb->L;
}

void sandbox_set_user(struct sandbox *sb, void *user)
{
    sb->user = user;
}

void *sandbox_user(const struct sandbox *sb)
{
    return sb->user;
}

void sandbox_arm(struct sandbox *sb)
{
    assert(sb->magic == SANDBOX_MAGIC);
    /* Garbage of the host's own pushes (made disarmed) may hold the state above
     * the cap: nothing could run then. LuaJIT has no emergency collection when an
     * allocation fails, so collect here, once, before the cap applies. */
    if (sb->own_alloc && sb->used > sb->max_memory)
        lua_gc(sb->L, LUA_GCCOLLECT, 0);
    sb->steps = 0;
    sb->tripped = SANDBOX_OK;
    sb->where[0] = '\0';
    sb->where_line = 0;
    sb->limit = sb->own_alloc ? sb->max_memory : SIZE_MAX;
    sb->armed = true;
    sb->stack_base = (uintptr_t)__builtin_frame_address(0);
    lua_sethook(sb->L, on_count, LUA_MASKCOUNT, sb->every);
}

void sandbox_disarm(struct sandbox *sb)
{
    assert(sb->magic == SANDBOX_MAGIC);
    sb->armed = false;
    sb->stack_base = 0;
    sb->limit = SIZE_MAX;
    lua_sethook(sb->L, NULL, 0, 0);
}

enum sandbox_limit sandbox_tripped(const struct sandbox *sb)
{
    return sb->tripped;
}

const char *sandbox_where(const struct sandbox *sb, int *line)
{
    *line = sb->where_line;
    return sb->where_line > 0 ? sb->where : NULL;
}

size_t sandbox_max_memory(const struct sandbox *sb)
{
    return sb->max_memory;
}

uint64_t sandbox_max_steps(const struct sandbox *sb)
{
    return sb->max_steps;
}

size_t sandbox_room(const struct sandbox *sb)
{
    if (!sb->armed)
        return SIZE_MAX;
    size_t used = sb->own_alloc ? sb->used : (size_t)lua_gc(sb->L, LUA_GCCOUNT, 0) * 1024;
    return used >= sb->max_memory ? 0 : sb->max_memory - used;
}

uint64_t sandbox_steps_left(const struct sandbox *sb)
{
    if (!sb->armed)
        return UINT64_MAX;
    return sb->steps >= sb->max_steps ? 0 : sb->max_steps - sb->steps;
}

void sandbox_trip(struct sandbox *sb, lua_State *L, enum sandbox_limit limit)
{
    if (sb->tripped != SANDBOX_OK || limit == SANDBOX_OK)
        return;
    sb->tripped = limit;
    note_where(sb, L);
}

int sandbox_charge(struct sandbox *sb, uint64_t steps)
{
    if (!sb->armed)
        return 0;
    sb->steps = steps > UINT64_MAX - sb->steps ? UINT64_MAX : sb->steps + steps;
    if (sb->steps > sb->max_steps)
        sandbox_trip(sb, sb->L, SANDBOX_BUDGET);
    return sb->tripped != SANDBOX_OK ? -1 : 0;
}

/* ---- the hook environment ----------------------------------------------------- */

/* True when C functions called from Lua have taken more than C_STACK_MAX of the
 * C stack since the sandbox was armed (the stack grows down on our targets). The
 * frame address, not a local's: ASan may put locals on a heap "fake stack". */
static bool c_stack_deep(const struct sandbox *sb)
{
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    return sb->stack_base != 0 && here < sb->stack_base && sb->stack_base - here > C_STACK_MAX;
}

/* Wraps a library function that calls back into Lua (upvalues: the sandbox, the
 * function): refuses when the C stack is deep, else calls it. */
static int stack_guard(lua_State *L)
{
    const struct sandbox *sb = lua_touserdata(L, lua_upvalueindex(1));
    if (c_stack_deep(sb))
        return luaL_error(L, "C stack overflow");
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* pcall and xpcall that do not catch a tripped limit: without this a script
 * could catch "instruction budget exceeded" and loop again, forever. */
static int safe_pcall(lua_State *L)
{
    struct sandbox *sb = lua_touserdata(L, lua_upvalueindex(1));
    luaL_checkany(L, 1);
    if (c_stack_deep(sb))
        return luaL_error(L, "C stack overflow");
    int status = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
    if (status != 0 && (sb->tripped != SANDBOX_OK || status == LUA_ERRMEM))
        return lua_error(L);
    lua_pushboolean(L, status == 0);
    lua_insert(L, 1);
    return lua_gettop(L);
}

static int safe_xpcall(lua_State *L)
{
    struct sandbox *sb = lua_touserdata(L, lua_upvalueindex(1));
    luaL_checkany(L, 2);
    if (c_stack_deep(sb))
        return luaL_error(L, "C stack overflow");
    int n = lua_gettop(L);
    lua_pushvalue(L, 2); /* f h args... -> h f args... */
    lua_insert(L, 1);
    lua_remove(L, 3);
    int status = lua_pcall(L, n - 2, LUA_MULTRET, 1);
    if (status != 0 && (sb->tripped != SANDBOX_OK || status == LUA_ERRMEM))
        return lua_error(L);
    lua_pushboolean(L, status == 0);
    lua_replace(L, 1);
    return lua_gettop(L);
}

static const char *const allowed_globals[] = {
    "assert",       "error",        "ipairs",   "next",   "pairs",
    "select",       "tonumber",     "tostring", "type",   "unpack",
    "rawequal",     "rawget",       "rawset",   "rawlen", /* 5.2 builds */
    "setmetatable", "getmetatable", "_VERSION",
};
static const char *const allowed_libs[] = {"string", "table", "math"};
/* Library functions written in C that call Lua functions or metamethods. */
static const char *const callback_functions[][2] = {
    {"string", "gsub"},   {"string", "format"},  {"table", "sort"},
    {"table", "foreach"}, {"table", "foreachi"},
};

static int open_libs(lua_State *L)
{
    struct sandbox *sb = lua_touserdata(L, 1);
    static const struct {
        const char *name;
        lua_CFunction open;
    } libs[] = {{"", luaopen_base},
                {LUA_STRLIBNAME, luaopen_string},
                {LUA_TABLIBNAME, luaopen_table},
                {LUA_MATHLIBNAME, luaopen_math}};
    for (size_t i = 0; i < ARRAY_SIZE(libs); i++) {
        lua_pushcfunction(L, libs[i].open);
        lua_pushstring(L, libs[i].name);
        lua_call(L, 1, 0);
    }
    /* The string metatable's __index is the real string table: take dump out of
     * that one, and hide the metatable from getmetatable(""). */
    lua_getglobal(L, "string");
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    lua_pop(L, 1);
    for (size_t i = 0; i < ARRAY_SIZE(callback_functions); i++) {
        lua_getglobal(L, callback_functions[i][0]);
        lua_getfield(L, -1, callback_functions[i][1]);
        if (lua_iscfunction(L, -1)) { /* LuaJIT writes some in Lua: those need none */
            lua_pushlightuserdata(L, sb);
            lua_insert(L, -2);
            lua_pushcclosure(L, stack_guard, 2);
            lua_setfield(L, -2, callback_functions[i][1]);
        } else {
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    lua_pushliteral(L, "");
    if (lua_getmetatable(L, -1)) {
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "__metatable");
        lua_pop(L, 1);
    }
    lua_pop(L, 1);

    lua_newtable(L); /* the template sandbox_push_env copies */
    int env = lua_gettop(L);
    for (size_t i = 0; i < ARRAY_SIZE(allowed_globals); i++) {
        lua_getglobal(L, allowed_globals[i]);
        lua_setfield(L, env, allowed_globals[i]); /* nil when absent: nothing */
    }
    for (size_t i = 0; i < ARRAY_SIZE(allowed_libs); i++) {
        lua_getglobal(L, allowed_libs[i]);
        lua_setfield(L, env, allowed_libs[i]);
    }
    lua_pushlightuserdata(L, sb);
    lua_pushcclosure(L, safe_pcall, 1);
    lua_setfield(L, env, "pcall");
    lua_pushlightuserdata(L, sb);
    lua_pushcclosure(L, safe_xpcall, 1);
    lua_setfield(L, env, "xpcall");
    lua_pushlightuserdata(L, (void *)&env_key);
    lua_pushvalue(L, env);
    lua_rawset(L, LUA_REGISTRYINDEX);

    /* Nothing runs with the real globals: leave them empty. */
    lua_newtable(L);
    lua_replace(L, LUA_GLOBALSINDEX);
    return 0;
}

int sandbox_open_libs(struct sandbox *sb)
{
    assert(sb->magic == SANDBOX_MAGIC);
    lua_State *L = sb->L;
    int top = lua_gettop(L);
    int status = lua_cpcall(L, open_libs, sb);
    lua_settop(L, top);
    return status == 0 ? 0 : -1;
}

void sandbox_push_env(struct sandbox *sb)
{
    lua_State *L = sb->L;
    lua_pushlightuserdata(L, (void *)&env_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    int tpl = lua_gettop(L);
    assert(lua_type(L, tpl) == LUA_TTABLE);
    lua_newtable(L);
    lua_pushnil(L);
    while (lua_next(L, tpl) != 0) {
        if (lua_type(L, -1) == LUA_TTABLE) {
            /* a library: a copy of its own */
            int lib = lua_gettop(L);
            lua_newtable(L);
            lua_pushnil(L);
            while (lua_next(L, lib) != 0) {
                lua_pushvalue(L, -2);
                lua_insert(L, -2);
                lua_rawset(L, -4);
            }
            lua_replace(L, lib);
        }
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, tpl + 1);
    }
    lua_remove(L, tpl);
}
