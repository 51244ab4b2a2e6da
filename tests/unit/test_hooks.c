/* SPDX-License-Identifier: Apache-2.0
 *
 * test_hooks: the Lua hook VM (proxy/lua/hooks.c), its sandbox (lua/sandbox.c)
 * and the JSON <-> Lua conversion (lua/hook_json.c). Tables of sandbox escapes and
 * load errors, each checked for its "NAME:LINE:" message and for a VM that still
 * works afterwards; phases, lambdas and the host API; conversions both ways and
 * the sandbox's cjson; and a sweep of memory caps that makes every allocation of
 * a load and a call fail in turn.
 */
#include "lua/hook_json.h"
#include "lua/hooks.h"
#include "lua/sandbox.h"
#include "util.h"

#include "check.h"

#include <jansson.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- helpers ------------------------------------------------------------------ */

static struct hook_vm *new_vm(uint64_t steps, size_t mem)
{
    char err[256] = "";
    struct hook_limits lim = {steps, mem};
    struct hook_vm *vm = hook_vm_new(&lim, err, sizeof(err));
    CHECK_MSG(vm != NULL, "hook_vm_new: %s", err);
    return vm;
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Loads `body` as the on_request function of script NAME (the body on line 2),
 * calls it without arguments and returns hook_pcall's result; on success the one
 * result is left on the stack. */
static int run_body(struct hook_vm *vm, const char *name, const char *body, char *err, size_t cap)
{
    char src[2048];
    snprintf(src, sizeof(src), "return { on_request = function()\n%s\nend }\n", body);
    int id = -1;
    int rc = hook_vm_load(vm, name, src, strlen(src), &id, err, cap);
    CHECK_MSG(rc == 0, "load %s: %s", body, err);
    if (rc != 0)
        return rc;
    CHECK(hook_push_phase(vm, id, HOOK_REQUEST) == 0);
    return hook_pcall(vm, 0, 1, err, cap);
}

/* CPU time of this thread: limits must stop a script soon, whatever the load of
 * the machine running the test. */
static uint64_t cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The VM still loads and runs a script, with a balanced stack. */
static void check_usable(struct hook_vm *vm, const char *after)
{
    lua_State *L = hook_vm_state(vm);
    CHECK_MSG(lua_gettop(L) == 0, "after %s: %d values left on the stack", after, lua_gettop(L));
    char err[512] = "";
    int rc = run_body(vm, "scripts/ok.lua",
                      "local t = {} for i = 1, 100 do t[i] = i end "
                      "return #t + #string.rep(\"x\", 1000)",
                      err, sizeof(err));
    CHECK_MSG(rc == 0 && lua_tonumber(L, -1) == 1100, "after %s: rc %d: %s", after, rc, err);
    lua_settop(L, 0);
}

/* ---- the sandbox -------------------------------------------------------------- */

/* 0 as the expected code: either limit (which one comes first is not the point). */
#define ANY_LIMIT 1

static void test_escapes(void)
{
    static const struct {
        const char *body;
        int rc;
        const char *want;
    } cases[] = {
        {"os.execute(\"id\")", HOOK_E_RUNTIME, "attempt to index global 'os' (a nil value)"},
        {"io.open(\"/etc/passwd\")", HOOK_E_RUNTIME, "global 'io'"},
        {"require \"ffi\"", HOOK_E_RUNTIME, "attempt to call global 'require'"},
        {"ffi.C.system(\"id\")", HOOK_E_RUNTIME, "global 'ffi'"},
        {"load(string.dump(function() end))", HOOK_E_RUNTIME, "field 'dump'"},
        {"load(\"return 1\")", HOOK_E_RUNTIME, "global 'load'"},
        {"loadstring(\"return 1\")", HOOK_E_RUNTIME, "global 'loadstring'"},
        {"loadfile(\"/etc/passwd\")", HOOK_E_RUNTIME, "global 'loadfile'"},
        {"dofile(\"/etc/passwd\")", HOOK_E_RUNTIME, "global 'dofile'"},
        {"module(\"x\")", HOOK_E_RUNTIME, "global 'module'"},
        {"package.loaded.os.exit()", HOOK_E_RUNTIME, "global 'package'"},
        {"debug.getregistry()", HOOK_E_RUNTIME, "global 'debug'"},
        {"setfenv(tostring, {})", HOOK_E_RUNTIME, "global 'setfenv'"},
        {"getfenv(1)", HOOK_E_RUNTIME, "global 'getfenv'"},
        {"collectgarbage()", HOOK_E_RUNTIME, "global 'collectgarbage'"},
        {"jit.off()", HOOK_E_RUNTIME, "global 'jit'"},
        {"newproxy(true)", HOOK_E_RUNTIME, "global 'newproxy'"},
        {"coroutine.wrap(tostring)", HOOK_E_RUNTIME, "global 'coroutine'"},
        {"print(\"x\")", HOOK_E_RUNTIME, "global 'print'"},
        {"rawget(_G, \"os\")", HOOK_E_RUNTIME, "bad argument #1 to 'rawget'"},
        {"_G.os.exit(1)", HOOK_E_RUNTIME, "global '_G'"},
        {"(\"\").dump(tostring)", HOOK_E_RUNTIME, "field 'dump'"},
        {"getmetatable(\"\").__index.dump(tostring)", HOOK_E_RUNTIME,
         "attempt to index a boolean value"},
        {"setmetatable(\"\", {})", HOOK_E_RUNTIME, "bad argument #1 to 'setmetatable'"},
        {"getmetatable(tessera).__index.x = 1", HOOK_E_RUNTIME, "attempt to index a boolean"},
        /* the memory cap */
        {"string.rep(\"x\", 1e9)", HOOK_E_MEMORY, "memory cap of 64 MB exceeded"},
        {"local s = \"x\" for i = 1, 40 do s = s .. s end", HOOK_E_MEMORY,
         "memory cap of 64 MB exceeded"},
        {"local ok = pcall(string.rep, \"x\", 1e9) return ok", HOOK_E_MEMORY, "memory cap"},
        {"local s = string.rep(\"x\", 1e6) local t = {} for i = 1, 100 do t[i] = s end "
         "cjson.encode(t)",
         HOOK_E_MEMORY, "memory cap"},
        /* the instruction budget, which pcall cannot catch */
        {"while true do end", HOOK_E_BUDGET, "instruction budget of 1000000 exceeded"},
        {"while true do pcall(function() while true do end end) end", HOOK_E_BUDGET,
         "instruction budget"},
        {"while true do xpcall(function() while true do end end, function(e) return e end) end",
         HOOK_E_BUDGET, "instruction budget"},
        {"(\"x\"):rep(100):gsub(\".\", function() while true do end end)", HOOK_E_BUDGET,
         "instruction budget"},
        {"table.sort({3, 2, 1}, function(a, b) while true do end end)", HOOK_E_BUDGET,
         "instruction budget"},
        {"tostring(setmetatable({}, { __tostring = function() while true do end end }))",
         HOOK_E_BUDGET, "instruction budget"},
        {"local x = {} for i = 1, 40 do x = { x, x } end cjson.encode(x)", ANY_LIMIT, ""},
        /* recursion: the Lua stack, and the C stack through library callbacks */
        {"local function f() return 1 + f() end f()", HOOK_E_RUNTIME, "stack overflow"},
        {"local function f() return ((\"x\"):gsub(\"x\", f)) end f()", HOOK_E_RUNTIME,
         "C stack overflow"},
        {"local function f() table.sort({3, 2, 1}, function(a, b) f() return a < b end) end f()",
         HOOK_E_RUNTIME, "C stack overflow"},
        {"local function f() local ok, e = pcall(f) error(e, 0) end f()", HOOK_E_RUNTIME,
         "overflow"},
        /* errors keep the script line */
        {"error(\"boom\")", HOOK_E_RUNTIME, "boom"},
        {"error(\"boom\", 0)", HOOK_E_RUNTIME, "boom"},
        {"error({})", HOOK_E_RUNTIME, "error object is a table value"},
        {"local t = {} t[1] = t cjson.encode(t)", HOOK_E_RUNTIME, "cycle"},
        {"cjson.decode(string.rep(\"[\", 2e6))", HOOK_E_RUNTIME, "larger than"},
        {"cjson.decode(\"{\\\"a\\\": }\")", HOOK_E_RUNTIME, "cjson.decode:"},
    };
    struct hook_vm *vm = new_vm(0, 0);
    if (vm == NULL)
        return;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char err[512] = "";
        uint64_t t0 = cpu_ms();
        int rc = run_body(vm, "scripts/escape.lua", cases[i].body, err, sizeof(err));
        uint64_t ms = cpu_ms() - t0;
        if (cases[i].rc == ANY_LIMIT)
            CHECK_MSG(rc == HOOK_E_BUDGET || rc == HOOK_E_MEMORY, "%s: rc %d: %s", cases[i].body,
                      rc, err);
        else
            CHECK_MSG(rc == cases[i].rc, "%s: rc %d, want %d: %s", cases[i].body, rc, cases[i].rc,
                      err);
        CHECK_MSG(starts_with(err, "scripts/escape.lua:2: ") && strstr(err, cases[i].want),
                  "%s: got \"%s\", want scripts/escape.lua:2: ... %s", cases[i].body, err,
                  cases[i].want);
        CHECK_MSG(ms < 5000, "%s took %llu ms", cases[i].body, (unsigned long long)ms);
        check_usable(vm, cases[i].body);
    }
    hook_vm_free(vm);
}

/* What a script can see: the allow-list and nothing else (read from C, since a
 * script has no _G or getfenv to list its own globals with). */
static void test_environment(void)
{
    struct hook_vm *vm = new_vm(0, 0);
    if (vm == NULL)
        return;
    lua_State *L = hook_vm_state(vm);
    char err[512] = "";
    const char *src = "return { on_request = function() end }";
    int id;
    CHECK(hook_vm_load(vm, "scripts/env.lua", src, strlen(src), &id, err, sizeof(err)) == 0);
    CHECK(hook_push_phase(vm, id, HOOK_REQUEST) == 0);
    lua_getfenv(L, -1);
    static const char *const want[] = {
        "_VERSION", "assert",   "cjson",        "error",  "getmetatable", "ipairs",
        "math",     "next",     "pairs",        "pcall",  "rawequal",     "rawget",
        "rawset",   "select",   "setmetatable", "string", "table",        "tessera",
        "tonumber", "tostring", "type",         "unpack", "xpcall",
    };
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
        const char *k = lua_tostring(L, -2);
        size_t i = 0;
        while (i < ARRAY_SIZE(want) && strcmp(want[i], k) != 0)
            i++;
        /* rawlen exists in LuaJIT builds with Lua 5.2 extensions only */
        CHECK_MSG(i < ARRAY_SIZE(want) || strcmp(k, "rawlen") == 0, "a script sees %s", k);
        n += i < ARRAY_SIZE(want);
        lua_pop(L, 1);
    }
    CHECK_INT(n, ARRAY_SIZE(want));
    lua_getfield(L, -1, "string");
    lua_getfield(L, -1, "dump");
    CHECK(lua_isnil(L, -1));
    lua_settop(L, 0);

    int rc = run_body(vm, "scripts/env.lua",
                      "return type(string.format) .. type(table.concat) .. type(math.floor) .. "
                      "type(cjson.encode) .. type(tessera) .. type(string.dump) .. "
                      "tostring(getmetatable('')) .. tostring(getmetatable(tessera)) .. "
                      "tostring(cjson.null):sub(1, 8)",
                      err, sizeof(err));
    CHECK_MSG(rc == 0, "%s", err);
    if (rc == 0) {
        const char *s = lua_tostring(L, -1);
        CHECK_MSG(s != NULL &&
                      strcmp(s, "functionfunctionfunctionfunctiontablenilfalsefalseuserdata") == 0,
                  "%s", s ? s : "(null)");
    }
    lua_settop(L, 0);
    hook_vm_free(vm);
}

/* Each script has its own globals and its own copies of the libraries. */
static void test_isolation(void)
{
    struct hook_vm *vm = new_vm(0, 0);
    if (vm == NULL)
        return;
    lua_State *L = hook_vm_state(vm);
    char err[512] = "";
    const char *a = "shared = 1\n"
                    "string.upper = nil\n"
                    "cjson.encode = nil\n"
                    "return { on_request = function()\n"
                    "  count = (count or 0) + 1\n"
                    "  return count .. (\"x\"):upper()\n"
                    "end }\n";
    const char *b = "return { on_request = function()\n"
                    "  return tostring(shared) .. string.upper(\"b\") .. cjson.encode({ 1 }) ..\n"
                    "         tostring(count)\n"
                    "end }\n";
    int ida = -1, idb = -1;
    CHECK(hook_vm_load(vm, "scripts/a.lua", a, strlen(a), &ida, err, sizeof(err)) == 0);
    CHECK(hook_vm_load(vm, "scripts/b.lua", b, strlen(b), &idb, err, sizeof(err)) == 0);
    CHECK(ida == 0 && idb == 1);
    for (int round = 1; round <= 2; round++) {
        CHECK(hook_push_phase(vm, ida, HOOK_REQUEST) == 0);
        CHECK(hook_pcall(vm, 0, 1, err, sizeof(err)) == 0);
        char want[16];
        snprintf(want, sizeof(want), "%dX", round); /* globals persist; methods still work */
        CHECK_MSG(lua_tostring(L, -1) && strcmp(lua_tostring(L, -1), want) == 0, "%s",
                  lua_tostring(L, -1));
        lua_settop(L, 0);
    }
    CHECK(hook_push_phase(vm, idb, HOOK_REQUEST) == 0);
    CHECK_MSG(hook_pcall(vm, 0, 1, err, sizeof(err)) == 0, "%s", err);
    CHECK_MSG(lua_tostring(L, -1) && strcmp(lua_tostring(L, -1), "nilB[1]nil") == 0, "%s",
              lua_tostring(L, -1));
    lua_settop(L, 0);
    hook_vm_free(vm);
}

/* The limits follow struct hook_limits, and reset for each call. */
static void test_limits(void)
{
    struct hook_vm *vm = new_vm(20000, 8u << 20);
    if (vm == NULL)
        return;
    lua_State *L = hook_vm_state(vm);
    char err[512] = "";
    int rc = run_body(vm, "scripts/limits.lua", "for i = 1, 1e6 do end", err, sizeof(err));
    CHECK_MSG(rc == HOOK_E_BUDGET &&
                  strcmp(err, "scripts/limits.lua:2: instruction budget of 20000 exceeded") == 0,
              "%d %s", rc, err);
    rc = run_body(vm, "scripts/limits.lua", "return #string.rep(\"x\", 9e6)", err, sizeof(err));
    CHECK_MSG(rc == HOOK_E_MEMORY &&
                  strcmp(err, "scripts/limits.lua:2: memory cap of 8 MB exceeded") == 0,
              "%d %s", rc, err);
    /* a loop of 4000 instructions, 10 times: the budget is per call */
    const char *src = "return { on_request = function() local n = 0 for i = 1, 1000 do n = n + i "
                      "end return n end }";
    int id;
    CHECK(hook_vm_load(vm, "scripts/loop.lua", src, strlen(src), &id, err, sizeof(err)) == 0);
    for (int i = 0; i < 10; i++) {
        CHECK(hook_push_phase(vm, id, HOOK_REQUEST) == 0);
        CHECK_MSG(hook_pcall(vm, 0, 1, err, sizeof(err)) == 0, "%s", err);
        CHECK(lua_tonumber(L, -1) == 500500);
        lua_settop(L, 0);
    }
    /* host pushes are not under the cap: a 10MB argument in an 8MB VM */
    char *big = xmalloc(10u << 20);
    memset(big, 'y', 10u << 20);
    const char *len = "return { on_request = function(s) return #s end }";
    CHECK(hook_vm_load(vm, "scripts/len.lua", len, strlen(len), &id, err, sizeof(err)) == 0);
    CHECK(hook_push_phase(vm, id, HOOK_REQUEST) == 0);
    lua_pushlstring(L, big, 10u << 20);
    free(big);
    rc = hook_pcall(vm, 1, 1, err, sizeof(err));
    CHECK_MSG(rc == 0 && lua_tonumber(L, -1) == (double)(10u << 20), "%d %s", rc, err);
    lua_settop(L, 0);
    check_usable(vm, "a large argument");
    hook_vm_free(vm);
}

/* Every allocation of a load and a call fails in turn: a sweep of memory caps
 * from below what the VM holds after creation up. Each run ends in success or a
 * clean memory error, and the VM frees without leaks (ASan). */
static void test_alloc_failures(void)
{
    const char *src = "local words = {}\n"
                      "for w in ('alpha beta gamma delta'):gmatch('%a+') do words[#words + 1] = w "
                      "end\n"
                      "return { on_request = function(req)\n"
                      "  local out = cjson.decode(cjson.encode({ path = req.path, words = words "
                      "}))\n"
                      "  out.n = #table.concat(words, ',')\n"
                      "  return out\n"
                      "end }\n";
    int ok = 0, mem = 0;
    for (size_t cap = 24u << 10; cap <= 200u << 10; cap += 512) {
        char err[512] = "";
        struct hook_limits lim = {0, cap};
        struct hook_vm *vm = hook_vm_new(&lim, err, sizeof(err));
        CHECK_MSG(vm != NULL, "%s", err);
        if (vm == NULL)
            continue;
        lua_State *L = hook_vm_state(vm);
        int id = -1;
        int rc = hook_vm_load(vm, "scripts/alloc.lua", src, strlen(src), &id, err, sizeof(err));
        CHECK_MSG(rc == 0 || rc == HOOK_E_MEMORY, "cap %zu: load %d %s", cap, rc, err);
        if (rc == 0) {
            json_t *arg = json_pack("{s:s}", "path", "/p");
            CHECK(hook_push_phase(vm, id, HOOK_REQUEST) == 0);
            hook_push_json(L, arg);
            json_decref(arg);
            rc = hook_pcall(vm, 1, 1, err, sizeof(err));
            CHECK_MSG(rc == 0 || rc == HOOK_E_MEMORY, "cap %zu: call %d %s", cap, rc, err);
            if (rc == 0) {
                json_t *v = hook_to_json(L, -1, err, sizeof(err));
                CHECK_MSG(v != NULL && json_integer_value(json_object_get(v, "n")) == 22, "%s",
                          err);
                json_decref(v);
            }
        }
        if (rc == HOOK_E_MEMORY)
            CHECK_MSG(strstr(err, "memory cap of ") != NULL, "%s", err);
        ok += rc == 0;
        mem += rc == HOOK_E_MEMORY;
        lua_settop(L, 0);
        hook_vm_free(vm);
    }
    CHECK_MSG(ok > 0 && mem > 0, "%d runs passed, %d hit the cap", ok, mem);
}

/* ---- loading ------------------------------------------------------------------ */

static void test_load_errors(void)
{
    static const struct {
        const char *src;
        int rc;
        const char *want; /* the whole message */
    } cases[] = {
        {"return {\n  on_request = function()\n    local x = = 1\n  end }\n", HOOK_E_SYNTAX,
         "scripts/bad.lua:3: unexpected symbol near '='"},
        {"local x = 1\nerror(\"at load\")\nreturn {}\n", HOOK_E_RUNTIME,
         "scripts/bad.lua:2: at load"},
        {"local t = nil\nlocal v = t.x\n", HOOK_E_RUNTIME,
         "scripts/bad.lua:2: attempt to index local 't' (a nil value)"},
        {"while true do end\n", HOOK_E_BUDGET,
         "scripts/bad.lua:1: instruction budget of 1000000 exceeded"},
        {"local s = \"x\"\nfor i = 1, 40 do s = s .. s end\n", HOOK_E_MEMORY,
         "scripts/bad.lua:2: memory cap of 64 MB exceeded"},
        {"return 42\n", HOOK_E_SCRIPT,
         "scripts/bad.lua: expected the script to return a table of hooks like `return { "
         "on_request = function(req) ... end }`, got a number"},
        {"", HOOK_E_SCRIPT,
         "scripts/bad.lua: expected the script to return a table of hooks like `return { "
         "on_request = function(req) ... end }`, got nil"},
        {"return { on_reqest = function() end }\n", HOOK_E_SCRIPT,
         "scripts/bad.lua: the returned table has an unknown key \"on_reqest\" (expected "
         "on_request, on_fragment, on_render, on_response, on_log or lambdas)"},
        {"return { function() end }\n", HOOK_E_SCRIPT,
         "scripts/bad.lua: the returned table has the key a number (expected on_request, "
         "on_fragment, on_render, on_response, on_log or lambdas)"},
        {"return { on_request = \"x\" }\n", HOOK_E_SCRIPT,
         "scripts/bad.lua: on_request: expected a function, got \"x\""},
        {"return { lambdas = 1 }\n", HOOK_E_SCRIPT,
         "scripts/bad.lua: lambdas: expected a table of name = function, got a number"},
        {"return { lambdas = { up = true } }\n", HOOK_E_SCRIPT,
         "scripts/bad.lua: lambdas.up: expected a function, got a boolean"},
        {"\033LJ\002\000garbage", HOOK_E_SYNTAX,
         "scripts/bad.lua: precompiled Lua (bytecode) is not accepted: give the source text"},
    };
    struct hook_vm *vm = new_vm(0, 0);
    if (vm == NULL)
        return;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char err[512] = "";
        int id = -7;
        size_t len = cases[i].src[0] == '\033' ? 15 : strlen(cases[i].src);
        int rc = hook_vm_load(vm, "scripts/bad.lua", cases[i].src, len, &id, err, sizeof(err));
        CHECK_MSG(rc == cases[i].rc, "case %zu: rc %d, want %d: %s", i, rc, cases[i].rc, err);
        CHECK_MSG(strcmp(err, cases[i].want) == 0, "case %zu:\n got %s\nwant %s", i, err,
                  cases[i].want);
        CHECK(id == -7);
        check_usable(vm, cases[i].src);
    }
    hook_vm_free(vm);

    /* failed loads take no id */
    vm = new_vm(0, 0);
    if (vm == NULL)
        return;
    char err[512];
    int id = -1;
    CHECK(hook_vm_load(vm, "a", "return 1", 8, &id, err, sizeof(err)) == HOOK_E_SCRIPT);
    CHECK(hook_vm_load(vm, "b", "return {}", 9, &id, err, sizeof(err)) == 0 && id == 0);
    CHECK(hook_vm_load(vm, "c", "x x", 3, &id, err, sizeof(err)) == HOOK_E_SYNTAX && id == 0);
    CHECK(hook_vm_load(vm, "d", "return {}", 9, &id, err, sizeof(err)) == 0 && id == 1);
    CHECK(hook_phases(vm, 1) == 0 && hook_phases(vm, 2) == 0 && hook_script_name(vm, 2) == NULL);
    CHECK(strcmp(hook_script_name(vm, 1), "d") == 0);
    /* a UTF-8 byte order mark is skipped */
    const char *bom = "\xEF\xBB\xBFreturn { on_log = function() end }";
    CHECK(hook_vm_load(vm, "e", bom, strlen(bom), &id, err, sizeof(err)) == 0 &&
          hook_phases(vm, id) == HOOK_PHASE_BIT(HOOK_LOG));
    hook_vm_free(vm);
}

/* Names longer than Lua keeps in messages (59 bytes) are given back in full, and
 * two long names with the same tail stay apart. */
static void test_long_names(void)
{
    struct hook_vm *vm = new_vm(0, 0);
    if (vm == NULL)
        return;
    char a[160], b[160], err[512];
    snprintf(a, sizeof(a), "scripts/%s/a/%s/product.lua",
             "a-rather-long-directory-name-for-scripts", "and-another-level-below-it");
    snprintf(b, sizeof(b), "scripts/%s/b/%s/product.lua",
             "a-rather-long-directory-name-for-scripts", "and-another-level-below-it");
    const char *syn = "return {\n  x = = 1 }\n";
    int id;
    CHECK(hook_vm_load(vm, a, syn, strlen(syn), &id, err, sizeof(err)) == HOOK_E_SYNTAX);
    char want[512];
    snprintf(want, sizeof(want), "%s:2: unexpected symbol near '='", a);
    CHECK_MSG(strcmp(err, want) == 0, "%s", err);

    int ida = -1, idb = -1;
    const char *src = "return { on_request = function()\n  error(\"boom\")\nend }";
    CHECK(hook_vm_load(vm, a, src, strlen(src), &ida, err, sizeof(err)) == 0);
    CHECK(hook_vm_load(vm, b, src, strlen(src), &idb, err, sizeof(err)) == 0);
    const char *names[2] = {a, b};
    int ids[2] = {ida, idb};
    for (int i = 0; i < 2; i++) {
        CHECK(hook_push_phase(vm, ids[i], HOOK_REQUEST) == 0);
        CHECK(hook_pcall(vm, 0, 1, err, sizeof(err)) == HOOK_E_RUNTIME);
        snprintf(want, sizeof(want), "%s:2: boom", names[i]);
        CHECK_MSG(strcmp(err, want) == 0, "got %s, want %s", err, want);
    }
    hook_vm_free(vm);
}

/* ---- calling ------------------------------------------------------------------ */

static struct hook_vm *reenter_vm;
static int reenter_id;

static int api_add(lua_State *L)
{
    lua_pushnumber(L, luaL_checknumber(L, 1) + luaL_checknumber(L, 2));
    return 1;
}

static int api_ctx(lua_State *L)
{
    const int *ctx = hook_ctx(L);
    lua_pushnumber(L, ctx != NULL ? *ctx : -1);
    return 1;
}

/* tessera.upper_lambda(s): calls the script's lambda again through hook_pcall. */
static int api_reenter(lua_State *L)
{
    char err[256];
    luaL_checkstring(L, 1);
    int base = lua_gettop(L);
    if (hook_push_lambda(reenter_vm, reenter_id, "upper", 5) != 0)
        return luaL_error(L, "no lambda");
    lua_pushvalue(L, 1);
    if (hook_pcall(reenter_vm, 1, 1, err, sizeof(err)) != 0)
        return luaL_error(L, "%s", err);
    return lua_gettop(L) - base;
}

static int api_load(lua_State *L)
{
    char err[256];
    int id;
    lua_pushnumber(L, hook_vm_load(reenter_vm, "x", "return {}", 9, &id, err, sizeof(err)));
    return 1;
}

static void test_phases(void)
{
    struct hook_vm *vm = new_vm(0, 0);
    if (vm == NULL)
        return;
    lua_State *L = hook_vm_state(vm);
    char err[512] = "";
    FILE *f = fopen("tests/unit/fixtures/scripts/good.lua", "rb");
    CHECK(f != NULL);
    if (f == NULL) {
        hook_vm_free(vm);
        return;
    }
    char src[4096];
    size_t n = fread(src, 1, sizeof(src), f);
    fclose(f);
    int id = -1;
    CHECK_MSG(hook_vm_load(vm, "scripts/good.lua", src, n, &id, err, sizeof(err)) == 0, "%s", err);
    CHECK(hook_phases(vm, id) ==
          (HOOK_PHASE_BIT(HOOK_REQUEST) | HOOK_PHASE_BIT(HOOK_FRAGMENT) |
           HOOK_PHASE_BIT(HOOK_RENDER) | HOOK_PHASE_BIT(HOOK_RESPONSE) | HOOK_PHASE_BIT(HOOK_LOG)));
    CHECK(hook_has_lambdas(vm, id));

    /* on_request(req) returns req.path .. "!" */
    json_t *req = json_pack("{s:s}", "path", "/product/42");
    CHECK(hook_push_phase(vm, id, HOOK_REQUEST) == 0);
    hook_push_json(L, req);
    json_decref(req);
    CHECK_MSG(hook_pcall(vm, 1, 1, err, sizeof(err)) == 0, "%s", err);
    CHECK(lua_tostring(L, -1) != NULL && strcmp(lua_tostring(L, -1), "/product/42!") == 0);
    lua_settop(L, 0);

    /* on_render(ctx) adds a field; the result converts back */
    json_t *ctx = json_pack("{s:[]}", "items");
    CHECK(hook_push_phase(vm, id, HOOK_RENDER) == 0);
    hook_push_json(L, ctx);
    json_decref(ctx);
    CHECK_MSG(hook_pcall(vm, 1, 1, err, sizeof(err)) == 0, "%s", err);
    json_t *out = hook_to_json(L, -1, err, sizeof(err));
    char *text = out ? json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    CHECK_MSG(text && strcmp(text, "{\"greeting\":\"hello\",\"items\":[]}") == 0, "%s",
              text ? text : err);
    free(text);
    json_decref(out);
    lua_settop(L, 0);

    /* the lambda, and its names */
    CHECK(hook_push_lambda(vm, id, "upper", 5) == 0);
    lua_pushliteral(L, "abc");
    CHECK(hook_pcall(vm, 1, 1, err, sizeof(err)) == 0);
    CHECK(lua_tostring(L, -1) != NULL && strcmp(lua_tostring(L, -1), "ABC") == 0);
    lua_settop(L, 0);
    CHECK(hook_push_lambda(vm, id, "lower", 5) == HOOK_E_ABSENT && lua_gettop(L) == 0);
    CHECK(hook_push_lambda_names(vm, id) == 0 && lua_objlen(L, -1) == 1);
    lua_settop(L, 0);

    /* absent things push nothing */
    const char *only = "return { on_log = function() return 1 end }";
    int id2;
    CHECK(hook_vm_load(vm, "scripts/only.lua", only, strlen(only), &id2, err, sizeof(err)) == 0);
    CHECK(hook_push_phase(vm, id2, HOOK_REQUEST) == HOOK_E_ABSENT && lua_gettop(L) == 0);
    CHECK(hook_push_phase(vm, 99, HOOK_LOG) == HOOK_E_ABSENT && lua_gettop(L) == 0);
    CHECK(hook_push_phase(vm, id2, HOOK__NPHASES) == HOOK_E_ABSENT);
    CHECK(!hook_has_lambdas(vm, id2));
    CHECK(hook_push_lambda_names(vm, id2) == 0 && lua_objlen(L, -1) == 0);
    lua_settop(L, 0);
    CHECK(hook_push_lambda_names(vm, 42) == HOOK_E_ABSENT && lua_gettop(L) == 0);

    /* the host API, registered after the scripts were loaded, and the context */
    const char *api = "return { on_request = function()\n"
                      "  return tessera.add(1, 2) * 100 + tessera.ctx() + "
                      "#tessera.reenter('ab')\n"
                      "end, lambdas = { upper = function(s) return s:upper() end } }";
    int id3;
    CHECK(hook_vm_load(vm, "scripts/api.lua", api, strlen(api), &id3, err, sizeof(err)) == 0);
    CHECK(hook_vm_register(vm, "add", api_add) == 0);
    CHECK(hook_vm_register(vm, "ctx", api_ctx) == 0);
    CHECK(hook_vm_register(vm, "reenter", api_reenter) == 0);
    CHECK(hook_vm_register(vm, "not a name", api_add) == HOOK_E_INVALID);
    CHECK(hook_vm_register(vm, "", api_add) == HOOK_E_INVALID);
    reenter_vm = vm;
    reenter_id = id3;
    int seven = 7;
    hook_vm_set_ctx(vm, &seven);
    CHECK(hook_push_phase(vm, id3, HOOK_REQUEST) == 0);
    CHECK_MSG(hook_pcall(vm, 0, 1, err, sizeof(err)) == 0, "%s", err);
    CHECK_MSG(lua_tonumber(L, -1) == 309, "%g", lua_tonumber(L, -1));
    hook_vm_set_ctx(vm, NULL);
    lua_settop(L, 0);
    CHECK(hook_ctx(L) == NULL);
    /* hook_pcall without a function; loading from inside a call */
    CHECK(hook_pcall(vm, 0, 1, err, sizeof(err)) == HOOK_E_INVALID);
    CHECK(hook_vm_register(vm, "load", api_load) == 0);
    CHECK(run_body(vm, "scripts/nest.lua", "return tessera.load()", err, sizeof(err)) == 0);
    CHECK(lua_tonumber(L, -1) == HOOK_E_INVALID);
    lua_settop(L, 0);
    hook_vm_free(vm);
    lua_State *plain = luaL_newstate();
    CHECK(hook_ctx(plain) == NULL);
    lua_close(plain);

    CHECK(strcmp(hook_phase_name(HOOK_RESPONSE), "on_response") == 0);
    CHECK(strcmp(hook_phase_name(HOOK__NPHASES), "?") == 0);
    CHECK(strcmp(hook_strerror(HOOK_E_BUDGET), "instruction budget exceeded") == 0);
}

/* ---- JSON --------------------------------------------------------------------- */

static void test_json_round_trip(void)
{
    static const char *const texts[] = {
        "{\"a\":[1,2.5,null,true,false,\"h\\u00e9llo \\u2603 \\ud83d\\ude00\"],"
        "\"b\":{\"c\":{},\"d\":[[],[{}]]},\"n\":-3,\"big\":9007199254740992,\"s\":\"\","
        "\"r\":0.1,\"e\":1e300,\"nul\":\"a\\u0000b\"}",
        "[]",
        "{}",
        "[[[]]]",
        "\"just a string\"",
        "42",
        "-0.5",
        "null",
        "[1,\"two\",{\"three\":[3]}]",
    };
    struct hook_vm *vm = new_vm(0, 0);
    if (vm == NULL)
        return;
    lua_State *L = hook_vm_state(vm);
    for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
        json_error_t je;
        json_t *in = json_loads(texts[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        CHECK_MSG(in != NULL, "%s: %s", texts[i], je.text);
        if (in == NULL)
            continue;
        char err[256] = "";
        hook_push_json(L, in);
        json_t *out = hook_to_json(L, -1, err, sizeof(err));
        CHECK_MSG(out != NULL && json_equal(in, out), "%s: %s", texts[i], err);
        /* integers stay integers */
        if (i == 0 && out != NULL)
            CHECK(json_is_integer(json_object_get(out, "big")) &&
                  json_is_real(json_object_get(out, "r")));
        json_decref(in);
        json_decref(out);
        lua_settop(L, 0);
    }

    /* and through the sandbox's cjson, in Lua */
    char err[512] = "";
    int rc = run_body(
        vm, "scripts/json.lua",
        "local v = cjson.decode('{\"a\":[1,2,{\"b\":null}],\"e\":[],\"o\":{},\"u\":\"\\\\u00e9\"}')"
        " assert(v.a[3].b == cjson.null) assert(getmetatable(v.e) == false)"
        " assert(#v.a == 3 and v.u == '\\195\\169')"
        " return cjson.encode(v) .. cjson.encode({}) .. cjson.encode(cjson.empty_array) .."
        " cjson.encode({ 1, 2, 3 }) .. cjson.encode(19.99) .. cjson.encode(3) .."
        " cjson.encode({ [1] = 'a', [3] = 'c' }) .. cjson.encode('x')",
        err, sizeof(err));
    CHECK_MSG(rc == 0, "%s", err);
    if (rc == 0) {
        const char *want = "{\"a\":[1,2,{\"b\":null}],\"e\":[],\"o\":{},\"u\":\"\xC3\xA9\"}{}[]"
                           "[1,2,3]19.993{\"1\":\"a\",\"3\":\"c\"}\"x\"";
        CHECK_MSG(strcmp(lua_tostring(L, -1), want) == 0, "got  %s\nwant %s", lua_tostring(L, -1),
                  want);
    }
    lua_settop(L, 0);
    rc = run_body(vm, "scripts/json.lua", "local v = cjson.decode('[1, 2') return v", err,
                  sizeof(err));
    CHECK_MSG(rc == HOOK_E_RUNTIME && starts_with(err, "scripts/json.lua:2: cjson.decode: "), "%s",
              err);
    /* a tail call leaves no frame: the script's name, without a line */
    rc = run_body(vm, "scripts/json.lua", "return cjson.decode('[1, 2')", err, sizeof(err));
    CHECK_MSG(rc == HOOK_E_RUNTIME && starts_with(err, "scripts/json.lua: cjson.decode: "), "%s",
              err);
    rc = run_body(vm, "scripts/json.lua", "local s = cjson.encode(function() end) return s", err,
                  sizeof(err));
    CHECK_MSG(rc == HOOK_E_RUNTIME &&
                  strcmp(err, "scripts/json.lua:2: cjson.encode: a function has no JSON form") == 0,
              "%s", err);
    rc = run_body(vm, "scripts/json.lua",
                  "local a = cjson.decode('[1]') return pcall(setmetatable, a, {})", err,
                  sizeof(err));
    CHECK_MSG(rc == 0 && lua_toboolean(L, -1) == 0, "%s", err); /* a protected metatable */
    lua_settop(L, 0);
    hook_vm_free(vm);
}

/* Lua values that have no JSON form, and the Lua-only shapes. */
static void test_to_json(void)
{
    static const struct {
        const char *lua;  /* returns the value */
        const char *want; /* compact sorted JSON, or "!" and a fragment of the error */
    } cases[] = {
        {"return { 1, 2, x = 3 }", "{\"1\":1,\"2\":2,\"x\":3}"},
        {"return { [1] = 'a', [3] = 'c' }", "{\"1\":\"a\",\"3\":\"c\"}"},
        {"return { [1.5] = true, [-2] = false }", "{\"-2\":false,\"1.5\":true}"},
        {"return {}", "{}"},
        {"return cjson.empty_array", "[]"},
        {"return { a = cjson.empty_array, n = cjson.null }", "{\"a\":[],\"n\":null}"},
        {"return { 3, 3.5, -0, 2^53, 2^53 + 2, 1e300 }",
         "[3,3.5,0,9007199254740992,9007199254740994.0,1.0000000000000001e300]"},
        {"return 'caf\\195\\169'", "\"caf\xC3\xA9\""},
        {"return { f = { 1, function() end } }", "!f[2]: a function has no JSON form"},
        {"local t = {} t.self = t return { a = t }", "!a.self: the table holds itself"},
        {"return { n = 0/0 }", "!n: NaN has no JSON form"},
        {"return { 1/0 }", "![1]: infinity has no JSON form"},
        {"return { [1/0] = 1 }", "!an infinite key has no JSON form"},
        {"return { [true] = 1 }", "!a boolean key has no JSON form"},
        {"return { s = '\\255' }", "!s: a string that is not UTF-8 has no JSON form"},
        {"return { [1] = 'a', ['1'] = 'b' }", "!this key is in the table twice"},
        {"local a = cjson.decode('[1,2]') a.x = 1 return a",
         "!an array from JSON got keys other than 1..3"},
        {"local t = {} for i = 1, 70 do t = { t } end return t",
         "!more than 64 tables inside each other"},
        {"return { ['odd key'] = { tostring } }", "![\"odd key\"][1]: a function has no JSON"},
    };
    struct hook_vm *vm = new_vm(0, 0);
    if (vm == NULL)
        return;
    lua_State *L = hook_vm_state(vm);
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char src[512], err[512] = "";
        snprintf(src, sizeof(src), "return { on_request = function() %s end }", cases[i].lua);
        int id;
        CHECK_MSG(hook_vm_load(vm, "scripts/v.lua", src, strlen(src), &id, err, sizeof(err)) == 0,
                  "%s", err);
        CHECK(hook_push_phase(vm, id, HOOK_REQUEST) == 0);
        CHECK_MSG(hook_pcall(vm, 0, 1, err, sizeof(err)) == 0, "%s", err);
        json_t *v = hook_to_json(L, -1, err, sizeof(err));
        if (cases[i].want[0] == '!') {
            CHECK_MSG(v == NULL && strstr(err, cases[i].want + 1) != NULL, "%s: %s", cases[i].lua,
                      err);
        } else {
            char *text = v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
            CHECK_MSG(text != NULL && strcmp(text, cases[i].want) == 0, "%s: got %s, want %s",
                      cases[i].lua, text ? text : err, cases[i].want);
            free(text);
        }
        json_decref(v);
        CHECK(lua_gettop(L) == 1);
        lua_settop(L, 0);
    }
    hook_vm_free(vm);

    /* on a plain state too (no sandbox, no array metatable yet) */
    L = luaL_newstate();
    lua_createtable(L, 0, 0);
    lua_pushliteral(L, "v");
    lua_rawseti(L, -2, 1);
    char err[128];
    json_t *v = hook_to_json(L, 1, err, sizeof(err));
    CHECK(v != NULL && json_is_array(v) && json_array_size(v) == 1);
    json_decref(v);
    hook_push_json(L, NULL);
    CHECK(lua_isnil(L, -1));
    lua_close(L);
}

int main(void)
{
    test_escapes();
    test_environment();
    test_isolation();
    test_limits();
    test_alloc_failures();
    test_load_errors();
    test_long_names();
    test_phases();
    test_json_round_trip();
    test_to_json();
    return check_report("test_hooks");
}
