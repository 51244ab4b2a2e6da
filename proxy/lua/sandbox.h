/* SPDX-License-Identifier: Apache-2.0
 *
 * sandbox: a LuaJIT state under two limits, a memory cap (our allocator) and an
 * instruction budget (a count hook), with the JIT off so that the hook runs. The
 * configuration loader (cfg.c) runs its file in a bare one; the hook VMs (hooks.c)
 * open an allow-list of libraries in theirs (sandbox_open_libs).
 *
 * The limits hold only while the sandbox is armed (sandbox_arm .. sandbox_disarm):
 * the host pushes its own data disarmed, so a host push never meets the cap. When
 * a limit is hit, the sandbox stays "tripped" until the next arm: every count hook
 * raises again and the pcall/xpcall of sandbox_open_libs re-raise, so a script
 * cannot catch a limit and go on.
 *
 * Ownership: the sandbox owns its lua_State (sandbox_free closes it). Thread: one
 * sandbox is used by one thread at a time; different sandboxes are independent.
 */
#ifndef TESSERA_LUA_SANDBOX_H
#define TESSERA_LUA_SANDBOX_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

struct sandbox;

/* Which limit stopped the code that ran since the last sandbox_arm. */
enum sandbox_limit {
    SANDBOX_OK = 0,
    SANDBOX_BUDGET, /* more instructions than max_steps (or a C helper's charge) */
    SANDBOX_MEMORY, /* an allocation past the memory cap */
};

/* Creates a state with no library opened and an empty globals table, disarmed.
 * max_memory is the cap in bytes of everything the state allocates; max_steps the
 * Lua instructions allowed per arming (counted in steps of at most 1000, so a
 * budget overshoots by less than that). Returns NULL when no state can be made.
 * On a LuaJIT that refuses lua_newstate (a non-GC64 x86_64 build) the state falls
 * back to luaL_newstate and the memory cap is checked by the count hook: best
 * effort there, a single large allocation can still pass it. */
struct sandbox *sandbox_new(size_t max_memory, uint64_t max_steps);

/* Closes the state (Lua finalizers run, disarmed) and frees. NULL is allowed. */
void sandbox_free(struct sandbox *sb);

lua_State *sandbox_state(const struct sandbox *sb);

/* A pointer the owner keeps with the sandbox (hooks.c: its struct hook_vm), for
 * code that has only the lua_State. NULL until set. */
void sandbox_set_user(struct sandbox *sb, void *user);
void *sandbox_user(const struct sandbox *sb);

/* The sandbox whose state L is (or is a thread of); NULL for another state. */
struct sandbox *sandbox_of(lua_State *L);

/* Arms the limits: the budget starts again at max_steps, the memory cap applies
 * from now on, and the tripped limit is cleared. */
void sandbox_arm(struct sandbox *sb);

/* Lifts the limits (memory is still counted). Does not clear the tripped limit. */
void sandbox_disarm(struct sandbox *sb);

/* The limit hit since the last arm, or SANDBOX_OK. */
enum sandbox_limit sandbox_tripped(const struct sandbox *sb);

/* Where the limit was hit: the chunk name as given to lua_load ("=scripts/x.lua")
 * and the line, or NULL and 0 when no Lua line was running (the chunk name is a
 * copy held by the sandbox, cut to 255 bytes). */
const char *sandbox_where(const struct sandbox *sb, int *line);

size_t sandbox_max_memory(const struct sandbox *sb);
/* "64 MB", "512 KB" or "1000 bytes": a memory cap as messages write it. */
const char *sandbox_fmt_size(char buf[32], size_t bytes);
uint64_t sandbox_max_steps(const struct sandbox *sb);

/* Bytes the state may still allocate while armed (SIZE_MAX when disarmed). C
 * helpers that allocate outside the state (jansson) bound themselves with it. */
size_t sandbox_room(const struct sandbox *sb);

/* Instructions left in this arming (UINT64_MAX when disarmed). */
uint64_t sandbox_steps_left(const struct sandbox *sb);

/* For C functions called by scripts: counts `steps` units of work against the
 * budget and, when that exceeds it, trips the budget. Returns 0, or -1 when the
 * budget is tripped (the caller frees what it holds, then sandbox_raise). */
int sandbox_charge(struct sandbox *sb, uint64_t steps);

/* Trips `limit` (when nothing is tripped yet) at the running Lua line. */
void sandbox_trip(struct sandbox *sb, lua_State *L, enum sandbox_limit limit);

/* Raises the Lua error of the tripped limit ("NAME:LINE: instruction budget of N
 * exceeded"). Does not return. For C functions called by scripts. */
int sandbox_raise(lua_State *L);

/* Opens the libraries a hook script may use and keeps them in the registry;
 * sandbox_push_env then pushes a fresh environment table made of:
 *   assert error ipairs next pairs pcall select tonumber tostring type unpack
 *   xpcall rawequal rawget rawset setmetatable getmetatable _VERSION,
 *   string (without dump), table, math
 * each library a copy of its own per environment, so that one script changing
 * string.format does not change it for another. pcall and xpcall are our own:
 * they do not catch a tripped limit. The string metatable gets __metatable =
 * false, so getmetatable("") cannot reach the shared string table. Nothing else
 * is reachable: no os, io, require, load*, dofile, debug, jit, ffi, getfenv,
 * setfenv, collectgarbage, newproxy, coroutine, print or _G. The state's own
 * globals table is left empty. Returns 0, or -1 when out of memory. Disarmed. */
int sandbox_open_libs(struct sandbox *sb);
void sandbox_push_env(struct sandbox *sb);

#endif
