/* SPDX-License-Identifier: Apache-2.0
 *
 * hook_lambda: see hook_lambda.h.
 */
#include "hook_lambda.h"

#include <stdio.h>

#include <event2/buffer.h>
#include <lua.h>

#include "hooks.h"

json_t *hook_lambda_mark(const char *name)
{
    return json_pack("{s:s}", HOOK_LAMBDA_TAG, name);
}

int hook_lambda_call(struct hook_vm *vm, int script_id, const json_t *v, const char *section,
                     size_t len, struct evbuffer *text, char *err, size_t errlen)
{
    const json_t *tag = json_object_get(v, HOOK_LAMBDA_TAG);
    if (!json_is_string(tag) || json_object_size(v) != 1)
        return 0;
    lua_State *L = hook_vm_state(vm);
    int top = lua_gettop(L);
    if (hook_push_lambda(vm, script_id, json_string_value(tag), json_string_length(tag)) != 0)
        return 0; /* not one of this script's: plain data */
    int nargs = 0;
    if (section != NULL) {
        lua_pushlstring(L, section, len);
        nargs = 1;
    }
    if (hook_pcall(vm, nargs, 1, err, errlen) != 0) {
        lua_settop(L, top);
        return -1;
    }
    int rc = 1;
    size_t n = 0;
    switch (lua_type(L, -1)) {
    case LUA_TSTRING:
    case LUA_TNUMBER: {
        const char *s = lua_tolstring(L, -1, &n);
        evbuffer_add(text, s, n);
        break;
    }
    case LUA_TBOOLEAN:
        evbuffer_add_printf(text, "%s", lua_toboolean(L, -1) ? "true" : "false");
        break;
    case LUA_TNIL: break;
    default:
        snprintf(err, errlen, "lambda %s returned a %s, not text", json_string_value(tag),
                 lua_typename(L, lua_type(L, -1)));
        rc = -1;
    }
    lua_settop(L, top);
    return rc;
}
