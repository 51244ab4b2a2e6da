/* SPDX-License-Identifier: Apache-2.0
 *
 * hooks_int: what hooks.c takes from hook_json.c. Thread: the VM's.
 */
#ifndef TESSERA_LUA_HOOKS_INT_H
#define TESSERA_LUA_HOOKS_INT_H

#include <lua.h>

/* Creates what the cjson functions keep in the registry. Raises a Lua error when
 * out of memory: call it in a protected call, once per state. */
void hook__json_init(lua_State *L);

/* Pushes a new `cjson` table (encode, decode, null, empty_array), one per script
 * environment so that a script changing it changes only its own. Raises a Lua
 * error when out of memory. */
void hook__push_cjson(lua_State *L);

#endif
