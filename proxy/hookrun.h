/* SPDX-License-Identifier: Apache-2.0
 *
 * hookrun: a route's Lua hooks (lua/hooks.h) run for its requests. A route
 * without `hooks` costs one NULL test per phase: r->hk stays NULL and no Lua
 * runs, on a hit or a miss. For a hooked route, req__dispatch makes r->hk and
 * each phase runs where the request gets to it:
 *
 *   on_request(req)               req.c, before the cache lookup
 *   on_fragment(name, data, meta) page.c, each fragment's data before render
 *   on_render(ctx)                page.c, the page's data before render
 *   lambdas                       page.c, during render (tpl_lambda_cb)
 *   on_response(res)              up.c / page.c, before the response is stored
 *                                 and sent (not on cache hits: the stored
 *                                 response already carries its effect)
 *   on_log(entry)                 req.c, when the access log line is written
 *
 * The VM: one per worker and configuration generation, made when a request of
 * that generation first needs a hook, every hooked route's script loaded into
 * it once. A worker keeps the VMs of its two latest generations.
 *
 * Errors (a Lua error, the instruction budget, the memory cap) are logged with
 * script:line; the request then gets the route's `hook_errors` policy: "fail"
 * (the default) answers 500, "ignore" goes on without that hook's effect.
 *
 * Thread: the request's worker.
 */
#ifndef TESSERA_HOOKRUN_H
#define TESSERA_HOOKRUN_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct req;
struct worker;
struct h1_msg;
struct route_match;
struct up_target;
struct cfg_route;
struct evbuffer;
struct tpl_render_opts;

/* Starts hook state for r on a hooked route (route->hooks set). Returns 0, or -1
 * when the route's script cannot run (the request was answered 500). */
int hookrun_begin(struct req *r, const struct cfg_route *route);

/* on_request. May change *rm (a rewritten path routes again; page route params),
 * *tg (the path), r->channel and the key part. Returns 1 when the request was
 * answered (by the hook, or 500 on a hook error under "fail"), 0 to go on.
 * Keeps what *tg points to alive for the request. */
int hookrun_request(struct req *r, const struct h1_msg *m, struct up_target *tg,
                    struct route_match *rm);

/* Page routes: params set by on_request, applied to a route match made again
 * from the saved head (page.c). */
void hookrun_params(const struct req *r, struct route_match *rm);

/* on_fragment: *data (owned, may be NULL) may be replaced. meta: the fragment's
 * status and where its data came from. Returns 0, or -1 on a hook error under
 * "fail" (the page is then answered 500 by the caller). */
int hookrun_fragment(struct req *r, const char *name, json_t **data, int status, const char *from);

/* on_render and the lambdas: may replace *data; fills o's lambda callback when the
 * script has lambdas (and adds their names to *data). Returns 0, or -1 under
 * "fail". Whether any of them exist: hookrun_shapes_page. */
int hookrun_render(struct req *r, json_t **data, struct tpl_render_opts *o);
int hookrun_shapes_page(const struct req *r);

/* on_response: the head to store and send instead of m (framing fields kept), or
 * m itself. NULL: a hook error under "fail" (the caller answers 500). */
const struct h1_msg *hookrun_response(struct req *r, const struct h1_msg *m);

/* Cache effects of on_response for rcache.c: a TTL (seconds) or -1, and whether
 * the response must not be stored. */
int64_t hookrun_ttl(const struct req *r);
int hookrun_no_store(const struct req *r);

/* on_log, then the extra fields for the access log line (JSON members
 * ',"k":"v"' or combined ' k="v"'), or NULL. */
const char *hookrun_log_fields(struct req *r, int json);

/* The extra cache key part on_request set, or NULL (with *len). */
const char *hookrun_key_part(const struct req *r, size_t *len);

/* A background refresh (rcache.c) of src's key runs src's hooks but on_request. */
void hookrun_clone(struct req *dst, const struct req *src);

/* Frees r's hook state (req__end, req__fini). */
void hookrun_end(struct req *r);

/* Frees the worker's VMs (at worker exit). */
void hookrun_worker_fini(struct worker *w);

#endif
