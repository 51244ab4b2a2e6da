/* SPDX-License-Identifier: Apache-2.0
 *
 * hook_lambda: Mustache lambdas (render/tpl.h's tpl_lambda_cb) backed by a hook
 * script's `lambdas` table. In the template's data a lambda is the object
 * { "__lambda__": "NAME" } (hook_lambda_mark makes one); the engine offers it to
 * the callback, which calls the script's lambdas.NAME with the section's raw
 * text (no argument for an interpolation) and appends what it returns: a string,
 * a number as text, true/false as words, nil as nothing. The engine then renders
 * that text as a template (tpl.h).
 *
 * Thread: the VM's.
 */
#ifndef TESSERA_LUA_HOOK_LAMBDA_H
#define TESSERA_LUA_HOOK_LAMBDA_H

#include <stddef.h>

#include <jansson.h>

struct evbuffer;
struct hook_vm;

#define HOOK_LAMBDA_TAG "__lambda__"

/* A new lambda object for NAME (the caller owns the reference). */
json_t *hook_lambda_mark(const char *name);

/* tpl_lambda_cb's work: returns 0 when v is not one of the script's lambdas, 1
 * when it called it and appended the result to text, or -1 with err filled
 * (a Lua error, a limit, a result that is a table or function). */
int hook_lambda_call(struct hook_vm *vm, int script_id, const json_t *v, const char *section,
                     size_t len, struct evbuffer *text, char *err, size_t errlen);

#endif
