/* SPDX-License-Identifier: Apache-2.0
 *
 * server: the origin's sockets, worker threads and lifecycle (see origin.h).
 * Each worker listens on its own SO_REUSEPORT socket bound to the same
 * address, so the kernel spreads connections across workers. (One shared
 * socket accepted by every worker was measured first: libevent's listener
 * accepts everything pending in one go, and one worker often took all of wrk's
 * connections, halving throughput.) Because SO_REUSEPORT would also let us
 * silently share a fixed port with a stale origin, a fixed port is first probed
 * with a plain bind, which fails if anything listens there.
 * Workers never share mutable state except their own request counters, which
 * /__stats reads. Stopping goes through an event per worker, activated from the
 * main thread: unlike event_base_loopbreak, an activation made before the loop
 * starts is not lost.
 */
#include "origin_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/util.h>

/* Request bodies up to 64 MB (the /echo contract), headers up to 64 KB. */
#define MAX_BODY_BYTES (64l * 1024 * 1024)
#define MAX_HEADER_BYTES (64l * 1024)
/* Idle keep-alive connections are closed after this many seconds. */
#define IDLE_TIMEOUT_S 60
#define LISTEN_BACKLOG 1024

static void errorf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void errorf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* "IPv4:PORT", "[IPv6]:PORT", "localhost:PORT" or just "PORT" (loopback).
 * Port 0 asks the kernel for an ephemeral port (evutil_parse_sockaddr_port
 * refuses 0, hence this parser). */
static int parse_address(const char *spec, struct sockaddr_storage *ss, int *sslen)
{
    char host[64];
    const char *port;
    memset(ss, 0, sizeof(*ss));
    if (spec[0] == '[') {
        const char *end = strchr(spec, ']');
        if (end == NULL || end[1] != ':' || (size_t)(end - spec - 1) >= sizeof(host))
            return -1;
        memcpy(host, spec + 1, (size_t)(end - spec - 1));
        host[end - spec - 1] = '\0';
        port = end + 2;
    } else {
        const char *colon = strrchr(spec, ':');
        if (colon == NULL) {
            snprintf(host, sizeof(host), "127.0.0.1");
            port = spec;
        } else {
            if ((size_t)(colon - spec) >= sizeof(host))
                return -1;
            memcpy(host, spec, (size_t)(colon - spec));
            host[colon - spec] = '\0';
            port = colon + 1;
        }
        if (strcmp(host, "localhost") == 0 || host[0] == '\0')
            snprintf(host, sizeof(host), "%s", host[0] == '\0' ? "0.0.0.0" : "127.0.0.1");
    }
    size_t plen = strlen(port);
    if (plen == 0 || plen > 5 || strspn(port, "0123456789") != plen || atoi(port) > 65535)
        return -1;
    uint16_t p = htons((uint16_t)atoi(port));

    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = p;
        *sslen = (int)sizeof(*a4);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = p;
        *sslen = (int)sizeof(*a6);
        return 0;
    }
    return -1;
}

static void format_address(const struct sockaddr_storage *ss, char *out, size_t outlen)
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
        snprintf(out, outlen, "[%s]:%u", host, (unsigned)ntohs(a->sin6_port));
    } else {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
        snprintf(out, outlen, "%s:%u", host, (unsigned)ntohs(a->sin_port));
    }
}

static uint16_t address_port(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

static void set_address_port(struct sockaddr_storage *ss, uint16_t port)
{
    if (ss->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
    else
        ((struct sockaddr_in *)ss)->sin_port = htons(port);
}

/* A listening socket on ss; with `reuseport`, one of the workers' group.
 * Returns the descriptor or -1 with a message in err. */
static int open_listener(const struct sockaddr_storage *ss, int sslen, bool reuseport,
                         const char *spec, char *err, size_t errlen)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        errorf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
        errorf(err, errlen, "SO_REUSEPORT: %s", strerror(errno));
        goto fail;
    }
    /* Accepted sockets inherit TCP_NODELAY on Linux: no Nagle delay between the
     * header and body writes of a streamed reply. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)ss, (socklen_t)sslen) != 0) {
        errorf(err, errlen, "bind %s: %s", spec, strerror(errno));
        goto fail;
    }
    if (listen(fd, LISTEN_BACKLOG) != 0) {
        errorf(err, errlen, "listen %s: %s", spec, strerror(errno));
        goto fail;
    }
    return fd;
fail:
    close(fd);
    return -1;
}

/* Fails when something already listens on the fixed address ss. */
static int probe_free(const struct sockaddr_storage *ss, int sslen, const char *spec, char *err,
                      size_t errlen)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        errorf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)); /* TIME_WAIT is fine */
    int rc = bind(fd, (const struct sockaddr *)ss, (socklen_t)sslen);
    if (rc != 0)
        errorf(err, errlen, "bind %s: %s", spec, strerror(errno));
    close(fd);
    return rc == 0 ? 0 : -1;
}

/* Opens one listening socket per worker (fds[0..n)), all on one address. */
static int open_listeners(const char *spec, int *fds, unsigned n, char *address, size_t addrlen,
                          char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    int sslen;
    if (parse_address(spec, &ss, &sslen) != 0) {
        errorf(err, errlen, "-l %s: expected host:port like 127.0.0.1:9000", spec);
        return -1;
    }
    if (address_port(&ss) != 0 && probe_free(&ss, sslen, spec, err, errlen) != 0)
        return -1;
    for (unsigned i = 0; i < n; i++) {
        fds[i] = open_listener(&ss, sslen, true, spec, err, errlen);
        if (fds[i] < 0)
            return -1;
        if (i == 0) {
            /* Port 0: the kernel chose one; the other workers join it. */
            struct sockaddr_storage bound;
            socklen_t len = sizeof(bound);
            if (getsockname(fds[0], (struct sockaddr *)&bound, &len) != 0) {
                errorf(err, errlen, "getsockname: %s", strerror(errno));
                return -1;
            }
            set_address_port(&ss, address_port(&bound));
            format_address(&bound, address, addrlen);
        }
    }
    return 0;
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    struct origin_worker *w = arg;
    if (w->magic != ORIGIN_WORKER_MAGIC)
        abort();
    event_base_loopbreak(w->base);
}

/* Takes ownership of *fd (the worker's listening socket) and sets it to -1. */
static int worker_init(struct origin_server *srv, struct origin_worker *w, unsigned index, int *fd,
                       char *err, size_t errlen)
{
    w->magic = ORIGIN_WORKER_MAGIC;
    w->index = index;
    w->srv = srv;
    atomic_init(&w->requests, 0);
    atomic_init(&w->conditional, 0);
    atomic_init(&w->not_modified, 0);
    /* Precise timers (timerfd): ?delay=20 answers after 20 ms, not after up to
     * a millisecond more (epoll_wait's timeout is whole milliseconds). */
    struct event_config *ec = event_config_new();
    if (ec != NULL)
        event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER);
    w->base = ec != NULL ? event_base_new_with_config(ec) : NULL;
    if (ec != NULL)
        event_config_free(ec);
    if (w->base == NULL) {
        errorf(err, errlen, "worker %u: event_base_new failed", index);
        return -1;
    }
    w->stop_ev = event_new(w->base, -1, 0, on_stop, w);
    w->http = evhttp_new(w->base);
    if (w->stop_ev == NULL || w->http == NULL) {
        errorf(err, errlen, "worker %u: out of memory", index);
        return -1;
    }
    evhttp_set_gencb(w->http, origin__on_request, w);
    evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                            EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    evhttp_set_max_body_size(w->http, MAX_BODY_BYTES);
    evhttp_set_max_headers_size(w->http, MAX_HEADER_BYTES);
    evhttp_set_timeout(w->http, IDLE_TIMEOUT_S);
    evhttp_set_default_content_type(w->http, "application/json");

    /* evhttp owns the socket from here on and closes it in evhttp_free. */
    if (evhttp_accept_socket_with_handle(w->http, *fd) == NULL) {
        errorf(err, errlen, "worker %u: evhttp_accept_socket_with_handle failed", index);
        return -1;
    }
    *fd = -1;
    return 0;
}

static void worker_fini(struct origin_worker *w)
{
    if (w->magic != ORIGIN_WORKER_MAGIC)
        return; /* never initialised */
    /* evhttp first: freeing its connections runs close callbacks that may
     * still reference events on the base. */
    if (w->http != NULL)
        evhttp_free(w->http);
    if (w->stop_ev != NULL)
        event_free(w->stop_ev);
    if (w->base != NULL)
        event_base_free(w->base);
    w->http = NULL;
    w->stop_ev = NULL;
    w->base = NULL;
    w->magic = 0;
}

struct origin_server *origin_server_new(const struct origin_config *cfg,
                                        const struct catalogue *cat, char *err, size_t errlen)
{
    if (cfg->workers < 1 || cfg->workers > ORIGIN_MAX_WORKERS) {
        errorf(err, errlen, "-w %u: expected 1..%u threads", cfg->workers, ORIGIN_MAX_WORKERS);
        return NULL;
    }
    struct origin_server *srv = calloc(1, sizeof(*srv));
    struct origin_worker *workers = aligned_alloc(64, sizeof(*workers) * cfg->workers);
    if (srv == NULL || workers == NULL) {
        free(srv);
        free(workers);
        errorf(err, errlen, "out of memory");
        return NULL;
    }
    memset(workers, 0, sizeof(*workers) * cfg->workers);
    srv->magic = ORIGIN_SERVER_MAGIC;
    srv->cat = cat;
    srv->log_requests = cfg->log_requests;
    srv->workers = workers;
    srv->nworkers = cfg->workers;
    int fds[ORIGIN_MAX_WORKERS];
    for (unsigned i = 0; i < ORIGIN_MAX_WORKERS; i++)
        fds[i] = -1;
    if (open_listeners(cfg->listen, fds, srv->nworkers, srv->address, sizeof(srv->address), err,
                       errlen) != 0)
        goto fail;
    for (unsigned i = 0; i < srv->nworkers; i++)
        if (worker_init(srv, &srv->workers[i], i, &fds[i], err, errlen) != 0)
            goto fail;
    return srv;
fail:
    for (unsigned i = 0; i < srv->nworkers; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    origin_server_free(&srv);
    return NULL;
}

void origin_server_address(const struct origin_server *srv, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s", srv->address);
}

static void *worker_main(void *arg)
{
    struct origin_worker *w = arg;
    origin__set_current_worker(w);
    event_base_dispatch(w->base);
    origin__set_current_worker(NULL);
    return NULL;
}

int origin_server_start(struct origin_server *srv, char *err, size_t errlen)
{
    if (srv->magic != ORIGIN_SERVER_MAGIC)
        abort();
    for (unsigned i = 0; i < srv->nworkers; i++) {
        struct origin_worker *w = &srv->workers[i];
        int rc = pthread_create(&w->thread, NULL, worker_main, w);
        if (rc != 0) {
            errorf(err, errlen, "pthread_create: %s", strerror(rc));
            origin_server_stop(srv);
            return -1;
        }
        w->running = true;
    }
    srv->started = true;
    return 0;
}

void origin_server_stop(struct origin_server *srv)
{
    if (srv == NULL || srv->magic != ORIGIN_SERVER_MAGIC)
        return;
    for (unsigned i = 0; i < srv->nworkers; i++)
        if (srv->workers[i].running)
            event_active(srv->workers[i].stop_ev, EV_READ, 0);
    for (unsigned i = 0; i < srv->nworkers; i++) {
        struct origin_worker *w = &srv->workers[i];
        if (w->running) {
            pthread_join(w->thread, NULL);
            w->running = false;
        }
    }
    srv->started = false;
}

void origin_server_free(struct origin_server **srvp)
{
    if (srvp == NULL || *srvp == NULL)
        return;
    struct origin_server *srv = *srvp;
    *srvp = NULL;
    if (srv->magic != ORIGIN_SERVER_MAGIC)
        abort();
    origin_server_stop(srv);
    for (unsigned i = 0; i < srv->nworkers; i++)
        worker_fini(&srv->workers[i]);
    free(srv->workers);
    srv->magic = 0;
    free(srv);
}

uint64_t origin__requests_total(const struct origin_server *srv)
{
    uint64_t total = 0;
    for (unsigned i = 0; i < srv->nworkers; i++)
        total += atomic_load_explicit(&srv->workers[i].requests, memory_order_relaxed);
    return total;
}

uint64_t origin__conditional_total(const struct origin_server *srv)
{
    uint64_t total = 0;
    for (unsigned i = 0; i < srv->nworkers; i++)
        total += atomic_load_explicit(&srv->workers[i].conditional, memory_order_relaxed);
    return total;
}

uint64_t origin__not_modified_total(const struct origin_server *srv)
{
    uint64_t total = 0;
    for (unsigned i = 0; i < srv->nworkers; i++)
        total += atomic_load_explicit(&srv->workers[i].not_modified, memory_order_relaxed);
    return total;
}
