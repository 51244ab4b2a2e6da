/* SPDX-License-Identifier: Apache-2.0
 *
 * sock: non-blocking TCP (and server-side TLS) connections on a libevent loop;
 * see sock.h for why this replaces libevent's socket bufferevents.
 *
 * With TLS, `in` and `out` hold plaintext and `rin`/`rout` the records: reads go
 * rin → tls_conn_decrypt → in, writes out → tls_conn_encrypt → rout → socket.
 * The descriptor is closed by sock_close(); the struct lives until sock_free().
 */
#include "sock.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "tls.h"
#include "util.h"

#define READ_CHUNK 16384

struct sock {
    unsigned magic;
#define SOCK_MAGIC 0x534f434bu
    int fd;
    struct event_base *base;
    struct event *rev, *wev;
    struct evbuffer *in, *out;
    struct evbuffer *rin, *rout; /* TLS records; NULL without TLS */
    struct tls_conn *tls;
    const struct sock_cbs *cbs;
    void *arg;
    uint64_t read_ms, write_ms;
    size_t input_limit;
    size_t low_mark;
    int err;
    unsigned closed : 1;
    unsigned connecting : 1;
    unsigned paused : 1;
    unsigned reading : 1; /* rev is registered */
    unsigned tls_ready : 1;
};

static struct evbuffer *wire_out(struct sock *s)
{
    return s->tls ? s->rout : s->out;
}

static void update_reading(struct sock *s)
{
    if (s->closed)
        return;
    int want = !s->paused && !s->connecting &&
               (s->input_limit == 0 || evbuffer_get_length(s->in) < s->input_limit);
    if (want) {
        struct timeval tv = util_ms_tv(s->read_ms);
        event_add(s->rev, s->read_ms ? &tv : NULL);
        s->reading = 1;
    } else if (s->reading) {
        event_del(s->rev);
        s->reading = 0;
    }
}

static void arm_write(struct sock *s)
{
    struct timeval tv = util_ms_tv(s->write_ms);
    event_add(s->wev, s->write_ms ? &tv : NULL);
}

/* Writes what is queued for the wire. Returns 0, or -1 on a socket error. */
static int flush(struct sock *s)
{
    struct evbuffer *w = wire_out(s);
    while (evbuffer_get_length(w) > 0) {
        int n = evbuffer_write(w, s->fd);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            s->err = errno;
            return -1;
        }
        if (n == 0)
            break;
    }
    if (evbuffer_get_length(w) > 0)
        arm_write(s);
    else
        event_del(s->wev);
    return 0;
}

static int encrypt_pending(struct sock *s)
{
    if (s->tls == NULL || !s->tls_ready || evbuffer_get_length(s->out) == 0)
        return 0;
    if (tls_conn_encrypt(s->tls, s->out, s->rout) < 0) {
        s->err = EPROTO;
        return -1;
    }
    return 0;
}

void sock_write(struct sock *s)
{
    if (s->closed || s->connecting)
        return;
    if (event_pending(s->wev, EV_WRITE, NULL)) {
        encrypt_pending(s); /* the socket is full: it goes when writable */
        return;
    }
    if (encrypt_pending(s) < 0 || flush(s) < 0) {
        /* Reported from the loop, never from inside a sock_* call. */
        s->err = s->err ? s->err : EPIPE;
        arm_write(s);
    }
}

static void fire_event(struct sock *s, enum sock_event ev)
{
    if (s->closed)
        return;
    s->cbs->on_event(s, s->arg, ev);
}

/* Reads once into `dst` (level-triggered: more is read on the next turn). */
static ssize_t read_into(struct sock *s, struct evbuffer *dst)
{
    struct evbuffer_iovec v[2];
    int nv = evbuffer_reserve_space(dst, READ_CHUNK, v, 2);
    if (nv <= 0)
        return -1;
    struct iovec iov[2];
    for (int i = 0; i < nv; i++) {
        iov[i].iov_base = v[i].iov_base;
        iov[i].iov_len = v[i].iov_len;
    }
    ssize_t n;
    do {
        n = readv(s->fd, iov, nv);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
        evbuffer_commit_space(dst, v, 0);
        return n;
    }
    size_t left = (size_t)n;
    for (int i = 0; i < nv; i++) {
        size_t take = left < v[i].iov_len ? left : v[i].iov_len;
        v[i].iov_len = take;
        left -= take;
    }
    evbuffer_commit_space(dst, v, nv);
    return n;
}

/* TLS: decrypt what arrived; send handshake records; report the handshake. */
static int tls_step(struct sock *s)
{
    int rc = tls_conn_decrypt(s->tls, s->rin, s->in, s->rout);
    if (evbuffer_get_length(s->rout) > 0 && flush(s) < 0)
        return -1;
    if (rc < 0 && rc != TLS_E_CLOSED) {
        s->err = EPROTO;
        return -1;
    }
    if (!s->tls_ready && tls_conn_ready(s->tls)) {
        s->tls_ready = 1;
        if (s->cbs->on_connected)
            s->cbs->on_connected(s, s->arg);
        if (s->closed)
            return 0;
        sock_write(s); /* plaintext queued during the handshake */
    }
    return rc == TLS_E_CLOSED ? 1 : 0;
}

static void on_rev(evutil_socket_t fd, short what, void *arg)
{
    struct sock *s = arg;
    if (what & EV_TIMEOUT) {
        fire_event(s, SOCK_READ_TIMEOUT);
        return;
    }
    size_t before = evbuffer_get_length(s->in);
    ssize_t n = read_into(s, s->tls ? s->rin : s->in);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n < 0) {
        s->err = errno;
        fire_event(s, SOCK_ERROR);
        return;
    }
    int eof = n == 0;
    if (s->tls != NULL && n > 0) {
        int rc = tls_step(s);
        if (s->closed)
            return;
        if (rc < 0) {
            fire_event(s, SOCK_ERROR);
            return;
        }
        eof = rc == 1;
    }
    if (evbuffer_get_length(s->in) > before) {
        s->cbs->on_read(s, s->arg);
        if (s->closed)
            return;
    }
    if (eof) {
        event_del(s->rev);
        s->reading = 0;
        fire_event(s, SOCK_EOF);
        return;
    }
    if (s->input_limit && evbuffer_get_length(s->in) >= s->input_limit)
        update_reading(s);
}

static void on_wev(evutil_socket_t fd, short what, void *arg)
{
    struct sock *s = arg;
    if (what & EV_TIMEOUT) {
        fire_event(s, SOCK_WRITE_TIMEOUT);
        return;
    }
    if (s->connecting) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            s->err = err;
            event_del(s->wev);
            fire_event(s, SOCK_ERROR);
            return;
        }
        s->connecting = 0;
        update_reading(s);
        if (s->cbs->on_connected)
            s->cbs->on_connected(s, s->arg);
        if (s->closed)
            return;
    }
    if (s->err != 0 || encrypt_pending(s) < 0 || flush(s) < 0) {
        event_del(s->wev);
        fire_event(s, SOCK_ERROR);
        return;
    }
    if (evbuffer_get_length(wire_out(s)) <= s->low_mark && s->cbs->on_drained)
        s->cbs->on_drained(s, s->arg);
}

static struct sock *sock_alloc(struct event_base *base, int fd, const struct sock_cbs *cbs,
                               void *arg)
{
    struct sock *s = xcalloc(1, sizeof(*s));
    s->magic = SOCK_MAGIC;
    s->fd = fd;
    s->base = base;
    s->cbs = cbs;
    s->arg = arg;
    s->in = evbuffer_new();
    s->out = evbuffer_new();
    s->rev = event_new(base, fd, EV_READ | EV_PERSIST, on_rev, s);
    s->wev = event_new(base, fd, EV_WRITE | EV_PERSIST, on_wev, s);
    if (s->in == NULL || s->out == NULL || s->rev == NULL || s->wev == NULL) {
        s->closed = 1; /* the caller still owns and closes fd */
        sock_free(s);
        return NULL;
    }
    return s;
}

struct sock *sock_new(struct event_base *base, int fd, const struct sock_cbs *cbs, void *arg)
{
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sock *s = sock_alloc(base, fd, cbs, arg);
    if (s != NULL)
        update_reading(s);
    return s;
}

struct sock *sock_connect(struct event_base *base, const struct sockaddr *sa, socklen_t len,
                          const struct sock_cbs *cbs, void *arg)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, sa, len) < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        errno = e;
        return NULL;
    }
    struct sock *s = sock_alloc(base, fd, cbs, arg);
    if (s == NULL) {
        close(fd);
        return NULL;
    }
    s->connecting = 1;
    arm_write(s);
    return s;
}

void sock_set_cbs(struct sock *s, const struct sock_cbs *cbs, void *arg)
{
    s->cbs = cbs;
    s->arg = arg;
}

int sock_tls_accept(struct sock *s, struct tls_ctx *ctx)
{
    s->tls = tls_conn_new(ctx);
    if (s->tls == NULL)
        return -1;
    s->rin = evbuffer_new();
    s->rout = evbuffer_new();
    return 0;
}

const char *sock_alpn(const struct sock *s)
{
    return s->tls ? tls_conn_alpn(s->tls) : NULL;
}

int sock_is_tls(const struct sock *s)
{
    return s->tls != NULL;
}

struct evbuffer *sock_in(struct sock *s)
{
    return s->in;
}

struct evbuffer *sock_out(struct sock *s)
{
    return s->out;
}

void sock_pause_read(struct sock *s, int paused)
{
    s->paused = paused != 0;
    update_reading(s);
}

void sock_set_input_limit(struct sock *s, size_t bytes)
{
    s->input_limit = bytes;
}

void sock_read_more(struct sock *s)
{
    if (!s->reading)
        update_reading(s);
}

void sock_set_timeouts(struct sock *s, uint64_t read_ms, uint64_t write_ms)
{
    int changed_read = s->read_ms != read_ms;
    s->read_ms = read_ms;
    s->write_ms = write_ms;
    if (s->closed)
        return;
    if (changed_read && s->reading)
        update_reading(s);
    if (event_pending(s->wev, EV_WRITE, NULL))
        arm_write(s);
}

void sock_set_low_mark(struct sock *s, size_t bytes)
{
    s->low_mark = bytes;
}

void sock_close(struct sock *s)
{
    if (s->closed)
        return;
    s->closed = 1;
    event_del(s->rev);
    event_del(s->wev);
    if (s->tls != NULL && s->tls_ready && s->err == 0) {
        /* Best effort: a close_notify and whatever plaintext was queued. */
        encrypt_pending(s);
        tls_conn_close_notify(s->tls, s->rout);
        evbuffer_write(s->rout, s->fd);
    }
    close(s->fd);
    s->fd = -1;
}

int sock_is_closed(const struct sock *s)
{
    return s->closed;
}

int sock_errno(const struct sock *s)
{
    return s->err;
}

void sock_free(struct sock *s)
{
    if (s == NULL)
        return;
    sock_close(s);
    if (s->rev)
        event_free(s->rev);
    if (s->wev)
        event_free(s->wev);
    if (s->in)
        evbuffer_free(s->in);
    if (s->out)
        evbuffer_free(s->out);
    if (s->rin)
        evbuffer_free(s->rin);
    if (s->rout)
        evbuffer_free(s->rout);
    if (s->tls)
        tls_conn_free(s->tls);
    s->magic = 0;
    free(s);
}
