/* SPDX-License-Identifier: Apache-2.0
 *
 * worker: event-loop threads and the main thread's control of them (worker.h).
 *
 * The main thread opens every listening socket before any worker starts, so that
 * port 0 resolves to one port for all workers and a bind error fails the start.
 * Workers are told about reloads and drains through events activated from the
 * main thread (libevent's pthread support makes event_active thread-safe); the
 * generation pointer itself is handed over under the worker's mutex.
 */
#include "worker.h"

#include <errno.h>
#include <event2/thread.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compose.h"
#include "hookrun.h"
#include "jarena.h"
#include "l2.h"
#include "log.h"
#include "rcache.h"
#include "tls.h"
#include "util.h"
#include "worker_int.h"

static struct worker **workers;
static unsigned nworkers;
static unsigned nexited;
static pthread_mutex_t exit_lock = PTHREAD_MUTEX_INITIALIZER;
static struct event *all_done_ev;

const char *worker__date(struct worker *w)
{
    struct timeval tv;
    event_base_gettimeofday_cached(w->base, &tv);
    if (tv.tv_sec != w->date_sec) {
        struct tm tm;
        time_t t = tv.tv_sec;
        gmtime_r(&t, &tm);
        strftime(w->date, sizeof(w->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        w->date_sec = tv.tv_sec;
    }
    return w->date;
}

static void maybe_exit(struct worker *w)
{
    if (w->draining && w->nconns == 0)
        event_base_loopexit(w->base, NULL);
}

void worker__conn_gone(struct worker *w)
{
    w->nconns--;
    maybe_exit(w);
}

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    struct conn *c;
    while ((c = TAILQ_FIRST(&w->dead_conns)) != NULL) {
        TAILQ_REMOVE(&w->dead_conns, c, link);
        conn__free(c);
    }
    struct up_conn *u;
    while ((u = TAILQ_FIRST(&w->dead_ups)) != NULL) {
        TAILQ_REMOVE(&w->dead_ups, u, link);
        up__free(u);
    }
}

void worker__reap_later(struct worker *w)
{
    event_active(w->reap_ev, EV_READ, 0);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
    struct listener_arg *la = arg;
    struct worker *w = la->w;
    if (w->draining || w->nconns >= w->cfg->limits.connections) {
        /* limits.connections reached: refuse rather than queue without bound. */
        evutil_closesocket(fd);
        return;
    }
    conn__accept(w, fd, sa, salen, w->tls[la->idx]);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
    int err = EVUTIL_SOCKET_ERROR();
    log_warn("worker", "accept: %s", evutil_socket_error_to_string(err));
}

static void on_reload(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    pthread_mutex_lock(&w->lock);
    struct cfg *c = w->pending_cfg;
    struct tls_ctx **tls = w->pending_tls;
    w->pending_cfg = NULL;
    w->pending_tls = NULL;
    pthread_mutex_unlock(&w->lock);
    if (c == NULL)
        return;
    if (tls != NULL) {
        /* Connections keep the context they shook hands with (tls_conn refs it). */
        srv_tls_free(w->tls, w->nlisteners);
        w->tls = tls;
    }
    cfg_unref(w->cfg);
    w->cfg = c;
}

static void close_listeners(struct worker *w)
{
    for (size_t i = 0; i < w->nlisteners; i++) {
        if (w->listeners[i] != NULL)
            evconnlistener_free(w->listeners[i]);
        w->listeners[i] = NULL;
    }
}

static void on_drain(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    if (w->draining)
        return;
    w->draining = 1;
    close_listeners(w);
    conn__drain_idle(w);
    maybe_exit(w);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    sigset_t set;
    sigfillset(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    /* On this thread: the hiredis context lives on the worker's loop. A reload
     * does not change it (cache.redis takes effect on restart). */
    if (w->cfg->cache.redis != NULL)
        w->l2 = l2_new(w->base, w->cfg->cache.redis, w->id);
    event_base_dispatch(w->base);

    access__flush(w);
    up__worker_fini(w);
    hookrun_worker_fini(w);
    jarena_thread_fini();
    close_listeners(w);
    on_reap(-1, 0, w);
    compose_worker_fini(w); /* after the last request */
    l2_free(&w->l2);        /* after the last request: none waits for it any more */

    pthread_mutex_lock(&exit_lock);
    nexited++;
    int last = nexited == nworkers;
    pthread_mutex_unlock(&exit_lock);
    if (last && all_done_ev != NULL)
        event_active(all_done_ev, EV_READ, 0);
    return NULL;
}

static int open_listener(const struct cfg_listen *l, struct sockaddr_storage *sa, socklen_t len)
{
    int fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)sa, len) < 0 ||
        listen(fd, l->backlog > 0 ? l->backlog : 511) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static void set_port(struct sockaddr_storage *sa, in_port_t port)
{
    if (sa->ss_family == AF_INET)
        ((struct sockaddr_in *)sa)->sin_port = port;
    else
        ((struct sockaddr_in6 *)sa)->sin6_port = port;
}

static in_port_t get_port(const struct sockaddr_storage *sa)
{
    return sa->ss_family == AF_INET ? ((const struct sockaddr_in *)sa)->sin_port
                                    : ((const struct sockaddr_in6 *)sa)->sin6_port;
}

/* Opens nworkers sockets per listen address into fds[worker][i]. */
static int open_all(const struct cfg *c, int **fds)
{
    for (size_t i = 0; i < c->nlisten; i++) {
        struct sockaddr_storage sa = c->listen[i].addr.sa;
        socklen_t len = c->listen[i].addr.sa_len;
        for (unsigned k = 0; k < nworkers; k++) {
            int fd = open_listener(&c->listen[i], &sa, len);
            if (fd < 0) {
                log_err("listen", "%s: %s", c->listen[i].addr.text, strerror(errno));
                return -1;
            }
            fds[k][i] = fd;
            if (k == 0 && get_port(&sa) == 0) {
                struct sockaddr_storage got;
                socklen_t glen = sizeof(got);
                getsockname(fd, (struct sockaddr *)&got, &glen);
                set_port(&sa, get_port(&got));
            }
        }
        char host[INET6_ADDRSTRLEN] = "?";
        const void *ip = sa.ss_family == AF_INET
                             ? (const void *)&((struct sockaddr_in *)&sa)->sin_addr
                             : (const void *)&((struct sockaddr_in6 *)&sa)->sin6_addr;
        evutil_inet_ntop(sa.ss_family, ip, host, sizeof(host));
        fprintf(stderr,
                sa.ss_family == AF_INET6 ? "tessera listening on [%s]:%u\n"
                                         : "tessera listening on %s:%u\n",
                host, (unsigned)ntohs(get_port(&sa)));
    }
    fflush(stderr);
    return 0;
}

struct tls_ctx **srv_tls_load(const struct cfg *c, FILE *err)
{
    struct tls_ctx **out = xcalloc(c->nlisten ? c->nlisten : 1, sizeof(*out));
    static const char *const alpn[] = {"h2", "http/1.1", NULL};
    int failed = 0;
    for (size_t i = 0; i < c->nlisten; i++) {
        const struct cfg_tls *t = c->listen[i].tls;
        if (t == NULL)
            continue;
        struct tls_cert_conf *certs = xcalloc(t->ncertificates + 1, sizeof(*certs));
        certs[0].cert_file = t->cert;
        certs[0].key_file = t->key;
        for (size_t k = 0; k < t->ncertificates; k++) {
            certs[k + 1].cert_file = t->certificates[k].cert;
            certs[k + 1].key_file = t->certificates[k].key;
        }
        struct tls_ctx_conf conf = {
            .certs = certs,
            .ncerts = t->ncertificates + 1,
            .alpn = alpn,
            .tickets = t->tickets,
            .ticket_lifetime_s = (unsigned)(t->ticket_lifetime_ms / 1000),
        };
        char *why = NULL;
        out[i] = tls_ctx_new(&conf, &why);
        free(certs);
        if (out[i] == NULL) {
            fprintf(err, "%s: listen[%zu].tls: %s\n", c->file, i + 1, why ? why : "failed");
            free(why);
            failed = 1;
        }
    }
    if (failed) {
        srv_tls_free(out, c->nlisten);
        return NULL;
    }
    return out;
}

void srv_tls_free(struct tls_ctx **tls, size_t n)
{
    if (tls == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        tls_ctx_unref(tls[i]);
    free(tls);
}

static struct worker *worker_new(unsigned id, struct cfg *c, struct tls_ctx **tls, int *fds,
                                 size_t nfds)
{
    struct worker *w = xcalloc(1, sizeof(*w));
    w->magic = WORKER_MAGIC;
    w->id = id;
    w->cfg = cfg_ref(c);
    w->tls = xcalloc(nfds ? nfds : 1, sizeof(*w->tls));
    for (size_t i = 0; i < nfds; i++)
        w->tls[i] = tls[i] ? tls_ctx_ref(tls[i]) : NULL;
    w->fds = fds;
    w->nfds = nfds;
    pthread_mutex_init(&w->lock, NULL);
    TAILQ_INIT(&w->conns);
    TAILQ_INIT(&w->servers);
    TAILQ_INIT(&w->rr);
    TAILQ_INIT(&w->dead_conns);
    TAILQ_INIT(&w->dead_ups);
    w->up_limits.max_head = 65536;
    w->up_limits.max_uri = 65536;
    w->up_limits.max_headers = H1_MAX_HEADERS_CAP;
    w->base = event_base_new();
    if (w->base == NULL) {
        log_err("worker", "event_base_new failed");
        abort();
    }
    w->reload_ev = event_new(w->base, -1, 0, on_reload, w);
    w->drain_ev = event_new(w->base, -1, 0, on_drain, w);
    w->reap_ev = event_new(w->base, -1, 0, on_reap, w);
    w->access_buf = evbuffer_new();
    w->scratch = evbuffer_new();
    TAILQ_INIT(&w->rc_mail);
    w->rc_ev = event_new(w->base, -1, 0, rc__on_mail, w);
    w->listeners = xcalloc(nfds, sizeof(*w->listeners));
    w->largs = xcalloc(nfds ? nfds : 1, sizeof(*w->largs));
    w->nlisteners = nfds;
    for (size_t i = 0; i < nfds; i++) {
        w->largs[i].w = w;
        w->largs[i].idx = i;
        w->listeners[i] =
            evconnlistener_new(w->base, on_accept, &w->largs[i],
                               LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fds[i]);
        evconnlistener_set_error_cb(w->listeners[i], on_accept_error);
    }
    return w;
}

int srv_start(struct cfg *c, struct tls_ctx **tls, struct event_base *main_base,
              event_callback_fn on_all_done, void *arg)
{
    nworkers = c->workers;
    int **fds = xcalloc(nworkers, sizeof(*fds));
    for (unsigned k = 0; k < nworkers; k++)
        fds[k] = xcalloc(c->nlisten ? c->nlisten : 1, sizeof(int));
    if (open_all(c, fds) < 0)
        return -1;
    all_done_ev = event_new(main_base, -1, 0, on_all_done, arg);
    workers = xcalloc(nworkers, sizeof(*workers));
    for (unsigned k = 0; k < nworkers; k++)
        workers[k] = worker_new(k + 1, c, tls, fds[k], c->nlisten);
    free(fds);
    for (unsigned k = 0; k < nworkers; k++) {
        if (pthread_create(&workers[k]->thread, NULL, worker_main, workers[k]) != 0) {
            log_err("worker", "pthread_create: %s", strerror(errno));
            return -1;
        }
    }
    return 0;
}

void srv_reload(struct cfg *c, struct tls_ctx **tls)
{
    for (unsigned k = 0; k < nworkers; k++) {
        struct worker *w = workers[k];
        /* Listeners stay as started: only entries that line up get new contexts. */
        struct tls_ctx **mine = xcalloc(w->nlisteners ? w->nlisteners : 1, sizeof(*mine));
        for (size_t i = 0; i < w->nlisteners && i < c->nlisten; i++)
            mine[i] = tls[i] ? tls_ctx_ref(tls[i]) : NULL;
        pthread_mutex_lock(&w->lock);
        if (w->pending_cfg != NULL)
            cfg_unref(w->pending_cfg);
        srv_tls_free(w->pending_tls, w->nlisteners);
        w->pending_cfg = cfg_ref(c);
        w->pending_tls = mine;
        pthread_mutex_unlock(&w->lock);
        event_active(w->reload_ev, EV_READ, 0);
    }
}

void srv_drain(void)
{
    for (unsigned k = 0; k < nworkers; k++)
        event_active(workers[k]->drain_ev, EV_READ, 0);
}

void srv_join(void)
{
    for (unsigned k = 0; k < nworkers; k++)
        pthread_join(workers[k]->thread, NULL);
}
