/* SPDX-License-Identifier: Apache-2.0
 *
 * hooks: Lua hook scripts (LuaJIT), run in a sandbox (lua/sandbox.h). A worker
 * thread owns one struct hook_vm, a single lua_State into which every route's
 * script is loaded once; a script is a chunk that returns its hooks:
 *
 *     return {
 *       on_request = function(req) ... end,      -- also on_fragment, on_render,
 *       lambdas = { upper = function(text) ... end },  -- on_response, on_log
 *     }
 *
 * Each script has an environment of its own (globals it sets persist in this VM
 * between calls, never across scripts or workers): string (no dump), table, math,
 * cjson (encode, decode, null, empty_array; see hook_json.h), tessera (the host
 * API, hook_vm_register) and the base functions listed in sandbox.h. print is not
 * there: the host API is where a log function with the request's context belongs.
 *
 * Every call runs under an instruction budget and the VM under a memory cap
 * (struct hook_limits); errors read "NAME:LINE: message", NAME the script name as
 * given to hook_vm_load. After any error the VM is usable again.
 *
 * Ownership: the VM owns its state and its scripts; hook_vm_free releases both.
 * Thread: a VM is used by one thread only (no locking inside); VMs are
 * independent. Calls may re-enter: a tessera function (C) called by a script may
 * call hook_pcall again; the inner call runs in the outer call's budget.
 */
#ifndef TESSERA_LUA_HOOKS_H
#define TESSERA_LUA_HOOKS_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

struct hook_vm;

#define HOOK_DEFAULT_INSTRUCTIONS 1000000u     /* per hook_pcall */
#define HOOK_DEFAULT_MEMORY ((size_t)64 << 20) /* per VM */

struct hook_limits {
    uint64_t max_instructions; /* per invocation; 0: HOOK_DEFAULT_INSTRUCTIONS */
    size_t max_memory;         /* of the whole state, bytes; 0: HOOK_DEFAULT_MEMORY */
};

enum hook_phase {
    HOOK_REQUEST = 0, /* on_request */
    HOOK_FRAGMENT,    /* on_fragment */
    HOOK_RENDER,      /* on_render */
    HOOK_RESPONSE,    /* on_response */
    HOOK_LOG,         /* on_log */
    HOOK__NPHASES
};
#define HOOK_PHASE_BIT(p) (1u << (p))

enum hook_error {
    HOOK_OK = 0,
    HOOK_E_SYNTAX = -1,  /* the script does not compile, or is bytecode */
    HOOK_E_RUNTIME = -2, /* a Lua error */
    HOOK_E_BUDGET = -3,  /* more instructions than max_instructions */
    HOOK_E_MEMORY = -4,  /* the state reached max_memory */
    HOOK_E_SCRIPT = -5,  /* the script did not return a valid table of hooks */
    HOOK_E_ABSENT = -6,  /* no such script, phase or lambda */
    HOOK_E_INVALID = -7, /* a bad argument from the host (a name, a nesting) */
};

/* Text of an enum hook_error ("instruction budget exceeded"). */
const char *hook_strerror(int code);
/* "on_request" ... "on_log"; "?" for anything else. */
const char *hook_phase_name(enum hook_phase phase);

/* Creates a VM; lim may be NULL (defaults). Returns NULL with a message in err
 * when no Lua state can be made. Thread: any; the VM then stays on one thread. */
struct hook_vm *hook_vm_new(const struct hook_limits *lim, char *err, size_t errlen);

/* Closes the state and frees everything. NULL is allowed. Not from inside a call. */
void hook_vm_free(struct hook_vm *vm);

/* The state, for pushing arguments and reading results around hook_pcall. Host
 * pushes are not under the memory cap; they raise (abort, via the panic handler)
 * only when the process itself is out of memory. */
lua_State *hook_vm_state(struct hook_vm *vm);

/* Compiles src (Lua source text; bytecode is refused) as script NAME, runs it
 * under the budget and checks that it returns a table whose keys are among
 * on_request, on_fragment, on_render, on_response, on_log (functions) and lambdas
 * (a table of name = function). name is copied; errors read "NAME:LINE: message"
 * or "NAME: message". On success sets *script_id (0, 1, ... in load order) and
 * returns 0; else returns HOOK_E_SYNTAX, HOOK_E_RUNTIME, HOOK_E_BUDGET,
 * HOOK_E_MEMORY or HOOK_E_SCRIPT, and the VM is as it was (but for garbage). Not
 * from inside a call (HOOK_E_INVALID). */
int hook_vm_load(struct hook_vm *vm, const char *name, const char *src, size_t len, int *script_id,
                 char *err, size_t errlen);

/* Bitmask of HOOK_PHASE_BIT(phase) the script defines; 0 for an unknown id. */
unsigned hook_phases(const struct hook_vm *vm, int script_id);

/* The script's name as given to hook_vm_load, or NULL for an unknown id. */
const char *hook_script_name(const struct hook_vm *vm, int script_id);

/* Whether the script has lambdas (a non-empty lambdas table); 0 for an unknown id. */
int hook_has_lambdas(const struct hook_vm *vm, int script_id);

/* Pushes an array of the script's lambda names, sorted. Returns 0, or
 * HOOK_E_ABSENT with nothing pushed for an unknown id. */
int hook_push_lambda_names(struct hook_vm *vm, int script_id);

/* Push the script's phase function, or its lambda NAME (len bytes), onto the
 * state. Return 0, or HOOK_E_ABSENT with nothing pushed. */
int hook_push_phase(struct hook_vm *vm, int script_id, enum hook_phase phase);
int hook_push_lambda(struct hook_vm *vm, int script_id, const char *name, size_t len);

/* Calls the function below the nargs arguments on top of the stack (like
 * lua_pcall) under the instruction budget and the memory cap. On success
 * returns 0 with nresults values (LUA_MULTRET allowed) where the function was. On
 * error pops the function and arguments, writes the message to err ("NAME:LINE:
 * message"; for the limits "NAME:LINE: instruction budget of N exceeded" and
 * "NAME:LINE: memory cap of N MB exceeded") and returns HOOK_E_RUNTIME,
 * HOOK_E_BUDGET or HOOK_E_MEMORY; after a memory error the state has had a full
 * GC. May re-enter (see above). err may be NULL. */
int hook_pcall(struct hook_vm *vm, int nargs, int nresults, char *err, size_t errlen);

/* Sets tessera.NAME = fn for every script of the VM, loaded or to be loaded (a
 * script may shadow it in its own tessera table). NAME is an identifier. Returns
 * 0 or HOOK_E_INVALID. The function finds its context with hook_ctx. */
int hook_vm_register(struct hook_vm *vm, const char *name, lua_CFunction fn);

/* The per-call context: the host sets it before hook_pcall (e.g. the request)
 * and tessera functions read it with hook_ctx(L). Not owned by the VM. */
void hook_vm_set_ctx(struct hook_vm *vm, void *ctx);
void *hook_ctx(lua_State *L); /* NULL when L is not a hook VM's or no ctx is set */

#endif
