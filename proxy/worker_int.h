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
struct rc_wait;
struct compose;
struct rc_flight;
struct h2s;
struct tls_ctx;
struct l2;
struct l2_op;

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

/* What an accept callback needs to know: its worker and which listen entry. */
struct listener_arg {
    struct worker *w;
    size_t idx;
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
    struct tls_ctx **tls;    /* per listen index; NULL entries for plain TCP */
    struct tls_ctx **pending_tls;
    struct listener_arg *largs;
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

    struct h1_msg msg;            /* scratch for the head being parsed (one at a time) */
    struct h1_msg aux;            /* rcache.c: a second head (request sent upstream) */
    struct h1_msg page_msg;       /* page.c: a page's request or response head */
    struct hookrt *hookrt;        /* hookrun.c: Lua VMs, made on first use */
    struct compose *compose_free; /* compose.c: recycled compositions */
    unsigned ncompose_free;
    struct evbuffer *scratch;                /* body bytes handed on from chunked origins */
    TAILQ_HEAD(rc_mailbox, rc_wait) rc_mail; /* coalesced requests to wake (rcache.c) */
    struct event *rc_ev;
    struct h1_limits up_limits; /* limits for origin response heads */
    struct l2 *l2;              /* the Redis L2 connection (l2.c), NULL: cache.redis absent */

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
    struct req *owner;      /* the request using it, NULL when idle */
    unsigned reused : 1;    /* taken from the pool (a stale close is not a failure) */
    unsigned got_bytes : 1; /* any response byte arrived */
    TAILQ_ENTRY(up_conn) link;
};

/* The exchange with an origin for one request. */
struct fwd {
    const struct cfg_origin *origin;
    struct up_conn *up;
    struct evbuffer *req_head; /* the request head as sent upstream (for a retry) */
    unsigned attempts;
    unsigned resp_started : 1; /* response head handed to the client side */
    unsigned resp_done : 1;
    unsigned idempotent : 1;
    unsigned up_keep_alive : 1;
    unsigned req_chunked : 1; /* the request body goes upstream chunked */
    enum h1_body resp_body;
    uint64_t resp_remaining;
    struct h1_chunked resp_chunk;
    uint64_t up_start_ms;
    uint64_t up_ms;             /* time to the response head */
    struct up_server *tried[4]; /* servers already tried for this request */
    unsigned ntried;
};

struct req;

/* What the client side (an HTTP/1.1 connection, an HTTP/2 stream) does for the
 * protocol-independent request code in up.c. */
struct req_ops {
    /* The origin's response head (fields are filtered with up__pass_field). */
    void (*response_head)(struct req *r, const struct h1_msg *m);
    /* Optional: a stored head as rcache.c keeps it, sent without parsing it
     * (HTTP/1.1 only; otherwise response_head gets it parsed). */
    void (*stored_head)(struct req *r, const char *head, size_t len);
    /* Moves n body bytes from src towards the client. */
    void (*response_body)(struct req *r, struct evbuffer *src, size_t n);
    /* The response is complete. */
    void (*response_end)(struct req *r);
    /* The response was cut short after its head was sent. */
    void (*response_abort)(struct req *r);
    /* A response made here. `extra` holds header lines ("Name: v\r\n"). */
    void (*respond)(struct req *r, int status, const char *extra, const char *body,
                    int close_after);
    /* Response bytes queued towards the client and not yet written. */
    size_t (*pending)(struct req *r);
    /* Call up__on_client_writable(r) once pending() falls to `low`. */
    void (*notify_below)(struct req *r, size_t low);
    /* Stops or restarts taking request body bytes from the client. */
    void (*pause_body)(struct req *r, int paused);
};

/* The cache's view of one request (rcache.c). */
struct rc_state {
    unsigned active : 1;       /* the route caches: Cache-Status is sent */
    unsigned cacheable : 1;    /* GET/HEAD with a key: a response may be stored */
    unsigned unsafe : 1;       /* a successful response invalidates the key */
    unsigned req_auth : 1;     /* the request carried Authorization */
    unsigned req_no_store : 1; /* the request said Cache-Control: no-store */
    unsigned hfm : 1;          /* the key was hit-for-miss (Cache-Status has its detail) */
    unsigned revalidate : 1;   /* `stale` is revalidated: the origin gets its validators */
    unsigned client_nm : 1;    /* the client's conditional matched `stale`: answer 304 */
    const struct cfg_route_cache *rules;
    struct obj *capture;             /* response being stored */
    struct obj *stale;               /* expired copy kept for stale-if-error */
    struct rc_flight *flight;        /* this request leads the fetch of its key */
    struct rc_wait *wait;            /* this request waits for another's fetch */
    struct l2_op *l2op;              /* this request (a flight's leader) asks the L2 */
    const struct cfg_origin *origin; /* where a waiter goes if it must */
    const struct cfg_route *route;   /* for the route's counters */
    int64_t fresh_for;               /* seconds the answer stays fresh (0: not stored) */
    size_t body_at;                  /* body bytes captured so far */
    uint64_t hlo, hhi;               /* the key in use: the primary one or a Vary variant's */
    size_t key_len;
    uint64_t base_hlo, base_hhi; /* the primary key: key[0..base_len) */
    size_t base_len;
    size_t host_end; /* key[0..host_end): the method and host parts */
    unsigned char key[1024];
};

/* One request, whatever the protocol it came in on. */
struct req {
    unsigned magic;
#define REQ_MAGIC 0x52455131u
    const struct req_ops *ops;
    struct worker *w;
    struct cfg *cfg; /* generation for this request */
    const char *peer;
    uint64_t id;
    uint64_t start_ms;
    char method[24];
    char *target; /* copied: logged after the head is gone */
    size_t target_len, target_cap;
    char ua[200]; /* User-Agent and Referer, truncated, for the log */
    char referer[200];
    const char *proto;       /* "HTTP/1.1", "HTTP/1.0", "HTTP/2.0" for the log */
    unsigned in_request : 1; /* being served, not yet logged */
    unsigned head_method : 1;
    unsigned body_done : 1; /* the request body was fully handed upstream */
    unsigned tls : 1;       /* came over TLS (X-Forwarded-Proto) */
    int status;
    uint64_t bytes_out; /* response bytes queued to the client */
    struct fwd fwd;
    struct rc_state rc;
    /* Page routes (page.c): how a miss is answered when it is not by an origin
     * (NULL: up__start), the channel, the composition in flight. */
    void (*fetch)(struct req *r);
    const struct cfg_route *page_route;
    const char *channel; /* NULL: not classified (the key has no channel part) */
    size_t channel_idx;
    struct compose *compose;
    unsigned page_streamed : 1; /* the head (chunked) and page_sent bytes went out */
    int page_enc;               /* enum codec_enc the page is answered in */
    const char *key_extra;      /* one more part for the cache key (a page's coding), or NULL */
    size_t page_sent;
    int64_t age;            /* Age to send (a cache hit), or -1 */
    char cache_status[128]; /* Cache-Status to send, or "" */
    struct hookreq *hk;     /* hookrun.c: a hooked route's state, else NULL */
};

struct conn {
    unsigned magic;
#define CONN_MAGIC 0x434f4e4eu
    enum conn_state state;
    struct worker *w;
    struct sock *sock;
    struct event *next_ev; /* takes the next pipelined request */
    char peer[INET6_ADDRSTRLEN];
    struct event *timer; /* header / keep-alive deadline */
    TAILQ_ENTRY(conn) link;
    struct h2s *h2; /* non-NULL once the connection speaks HTTP/2 */

    /* The current HTTP/1.1 request. */
    struct req req;
    int minor_version;
    unsigned keep_alive : 1;
    unsigned expect_continue : 1;
    unsigned req_body_chunked : 1;
    unsigned close_after : 1;    /* close once the response is written */
    unsigned chunked_out : 1;    /* re-chunking the response for the client */
    uint64_t req_body_remaining; /* CL bodies */
    uint64_t req_body_seen;
    struct h1_chunked req_chunk;
};

/* req.c: the parts of a request every protocol shares. */
void req__init(struct req *r, struct worker *w, const struct req_ops *ops, const char *peer);
/* Starts a request: takes the worker's generation, a new id, the start time. */
void req__begin(struct req *r);
/* Records what the access log needs (method, target, User-Agent, Referer). */
void req__note(struct req *r, const char *method, size_t mlen, const char *target, size_t tlen,
               const struct h1_msg *m);
/* Logs the request (once) and drops its generation. */
void req__end(struct req *r);
void req__fini(struct req *r);
/* Routes and forwards a parsed request. Returns 0 when forwarded, or answers it
 * with a local response (404, 400, 405, ...) itself. */
void req__dispatch(struct req *r, const struct h1_msg *m);
const char *req__reason(int status);

/* conn.c */
void conn__accept(struct worker *w, evutil_socket_t fd, struct sockaddr *sa, int salen,
                  struct tls_ctx *tls);
void conn__close(struct conn *c);
/* Closes the idle connections of a draining worker. */
void conn__drain_idle(struct worker *w);
void conn__free(struct conn *c);

/* up.c */
/* Where a request goes: its origin-form path and query, and for absolute-form
 * targets the authority that replaces Host. */
struct up_target {
    const char *uri;
    size_t uri_len;
    const char *authority; /* NULL for origin-form targets */
    size_t authority_len;
};
void up__prepare(struct req *r, const struct h1_msg *m, const struct up_target *t);
void up__start(struct req *r, const struct cfg_origin *o);
void up__abort(struct req *r);
void up__on_client_writable(struct req *r);
/* The upstream output buffer the request body goes to, or NULL when there is no
 * upstream connection any more. */
struct evbuffer *up__body_sink(struct req *r);
/* Request body bytes from a client that does not frame them itself (HTTP/2):
 * framed for the origin (chunked when no Content-Length was given). */
void up__body_data(struct req *r, const void *data, size_t n);
void up__body_end(struct req *r);
/* Called after body bytes were added to the sink: applies back-pressure. */
void up__body_added(struct req *r);
/* Non-zero when an origin response field is passed on to the client. */
int up__pass_field(const struct h1_msg *m, const struct h1_header *h, int framing);
void up__free(struct up_conn *up);
void up__worker_fini(struct worker *w);

/* access.c */
void access__log(struct req *r);
void access__flush(struct worker *w);
int access__enabled(void);

/* worker.c */
const char *worker__date(struct worker *w);
void worker__conn_gone(struct worker *w);
void worker__reap_later(struct worker *w);

#endif
