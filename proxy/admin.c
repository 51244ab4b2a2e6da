/* SPDX-License-Identifier: Apache-2.0
 *
 * admin: /metrics and POST /purge on the admin listener (see admin.h).
 */
#include "admin.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include "cfg.h"
#include "log.h"
#include "purge.h"
#include "rcache.h"
#include "util.h"

/* A purge form is a few short parameters: larger bodies are refused (413). */
#define ADMIN_BODY_MAX (16 * 1024)

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
    purge_metrics(b);
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
    evhttp_send_error(req, 404, "only /metrics and /purge here");
}

/* ---- POST /purge ---------------------------------------------------------------- */

/* s as a JSON string (RFC 8259 7). */
static void add_json_string(struct evbuffer *b, const char *s)
{
    evbuffer_add(b, "\"", 1);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            evbuffer_add_printf(b, "\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f)
            evbuffer_add_printf(b, "\\u%04x", ch);
        else
            evbuffer_add(b, s, 1);
    }
    evbuffer_add(b, "\"", 1);
}

static void send_json(struct evhttp_request *req, int status, const char *reason,
                      struct evbuffer *b)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_send_reply(req, status, reason, b);
}

static void send_error_json(struct evhttp_request *req, int status, const char *reason,
                            const char *msg)
{
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, "{\"error\": ", 10);
    add_json_string(b, msg);
    evbuffer_add(b, "}\n", 2);
    send_json(req, status, reason, b);
    evbuffer_free(b);
}

/* Compares the bearer token in constant time for a given length: how many bytes
 * of a guess are right does not show in the time taken. The length of the token
 * is not secret enough to hide (it is at most 4KB either way). */
static int token_ok(const struct cfg_secret *t, const char *auth)
{
    static const char scheme[] = "Bearer ";
    if (auth == NULL || strncasecmp(auth, scheme, sizeof(scheme) - 1) != 0)
        return 0; /* RFC 9110 11.1: the scheme is case-insensitive */
    const char *got = auth + sizeof(scheme) - 1;
    while (*got == ' ')
        got++;
    size_t n = strlen(got);
    unsigned char diff = n != t->len;
    for (size_t i = 0; i < t->len; i++)
        diff |= (unsigned char)(t->value[i] ^ got[i < n ? i : 0]);
    return diff == 0;
}

/* The parameters of one purge, from the query and a form body. */
struct purge_params {
    const char *url, *prefix, *tag, *host, *soft;
    const char *dup; /* a parameter given twice, or an unknown one */
    int unknown;
};

static void take_params(struct evkeyvalq *q, struct purge_params *p)
{
    for (struct evkeyval *kv = q->tqh_first; kv != NULL; kv = kv->next.tqe_next) {
        static const char *const names[] = {"url", "prefix", "tag", "host", "soft"};
        const char **slot[] = {&p->url, &p->prefix, &p->tag, &p->host, &p->soft};
        size_t i = 0;
        while (i < ARRAY_SIZE(names) && strcmp(kv->key, names[i]) != 0)
            i++;
        if (i == ARRAY_SIZE(names)) {
            p->dup = kv->key;
            p->unknown = 1;
        } else if (*slot[i] != NULL) {
            p->dup = kv->key;
        } else {
            *slot[i] = kv->value;
        }
    }
}

/* Fills pr from the parameters, or returns why not. */
static const char *purge_from_params(const struct purge_params *p, struct purge_req *pr)
{
    static char why[160];
    int given = (p->url != NULL) + (p->prefix != NULL) + (p->tag != NULL);
    if (p->dup != NULL) {
        snprintf(why, sizeof(why), "%s parameter: %.64s", p->unknown ? "unknown" : "repeated",
                 p->dup);
        return why;
    }
    if (given != 1)
        return "give exactly one of url, prefix and tag";
    memset(pr, 0, sizeof(*pr));
    pr->https = -1;
    if (p->soft != NULL) {
        if (strcmp(p->soft, "1") == 0 || strcmp(p->soft, "true") == 0)
            pr->soft = 1;
        else if (strcmp(p->soft, "0") != 0 && strcmp(p->soft, "false") != 0)
            return "soft: expected 1, true, 0 or false";
    }
    if (p->host != NULL) {
        pr->host = p->host;
        pr->host_len = strlen(p->host);
    }
    int err;
    if (p->url != NULL) {
        err = purge_req_set_url(pr, p->url, strlen(p->url));
        if (err == PURGE_OK && pr->host != p->host && p->host != NULL)
            return "host: the url names its host already";
    } else {
        pr->kind = p->prefix != NULL ? PURGE_PREFIX : PURGE_TAG;
        pr->value = p->prefix != NULL ? p->prefix : p->tag;
        pr->value_len = strlen(pr->value);
        err = pr->value_len == 0 || pr->value_len > PURGE_VALUE_MAX ? PURGE_E_VALUE : PURGE_OK;
        if (err == PURGE_OK && p->tag != NULL && p->host != NULL)
            return "host: a tag purge covers every host";
    }
    if (err != PURGE_OK) {
        snprintf(why, sizeof(why), "%s: %s",
                 p->url != NULL      ? "url"
                 : p->prefix != NULL ? "prefix"
                                     : "tag",
                 purge_strerror(err));
        return why;
    }
    return NULL;
}

/* POST /purge: 403 while disabled, 401 without the right bearer token, 400 for
 * bad parameters, else {"purged": N, "kind": "...", "soft": false}. */
static void on_purge(struct evhttp_request *req, void *arg)
{
    const struct cfg *c = *gen;
    const struct cfg_secret *tok = &c->admin->token;
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "POST");
        send_error_json(req, 405, "Method Not Allowed", "use POST");
        return;
    }
    if (tok->value == NULL) {
        char why[512];
        snprintf(why, sizeof(why), "purge is disabled: admin.token_file: %s",
                 tok->error != NULL ? tok->error : "not set");
        send_error_json(req, 403, "Forbidden", why);
        return;
    }
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    if (!token_ok(tok, evhttp_find_header(in, "Authorization"))) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
                          "Bearer realm=\"tessera-admin\"");
        send_error_json(req, 401, "Unauthorized", "a valid bearer token is required");
        return;
    }
    struct evkeyvalq q, form;
    TAILQ_INIT(&q);
    TAILQ_INIT(&form);
    struct purge_params p = {0};
    const char *why = NULL;
    const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    if (query != NULL && evhttp_parse_query_str(query, &q) < 0)
        why = "malformed query (name=value pairs, percent-encoded)";
    struct evbuffer *body = evhttp_request_get_input_buffer(req);
    size_t blen = evbuffer_get_length(body);
    const char *ctype = evhttp_find_header(in, "Content-Type");
    if (why == NULL && blen > 0) {
        if (ctype != NULL && strncasecmp(ctype, "application/x-www-form-urlencoded", 33) != 0) {
            why = "the body must be application/x-www-form-urlencoded";
        } else {
            char *text = xmalloc(blen + 1);
            evbuffer_remove(body, text, blen);
            text[blen] = '\0';
            if (strlen(text) != blen || evhttp_parse_query_str(text, &form) < 0)
                why = "malformed form (name=value pairs, percent-encoded)";
            free(text);
        }
    }
    struct purge_req pr = {0};
    if (why == NULL) {
        take_params(&q, &p);
        take_params(&form, &p);
        why = purge_from_params(&p, &pr);
    }
    size_t count = 0;
    int err = why == NULL ? purge_execute(c, &pr, &count) : PURGE_OK;
    if (why != NULL) {
        send_error_json(req, 400, "Bad Request", why);
    } else if (err != PURGE_OK) {
        send_error_json(req, err == PURGE_E_NO_STORE ? 503 : 400,
                        err == PURGE_E_NO_STORE ? "Service Unavailable" : "Bad Request",
                        purge_strerror(err));
    } else {
        char *peer = NULL, what[160];
        ev_uint16_t port = 0;
        evhttp_connection_get_peer(evhttp_request_get_connection(req), &peer, &port);
        /* An audit line; the value may hold any byte (a path is escaped later). */
        size_t wn = 0;
        for (size_t i = 0; i < pr.value_len && wn + 1 < sizeof(what); i++)
            what[wn++] = pr.value[i] > 0x20 && pr.value[i] < 0x7f ? pr.value[i] : '?';
        what[wn] = '\0';
        log_info("admin", "%s: purge %s%s%.*s %s%s: %zu objects", peer ? peer : "-",
                 purge_kind_name(pr.kind), pr.host ? " host " : "", pr.host ? (int)pr.host_len : 0,
                 pr.host ? pr.host : "", what, pr.soft ? " (soft)" : "", count);
        struct evbuffer *b = evbuffer_new();
        evbuffer_add_printf(b, "{\"purged\": %zu, \"kind\": \"%s\", \"soft\": %s}\n", count,
                            purge_kind_name(pr.kind), pr.soft ? "true" : "false");
        send_json(req, 200, "OK", b);
        evbuffer_free(b);
    }
    evhttp_clear_headers(&q);
    evhttp_clear_headers(&form);
}

int admin_start(struct event_base *base, const struct cfg *c, struct cfg *const *current)
{
    if (c->admin == NULL)
        return 0;
    gen = current;
    http = evhttp_new(base);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
    evhttp_set_max_body_size(http, ADMIN_BODY_MAX);
    evhttp_set_cb(http, "/metrics", on_metrics, NULL);
    evhttp_set_cb(http, "/purge", on_purge, NULL);
    if (c->admin->token.value == NULL)
        log_warn("admin", "purge is disabled: admin.token_file: %s",
                 c->admin->token.error != NULL ? c->admin->token.error : "not set");
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
