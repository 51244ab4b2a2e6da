/* SPDX-License-Identifier: Apache-2.0
 *
 * sock: a non-blocking TCP connection on a libevent loop with an input and an
 * output evbuffer, written for the proxy's hot path:
 *   - output is written at once by sock_write() (one writev) and write interest
 *     is registered with the loop only while bytes are left over;
 *   - input is read with readv into reserved evbuffer space (no FIONREAD probe);
 *   - read interest stays registered between requests, so a request/response
 *     costs no epoll_ctl call in the steady state.
 * (libevent's socket bufferevents add and remove write interest for every
 * response and probe the socket before every read: four extra system calls per
 * proxied request, measured with strace -c.)
 *
 * Callbacks run directly from the loop, never from inside a sock_* call. A
 * callback may call sock_close() on its own sock; the memory stays valid until
 * the owner calls sock_free(), which it must do on a later loop turn.
 * Thread: the owning worker's.
 */
#ifndef TESSERA_SOCK_H
#define TESSERA_SOCK_H

#include <event2/buffer.h>
#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct sock;
struct tls_ctx;

enum sock_event {
    SOCK_EOF = 1,           /* the peer closed (or half-closed) */
    SOCK_ERROR = 2,         /* a socket or TLS error; errno-style detail in sock_errno */
    SOCK_READ_TIMEOUT = 3,  /* nothing arrived within the read timeout */
    SOCK_WRITE_TIMEOUT = 4, /* no progress writing (or connecting) within the write timeout */
};

struct sock_cbs {
    void (*on_read)(struct sock *s, void *arg);      /* new bytes in sock_in() */
    void (*on_drained)(struct sock *s, void *arg);   /* output at or below the low mark */
    void (*on_connected)(struct sock *s, void *arg); /* outbound connect (and TLS) done */
    void (*on_event)(struct sock *s, void *arg, enum sock_event ev);
};

/* Wraps an accepted, connected socket (made non-blocking here). */
struct sock *sock_new(struct event_base *base, int fd, const struct sock_cbs *cbs, void *arg);

/* Starts a non-blocking connect. Returns the sock, or NULL with errno set when the
 * connect failed at once. on_connected (or on_event) follows. Bytes written before
 * the connection is up are sent once it is. */
struct sock *sock_connect(struct event_base *base, const struct sockaddr *sa, socklen_t len,
                          const struct sock_cbs *cbs, void *arg);

void sock_set_cbs(struct sock *s, const struct sock_cbs *cbs, void *arg);

/* Serve TLS on this (accepted) sock: sock_in/sock_out carry plaintext from now on;
 * on_connected is called once the handshake is done. Returns 0 or -1. */
int sock_tls_accept(struct sock *s, struct tls_ctx *ctx);
/* After the handshake: the ALPN protocol chosen ("h2", "http/1.1") or NULL. */
const char *sock_alpn(const struct sock *s);
int sock_is_tls(const struct sock *s);

struct evbuffer *sock_in(struct sock *s);
struct evbuffer *sock_out(struct sock *s);

/* Writes what sock_out holds now, as far as the kernel takes it; the rest goes
 * when the socket is writable. Never calls a callback. */
void sock_write(struct sock *s);

/* Reading stops while paused, or while sock_in holds at least the input limit. */
void sock_pause_read(struct sock *s, int paused);
void sock_set_input_limit(struct sock *s, size_t bytes); /* 0: none */
/* Re-registers reading after the owner consumed input below the limit. */
void sock_read_more(struct sock *s);

/* 0 disables. The read timeout runs while the sock waits for input and is reset
 * by every read; the write timeout while output is pending (and while connecting). */
void sock_set_timeouts(struct sock *s, uint64_t read_ms, uint64_t write_ms);

/* on_drained fires when a write leaves at most `bytes` in sock_out (default 0). */
void sock_set_low_mark(struct sock *s, size_t bytes);

/* Closes the descriptor and stops every callback. Idempotent. */
void sock_close(struct sock *s);
int sock_is_closed(const struct sock *s);
void sock_free(struct sock *s);
int sock_errno(const struct sock *s);

#endif
