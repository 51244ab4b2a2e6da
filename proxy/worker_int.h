/* SPDX-License-Identifier: Apache-2.0
 *
 * Internals shared by worker.c, conn.c, up.c and access.c: the worker, the client
 * connection and the upstream connection. Not for other modules.
 *
 * Ownership: a worker owns its conns (list `conns`) and its upstream servers
 * (list `servers`), which own their idle connections. A client conn owns the
 * upstream connection it is using for its current request; when the exchange ends
 * the upstream connection goes back to its server's idle list or is closed.
 * Everything here is touched by the owning worker's thread only.
 */
#ifndef TESSERA_WORKER_INT_H
#define TESSERA_WORKER_INT_H

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/queue.h>

#include "cfg.h"
#include "h1.h"
#include "sock.h"

struct conn;
struct up_conn;

/* Per worker, per origin server address: health and the idle keep-alive pool. */
struct up_server {
    unsigned magic;
#define UP_SERVER_MAGIC 0x55505356u
    char *key; /* address text, e.g. "127.0.0.1:9000" */
    struct sockaddr_storage sa;
    socklen_t sa_len;
    unsigned fails;      /* failures in a row */
    uint64_t down_until; /* monotonic ms; skipped before this */
    TAILQ_HEAD(, up_conn) idle;
    unsigned nidle;
    TAILQ_ENTRY(up_server) link;
};

/* Per worker, per origin name: the round-robin cursor. */
struct up_origin_rr {
    char *name;
    unsigned next;
    TAILQ_ENTRY(up_origin_rr) link;
};

struct worker {
    unsigned magic;
#define WORKER_MAGIC 0x574f524bu
    unsigned id;
    pthread_t thread;
    struct event_base *base;
    struct evconnlistener **listeners;
    size_t nlisteners;
    int *fds; /* listening sockets handed over by the main thread */
    size_t nfds;

    struct cfg *cfg;         /* current generation (one reference held) */
    struct cfg *pending_cfg; /* set by the main thread under `lock` */
    pthread_mutex_t lock;
    struct event *reload_ev; /* activated by the main thread */
    struct event *drain_ev;
    int draining;

    TAILQ_HEAD(, conn) conns;
    unsigned nconns;
    uint64_t next_req_id;

    TAILQ_HEAD(, up_server) servers;
    TAILQ_HEAD(, up_origin_rr) rr;

    /* The Date header value, refreshed once a second. */
    char date[40];
    time_t date_sec;

    struct h1_msg msg;          /* scratch for the head being parsed (one at a time) */
    struct h1_limits up_limits; /* limits for origin response heads */

    /* Closed conns and upstream connections, freed on the next loop turn so that
     * no callback up the stack touches freed memory. */
    TAILQ_HEAD(, conn) dead_conns;
    TAILQ_HEAD(, up_conn) dead_ups;
    struct event *reap_ev;

    struct evbuffer *access_buf; /* access log lines waiting to be written */
    struct event *access_flush_ev;

    void (*on_exit)(struct worker *w);
};

enum conn_state {
    CONN_IDLE,       /* keep-alive: waiting for the first byte of a request */
    CONN_READ_HEAD,  /* some bytes of a head are here */
    CONN_PROXY,      /* request dispatched to an origin */
    CONN_SEND_LOCAL, /* writing a response made here; then close or next */
    CONN_FLUSH,      /* last response queued: close once it is written */
    CONN_CLOSED,
};

enum up_state {
    UP_IDLE, /* in a server's pool */
    UP_CONNECTING,
    UP_WAIT_HEAD, /* request (or its head) sent; waiting for the response head */
    UP_BODY,      /* relaying the response body */
    UP_CLOSED,
};

struct up_conn {
    unsigned magic;
#define UP_CONN_MAGIC 0x5550434eu
    enum up_state state;
    struct sock *sock;
    struct up_server *server;
    struct worker *w;
    struct conn *owner;     /* the client conn using it, NULL when idle */
    unsigned reused : 1;    /* taken from the pool (a stale close is not a failure) */
    unsigned got_bytes : 1; /* any response byte arrived */
    TAILQ_ENTRY(up_conn) link;
};

/* The exchange with an origin for the current request of a client conn. */
struct fwd {
    const struct cfg_origin *origin;
    struct up_conn *up;
    struct evbuffer *req_head; /* the request head as sent upstream (for a retry) */
    unsigned attempts;
    unsigned req_done : 1;     /* request head and body fully handed to upstream */
    unsigned resp_started : 1; /* response head written to the client */
    unsigned resp_done : 1;
    unsigned idempotent : 1;
    unsigned up_keep_alive : 1;
    unsigned chunked_out : 1; /* re-chunking the response for the client */
    enum h1_body resp_body;
    uint64_t resp_remaining;
    struct h1_chunked resp_chunk;
    uint64_t up_start_ms;
    uint64_t up_ms;             /* time to the response head */
    struct up_server *tried[4]; /* servers already tried for this request */
    unsigned ntried;
};

struct conn {
    unsigned magic;
#define CONN_MAGIC 0x434f4e4eu
    enum conn_state state;
    struct worker *w;
    struct sock *sock;
    struct event *next_ev;         /* takes the next pipelined request */
    struct cfg *cfg; /* generation for the current request */
    char peer[INET6_ADDRSTRLEN];
    struct event *timer; /* header / keep-alive deadline */
    TAILQ_ENTRY(conn) link;

    /* The current request. */
    uint64_t req_id;
    uint64_t req_start_ms;
    unsigned in_request : 1; /* a request is being served (not yet logged) */
    char method[24];
    char *target; /* copied: logged after the head is drained */
    size_t target_len, target_cap;
    char ua[200]; /* User-Agent and Referer, truncated, for the log */
    char referer[200];
    int minor_version;
    unsigned keep_alive : 1;
    unsigned head_method : 1;
    unsigned expect_continue : 1;
    unsigned req_body_chunked : 1;
    unsigned req_body_done : 1;
    unsigned close_after : 1;    /* close once the response is written */
    uint64_t req_body_remaining; /* CL bodies */
    uint64_t req_body_seen;
    struct h1_chunked req_chunk;
    int status;
    uint64_t bytes_out; /* response bytes queued to the client */
    struct fwd fwd;
};

/* conn.c */
void conn__accept(struct worker *w, evutil_socket_t fd, struct sockaddr *sa, int salen);
void conn__close(struct conn *c);
/* Ends the current request with a locally made response (status and text body). */
void conn__respond_local(struct conn *c, int status, const char *body, int close_after);
/* Closes the idle connections of a draining worker. */
void conn__drain_idle(struct worker *w);
/* Called by up.c when the response has been fully relayed (or aborted). */
void conn__exchange_done(struct conn *c, int abort_client);
void conn__body_to_upstream(struct conn *c);

/* up.c */
/* Where a request goes: its origin-form path and query, and for absolute-form
 * targets the authority that replaces Host. */
struct up_target {
    const char *uri;
    size_t uri_len;
    const char *authority; /* NULL for origin-form targets */
    size_t authority_len;
};
void up__prepare(struct conn *c, const struct h1_msg *m, const struct up_target *t);
void up__start(struct conn *c, const struct cfg_origin *o);
void up__abort(struct conn *c);
void up__on_client_writable(struct conn *c);
/* The upstream output buffer the request body goes to, or NULL when there is no
 * upstream connection any more. */
struct evbuffer *up__body_sink(struct conn *c);
/* Called after body bytes were added to the sink: applies back-pressure. */
void up__body_added(struct conn *c);
void up__free(struct up_conn *up);
void up__worker_fini(struct worker *w);

/* access.c */
void access__log(struct conn *c);
void access__flush(struct worker *w);
int access__enabled(void);

/* worker.c */
const char *worker__date(struct worker *w);
void worker__conn_gone(struct worker *w);
void worker__reap_later(struct worker *w);
void conn__free(struct conn *c);

#endif
