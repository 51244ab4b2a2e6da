/* SPDX-License-Identifier: Apache-2.0
 *
 * admin: /metrics on the admin listener (see admin.h).
 */
#include "admin.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "cfg.h"
#include "log.h"
#include "rcache.h"

static struct evhttp *http;
static struct cfg *const *gen;

static void add_label_value(struct evbuffer *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            evbuffer_add(b, "\\", 1);
        evbuffer_add(b, s, 1);
    }
}

static void add_stat(struct evbuffer *b, const char *label, int k, uint64_t v)
{
    evbuffer_add_printf(b, "tessera_cache_%s_total{route=\"", rc_stat_names[k]);
    add_label_value(b, label);
    evbuffer_add_printf(b, "\"} %llu\n", (unsigned long long)v);
}

/* A page's fragments are cached under hidden routes of their own, labelled
 * "fragment:NAME" (cfg.h). Pages often share a fragment name ("nav"), and one
 * exposition may not repeat a label set: the first fragment of a name writes the
 * sum over every fragment of that name, later ones nothing. Quadratic in the
 * number of fragments, which is small (32 per page). */
static void add_fragment_stats(struct evbuffer *b, const struct cfg *c, size_t i, size_t j, int k)
{
    const struct cfg_fragment *f = &c->routes[i].fragments[j];
    uint64_t sum = 0;
    for (size_t pi = 0; pi <= i; pi++) {
        const struct cfg_route *p = &c->routes[pi];
        for (size_t pj = 0; pj < p->nfragments && (pi < i || pj < j); pj++)
            if (strcmp(p->fragments[pj].name, f->name) == 0)
                return; /* written with an earlier one */
    }
    for (size_t pi = i; pi < c->nroutes; pi++) {
        const struct cfg_route *p = &c->routes[pi];
        for (size_t pj = 0; pj < p->nfragments; pj++)
            if (strcmp(p->fragments[pj].name, f->name) == 0 && p->fragments[pj].route != NULL)
                sum += __atomic_load_n(&p->fragments[pj].route->stats[k], __ATOMIC_RELAXED);
    }
    add_stat(b, f->route->path, k, sum);
}

static void on_metrics(struct evhttp_request *req, void *arg)
{
    struct evbuffer *b = evbuffer_new();
    rc_metrics(b);
    const struct cfg *c = *gen;
    for (int k = 0; k < RC_NSTATS; k++) {
        evbuffer_add_printf(b, "# TYPE tessera_cache_%s_total counter\n", rc_stat_names[k]);
        for (size_t i = 0; i < c->nroutes; i++) {
            const struct cfg_route *r = &c->routes[i];
            if (r->cache != NULL)
                add_stat(b, r->path, k, __atomic_load_n(&r->stats[k], __ATOMIC_RELAXED));
            for (size_t j = 0; j < r->nfragments; j++)
                add_fragment_stats(b, c, i, j, k);
        }
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4");
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

static void on_other(struct evhttp_request *req, void *arg)
{
    evhttp_send_error(req, 404, "only /metrics here");
}

int admin_start(struct event_base *base, const struct cfg *c, struct cfg *const *current)
{
    if (c->admin == NULL)
        return 0;
    gen = current;
    http = evhttp_new(base);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_cb(http, "/metrics", on_metrics, NULL);
    evhttp_set_gencb(http, on_other, NULL);
    struct evconnlistener *l = evconnlistener_new_bind(
        base, NULL, NULL, LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE, 128,
        (const struct sockaddr *)&c->admin->addr.sa, (int)c->admin->addr.sa_len);
    if (l == NULL || evhttp_bind_listener(http, l) == NULL) {
        log_err("admin", "admin.addr %s: cannot listen", c->admin->addr.text);
        return -1;
    }
    struct sockaddr_storage got;
    socklen_t glen = sizeof(got);
    getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&got, &glen);
    char host[64] = "?";
    unsigned port = 0;
    if (got.ss_family == AF_INET) {
        evutil_inet_ntop(AF_INET, &((struct sockaddr_in *)&got)->sin_addr, host, sizeof(host));
        port = ntohs(((struct sockaddr_in *)&got)->sin_port);
    } else {
        evutil_inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&got)->sin6_addr, host, sizeof(host));
        port = ntohs(((struct sockaddr_in6 *)&got)->sin6_port);
    }
    fprintf(stderr, "tessera admin listening on %s:%u\n", host, port);
    fflush(stderr);
    return 0;
}

void admin_stop(void)
{
    if (http != NULL)
        evhttp_free(http);
    http = NULL;
}
