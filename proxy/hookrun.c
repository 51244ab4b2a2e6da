/* SPDX-License-Identifier: Apache-2.0
 *
 * hookrun: see hookrun.h. The tables a phase gets are built for the call and
 * read back after it: a script changes the request by assigning to req.channel,
 * req.path, req.params.NAME and req.key_parts, and a response by assigning to
 * res.headers.NAME, res.ttl, res.tags and res.cacheable. A phase that gets data
 * (on_fragment, on_render) replaces it with what it returns, or, returning
 * nothing, with its argument as the script left it.
 */
#include "hookrun.h"
#include "hookrun_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <lauxlib.h>

#include "cfg.h"
#include "h1.h"
#include "log.h"
#include "lua/hook_json.h"
#include "lua/hook_lambda.h"
#include "lua/hooks.h"
#include "render/tpl.h"
#include "route.h"
#include "util.h"
#include "worker_int.h"

/* One configuration generation's VM on one worker: referenced by the worker
 * (its two latest) and by each request using it. */
struct hook_gen {
    int refs;
    struct cfg *cfg; /* a reference: the VM's scripts are this generation's */
    struct hook_vm *vm;
    int *sid; /* [cfg->nroutes]: script id, -1 none, -2 failed to load */
};

struct hookrt {
    struct hook_gen *gen[2]; /* [0] the newest */
};

static const char *script_name_of(const struct hookreq *h)
{
    return h->route->hooks;
}

/* ---- VMs per worker and generation -------------------------------------------- */

static void gen_unref(struct hook_gen **gp)
{
    struct hook_gen *g = *gp;
    *gp = NULL;
    if (g == NULL || --g->refs > 0)
        return;
    hook_vm_free(g->vm);
    free(g->sid);
    cfg_unref(g->cfg);
    free(g);
}

static struct hook_gen *gen_make(struct cfg *c)
{
    char err[512];
    struct hook_vm *vm = hook_vm_new(NULL, err, sizeof(err));
    if (vm == NULL) {
        log_err("hooks", "cannot make a Lua state: %s", err);
        return NULL;
    }
    struct hook_gen *g = xcalloc(1, sizeof(*g));
    g->refs = 1;
    g->vm = vm;
    g->cfg = cfg_ref(c);
    g->sid = xcalloc(c->nroutes ? c->nroutes : 1, sizeof(*g->sid));
    for (size_t i = 0; i < c->nroutes; i++) {
        const struct cfg_route *rt = &c->routes[i];
        g->sid[i] = -1;
        if (rt->hooks == NULL)
            continue;
        for (size_t k = 0; k < i; k++)
            if (c->routes[k].hooks != NULL && strcmp(c->routes[k].hooks, rt->hooks) == 0)
                g->sid[i] = g->sid[k]; /* one script, loaded once */
        if (g->sid[i] != -1)
            continue;
        int id;
        if (hook_vm_load(vm, rt->hooks, rt->hooks_src, rt->hooks_len, &id, err, sizeof(err)) != 0) {
            log_err("hooks", "%s", err);
            g->sid[i] = -2;
        } else {
            g->sid[i] = id;
        }
    }
    for (size_t i = 0; i < c->nroutes; i++) {
        const struct cfg_route *rt = &c->routes[i];
        unsigned page_only = HOOK_PHASE_BIT(HOOK_FRAGMENT) | HOOK_PHASE_BIT(HOOK_RENDER);
        if (g->sid[i] < 0 || rt->template != NULL)
            continue;
        if ((hook_phases(vm, g->sid[i]) & page_only) != 0 || hook_has_lambdas(vm, g->sid[i]))
            log_warn("hooks",
                     "route %s: on_fragment, on_render and lambdas of %s run on page routes "
                     "only, not on this one",
                     rt->path, rt->hooks);
    }
    return g;
}

static struct hook_gen *gen_for(struct worker *w, struct cfg *c)
{
    if (w->hookrt == NULL)
        w->hookrt = xcalloc(1, sizeof(*w->hookrt));
    struct hookrt *rt = w->hookrt;
    for (int i = 0; i < 2; i++)
        if (rt->gen[i] != NULL && rt->gen[i]->cfg == c)
            return rt->gen[i];
    struct hook_gen *g = gen_make(c);
    if (g == NULL)
        return NULL;
    gen_unref(&rt->gen[1]); /* the older one goes once its requests are done */
    rt->gen[1] = rt->gen[0];
    rt->gen[0] = g;
    return g;
}

void hookrun_worker_fini(struct worker *w)
{
    if (w->hookrt == NULL)
        return;
    gen_unref(&w->hookrt->gen[0]);
    gen_unref(&w->hookrt->gen[1]);
    free(w->hookrt);
    w->hookrt = NULL;
}

/* ---- per request ---------------------------------------------------------------- */

int hookrun_begin(struct req *r, const struct cfg_route *route)
{
    struct hook_gen *g = gen_for(r->w, r->cfg);
    size_t idx = (size_t)(route - r->cfg->routes);
    if (g == NULL || idx >= r->cfg->nroutes || g->sid[idx] < 0) {
        r->ops->respond(r, 500, "", "the route's hook script is not loaded", 0);
        return -1;
    }
    struct hookreq *h = xcalloc(1, sizeof(*h));
    h->route = route;
    h->gen = g;
    g->refs++;
    h->vm = g->vm;
    h->sid = g->sid[idx];
    h->phases = hook_phases(g->vm, h->sid);
    h->has_lambdas = hook_has_lambdas(g->vm, h->sid);
    h->ignore_errors = route->hook_errors_ignore;
    h->ttl = -1;
    r->hk = h;
    return 0;
}

void hookrun_end(struct req *r)
{
    struct hookreq *h = r->hk;
    if (h == NULL)
        return;
    r->hk = NULL;
    free(h->target);
    free(h->key);
    for (size_t i = 0; i < h->nparams; i++)
        free(h->params[i].value);
    if (h->head != NULL)
        evbuffer_free(h->head);
    free(h->msg);
    free(h->log);
    json_decref(h->vars);
    gen_unref(&h->gen);
    free(h);
}

void hookrun_clone(struct req *dst, const struct req *src)
{
    const struct hookreq *s = src->hk;
    if (s == NULL)
        return;
    struct hookreq *h = xcalloc(1, sizeof(*h));
    h->route = s->route;
    h->gen = s->gen;
    h->gen->refs++;
    h->vm = s->vm;
    h->sid = s->sid;
    h->phases = s->phases & ~HOOK_PHASE_BIT(HOOK_REQUEST); /* it ran */
    h->has_lambdas = s->has_lambdas;
    h->ignore_errors = s->ignore_errors;
    h->ttl = -1;
    if (s->target != NULL)
        h->target = xstrdup(s->target);
    if (s->key != NULL) {
        h->key = xmalloc(s->key_len);
        memcpy(h->key, s->key, s->key_len);
        h->key_len = s->key_len;
    }
    for (size_t i = 0; i < s->nparams; i++) {
        h->params[i] = s->params[i];
        h->params[i].value = xstrdup(s->params[i].value);
    }
    h->nparams = s->nparams;
    h->vars = json_incref(s->vars);
    dst->hk = h;
}

int hookrun__has(const struct req *r, enum hook_phase p)
{
    return r->hk != NULL && (r->hk->phases & HOOK_PHASE_BIT(p)) != 0;
}

/* Logs a hook's error; returns -1 under "fail", 0 under "ignore". */
int hookrun__failed(struct req *r, enum hook_phase p, const char *err)
{
    log_warn("hooks", "%s %s: %s: %s", r->method, r->target ? r->target : "", hook_phase_name(p),
             err);
    return r->hk->ignore_errors ? 0 : -1;
}

/* Calls phase p with the nargs values on top of the stack (the function is
 * pushed below them here). Returns 0 with one result on the stack, or -1 with
 * nothing (the error logged). */
int hookrun__call(struct req *r, enum hook_phase p, int nargs, int *fail)
{
    struct hookreq *h = r->hk;
    lua_State *L = hook_vm_state(h->vm);
    if (hook_push_phase(h->vm, h->sid, p) != 0) {
        lua_pop(L, nargs);
        *fail = 0;
        return -1;
    }
    lua_insert(L, -(nargs + 1));
    char err[512];
    hook_vm_set_ctx(h->vm, r);
    int rc = hook_pcall(h->vm, nargs, 1, err, sizeof(err));
    hook_vm_set_ctx(h->vm, NULL);
    if (rc != 0) {
        *fail = hookrun__failed(r, p, err);
        return -1;
    }
    return 0;
}

void hookrun__set_str(lua_State *L, const char *k, const char *v, size_t n)
{
    lua_pushlstring(L, v, n);
    lua_setfield(L, -2, k);
}

size_t hookrun__lower_name(const struct h1_header *hd, char name[HOOK_NAME_MAX])
{
    size_t n = hd->name_len < HOOK_NAME_MAX ? hd->name_len : HOOK_NAME_MAX - 1;
    for (size_t k = 0; k < n; k++)
        name[k] =
            (hd->name[k] >= 'A' && hd->name[k] <= 'Z') ? (char)(hd->name[k] | 0x20) : hd->name[k];
    return n;
}

/* Field names lower-cased; repeated fields joined with ", ". */
void hookrun__push_headers(lua_State *L, const struct h1_msg *m)
{
    lua_createtable(L, 0, (int)m->num_headers);
    for (size_t i = 0; i < m->num_headers; i++) {
        const struct h1_header *hd = &m->headers[i];
        char name[HOOK_NAME_MAX];
        size_t n = hookrun__lower_name(hd, name);
        lua_pushlstring(L, name, n);
        lua_pushvalue(L, -1);
        lua_rawget(L, -3);
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            lua_pushlstring(L, hd->value, hd->value_len);
        } else {
            lua_pushliteral(L, ", ");
            lua_pushlstring(L, hd->value, hd->value_len);
            lua_concat(L, 3);
        }
        lua_rawset(L, -3);
    }
}

/* A string a script may put into a head or a target: no control bytes. */
int hookrun__clean_text(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

int hookrun__is_token(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", c) != NULL)
            return 0;
    }
    return 1;
}

/* Sets field vars of the table on top to req.vars (when on_request set any). */
void hookrun__push_vars(const struct req *r, lua_State *L)
{
    if (r->hk->vars == NULL)
        return;
    hook_push_json(L, r->hk->vars);
    lua_setfield(L, -2, "vars");
}

/* ---- data phases ---------------------------------------------------------------- */

/* The result on top (or, when nil, the argument at arg) as the new *data. */
static int take_data(struct req *r, enum hook_phase p, lua_State *L, int arg, json_t **data)
{
    int idx = lua_isnil(L, -1) ? arg : lua_gettop(L);
    char err[256];
    json_t *v = hook_to_json(L, idx, err, sizeof(err));
    if (v == NULL) {
        char why[400];
        snprintf(why, sizeof(why), "%s: its data has no JSON form: %s", script_name_of(r->hk), err);
        return hookrun__failed(r, p, why);
    }
    json_decref(*data);
    *data = v;
    return 0;
}

int hookrun_fragment(struct req *r, const char *name, json_t **data, int status, const char *from)
{
    if (!hookrun__has(r, HOOK_FRAGMENT))
        return 0;
    lua_State *L = hook_vm_state(r->hk->vm);
    int top = lua_gettop(L);
    lua_pushstring(L, name);
    hook_push_json(L, *data);
    int arg = lua_gettop(L);
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, status);
    lua_setfield(L, -2, "status");
    lua_pushstring(L, from);
    lua_setfield(L, -2, "from");
    hookrun__push_vars(r, L);
    int fail = 0, rc = 0;
    lua_pushvalue(L, top + 1);
    lua_pushvalue(L, arg);
    lua_pushvalue(L, arg + 1);
    if (hookrun__call(r, HOOK_FRAGMENT, 3, &fail) < 0)
        rc = fail;
    else
        rc = take_data(r, HOOK_FRAGMENT, L, arg, data);
    lua_settop(L, top);
    return rc;
}

int hookrun_shapes_page(const struct req *r)
{
    return r->hk != NULL &&
           (hookrun__has(r, HOOK_FRAGMENT) || hookrun__has(r, HOOK_RENDER) || r->hk->has_lambdas);
}

/* tpl_lambda_cb over the request's script (lua/hook_lambda.h). */
static int lambda_cb(void *arg, const json_t *v, const char *section, size_t len,
                     struct evbuffer *text)
{
    struct req *r = arg;
    struct hookreq *h = r->hk;
    char err[512];
    hook_vm_set_ctx(h->vm, r);
    int rc = hook_lambda_call(h->vm, h->sid, v, section, len, text, err, sizeof(err));
    hook_vm_set_ctx(h->vm, NULL);
    if (rc < 0)
        log_warn("hooks", "%s %s: lambda: %s", r->method, r->target ? r->target : "", err);
    return rc;
}

static void add_lambdas(struct req *r, json_t *data)
{
    lua_State *L = hook_vm_state(r->hk->vm);
    int top = lua_gettop(L);
    if (hook_push_lambda_names(r->hk->vm, r->hk->sid) != 0)
        return;
    int n = (int)lua_objlen(L, -1);
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        const char *name = lua_tostring(L, -1);
        if (name != NULL && json_object_get(data, name) == NULL)
            json_object_set_new(data, name, hook_lambda_mark(name));
        lua_pop(L, 1);
    }
    lua_settop(L, top);
}

int hookrun_render(struct req *r, json_t **data, struct tpl_render_opts *o)
{
    if (r->hk == NULL)
        return 0;
    if (r->hk->vars != NULL && json_is_object(*data))
        json_object_set(*data, "vars", r->hk->vars); /* {{vars.bucket}} */
    if (hookrun__has(r, HOOK_RENDER)) {
        lua_State *L = hook_vm_state(r->hk->vm);
        int top = lua_gettop(L);
        hook_push_json(L, *data);
        int arg = lua_gettop(L);
        lua_pushvalue(L, arg);
        int fail = 0, rc;
        if (hookrun__call(r, HOOK_RENDER, 1, &fail) < 0)
            rc = fail;
        else
            rc = take_data(r, HOOK_RENDER, L, arg, data);
        lua_settop(L, top);
        if (rc < 0)
            return rc;
    }
    if (r->hk->has_lambdas && json_is_object(*data)) {
        add_lambdas(r, *data);
        o->lambda = lambda_cb;
        o->lambda_arg = r;
    }
    return 0;
}
