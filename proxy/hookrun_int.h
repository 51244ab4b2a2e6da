/* SPDX-License-Identifier: Apache-2.0
 *
 * hookrun_int: what hookrun.c (VMs, data phases, lambdas), hookrun_req.c
 * (on_request) and hookrun_res.c (on_response, on_log) share. Thread: the
 * request's worker.
 */
#ifndef TESSERA_HOOKRUN_INT_H
#define TESSERA_HOOKRUN_INT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <lua.h>

#include "lua/hooks.h"
#include "route.h"

struct evbuffer;
struct h1_header;
struct h1_msg;
struct req;

#define HOOK_HEAD_MAX (64u * 1024u) /* a head rebuilt by on_response */
#define HOOK_KEY_MAX 1024u          /* bytes of key parts */
#define HOOK_LOG_MAX 2048u          /* bytes of extra log fields */

struct hook_param {
    const char *name; /* the route's (pattern) name */
    size_t name_len;
    char *value;
};

struct hookreq {
    const struct cfg_route *route;
    struct hook_gen *gen; /* a reference */
    struct hook_vm *vm;
    int sid;
    unsigned phases;
    int has_lambdas;
    int ignore_errors;
    char *target; /* rewritten path and query */
    char *key;
    size_t key_len;
    struct hook_param params[ROUTE_MAX_PARAMS];
    size_t nparams;
    int64_t ttl;
    int no_store;
    json_t *vars;            /* req.vars as on_request left it, or NULL */
    const struct lazy *lazy; /* during on_request: what req's lazy fields come from */
    struct evbuffer *head;   /* the head on_response rebuilt, parsed into msg */
    struct h1_msg *msg;
    char *log;
};

/* Whether r's script has phase p. */
int hookrun__has(const struct req *r, enum hook_phase p);

/* Logs a hook's error; returns -1 under "fail", 0 under "ignore". */
int hookrun__failed(struct req *r, enum hook_phase p, const char *err);

/* Calls phase p with the nargs values on top of the stack. Returns 0 with one
 * result on the stack, or -1 with the arguments gone (*fail: the policy's -1 or
 * 0; an error is logged). */
int hookrun__call(struct req *r, enum hook_phase p, int nargs, int *fail);

/* Sets field k of the table on top to v[0..n). */
void hookrun__set_str(lua_State *L, const char *k, const char *v, size_t n);

#define HOOK_NAME_MAX 128 /* bytes of a field name a script sees */

/* hd's name lower-cased into name (cut to HOOK_NAME_MAX - 1 bytes); its length. */
size_t hookrun__lower_name(const struct h1_header *hd, char name[HOOK_NAME_MAX]);

/* Pushes m's fields as a table: names lower-cased, repeated fields joined ", ". */
void hookrun__push_headers(lua_State *L, const struct h1_msg *m);

/* No control bytes (a value a script may put into a head or a target). */
int hookrun__clean_text(const char *s, size_t n);

/* An RFC 9110 token. */
int hookrun__is_token(const char *s, size_t n);

/* Sets field vars of the table on top to req.vars (when on_request set any). */
void hookrun__push_vars(const struct req *r, lua_State *L);

#endif
