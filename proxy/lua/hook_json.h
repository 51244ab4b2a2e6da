/* SPDX-License-Identifier: Apache-2.0
 *
 * hook_json: JSON values (jansson) to Lua values and back, for hook scripts. The
 * mapping, which the sandbox's `cjson` table (encode, decode, null, empty_array)
 * uses too:
 *   object  <-> table with string keys (number keys are written as strings)
 *   array   <-> table with keys 1..n; arrays from JSON carry a hidden metatable
 *               so that an empty one converts back to [] (getmetatable gives false
 *               and setmetatable refuses on them); a script writes an empty array
 *               as cjson.empty_array
 *   null    <-> cjson.null (a NULL light userdata, like lua-cjson's)
 *   number  <-> number: integral values within 2^53 become JSON integers, others
 *               reals; JSON integers beyond 2^53 lose precision in Lua
 *   string, true, false as themselves (strings must be UTF-8 to leave Lua)
 * Thread: whatever the lua_State allows (a hook VM: its one thread).
 */
#ifndef TESSERA_LUA_HOOK_JSON_H
#define TESSERA_LUA_HOOK_JSON_H

#include <stddef.h>

#include <jansson.h>
#include <lua.h>

#define HOOK_JSON_MAX_DEPTH 64 /* tables inside each other that hook_to_json takes */

/* Pushes v (NULL pushes nil) as a Lua value. v is not changed nor kept. Raises a
 * Lua error when out of memory (disarmed: the process is; armed: the memory cap)
 * or when v nests deeper than ~4000 levels (jansson's parser stops at 2048), so
 * call it disarmed (before hook_pcall) or inside a protected call. */
void hook_push_json(lua_State *L, const json_t *v);

/* The Lua value at idx as a new JSON value (the caller owns the reference), or
 * NULL with a message in err naming where in the value it failed ("items[2]: a
 * function has no JSON form"): a function, userdata or thread, NaN or infinity, a
 * string that is not UTF-8, a key that is neither string nor number, a table
 * holding itself, nesting deeper than HOOK_JSON_MAX_DEPTH, or a value larger
 * than the sandbox's memory cap (64MB without a sandbox) once in C memory.
 * Reads tables raw (no metamethod runs). Called from a C function while a script
 * runs, its work counts against the script's instruction budget ("instruction
 * budget exceeded"). Raises a Lua error only when the Lua stack cannot grow by
 * ~140 slots (out of memory): call it disarmed (after hook_pcall returned) or
 * inside a protected call (a tessera function). err may be NULL. */
json_t *hook_to_json(lua_State *L, int idx, char *err, size_t errlen);

#endif
