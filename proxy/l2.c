/* SPDX-License-Identifier: Apache-2.0
 *
 * l2: the Redis L2 (see l2.h). One hiredis async context per worker, attached to
 * the worker's event_base; everything here runs on that worker's thread except
 * the process-wide counters, which are relaxed atomics.
 *
 * Ownership: a lookup is a struct l2_op owned by hiredis (its privdata) from the
 * moment the command is queued until its reply callback runs; that callback runs
 * exactly once per command, with a NULL reply when the context goes away first,
 * and frees the op. Our deadline timer is embedded in the op; when it fires the
 * caller is answered with l2_err_timeout and the op only waits for its (ignored)
 * reply. l2_cancel only forgets the caller. Writes (SET, DEL) carry no op.
 *
 * hiredis 0.14 rules this file follows: the connect callback runs outside
 * REDIS_IN_CALLBACK, and hiredis frees the context itself after a failed connect
 * or a lost connection (after our callbacks returned), so we never free it from
 * a hiredis callback; we free it ourselves only from our own timers (connect
 * timeout) and from l2_free.
 */
#include "l2.h"
#include "l2_bus.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cfg.h"
#include "cfg_schema.h"
#include "log.h"
#include "obj.h"
#include "util.h"

_Static_assert(L2_PREFIX_MAX >= CFG__REDIS_PREFIX_MAX, "cache.redis.prefix bound");

#define L2_MAGIC 0x4c32434eu
#define L2_OP_MAGIC 0x4c324f50u
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000
/* Commands in flight per worker, and bytes of writes in flight: past these a
 * stalled Redis costs us nothing more (lookups are skipped, writes dropped). */
#define MAX_INFLIGHT 4096
#define MAX_WRITE_BYTES (64u << 20)
#define MAX_QUEUED_STORES 4096

const char l2_err_timeout[] = "timeout";
const char l2_err_reply[] = "error reply";
const char l2_err_connection[] = "connection lost";

enum l2_state {
    L2_IDLE,       /* not connected; the timer starts the next attempt */
    L2_CONNECTING, /* connect(2) in progress; the timer is its deadline */
    L2_CONNECTED,
    L2_CLOSING, /* l2_free: hiredis callbacks only clean up */
};

struct l2 {
    unsigned magic;
    unsigned id;
    enum l2_state state;
    struct event_base *base;
    redisAsyncContext *ac;
    struct event conn_timer;     /* connect deadline, or the back-off before the next try */
    struct event flush_ev;       /* l2_store's queue, on the next loop turn */
    const struct timeval *op_tv; /* common timeout: cache.redis.timeout */
    uint64_t connect_timeout_ms;
    uint64_t backoff_ms;
    int64_t ttl_max_s;
    struct l2__breaker br;
    unsigned inflight;  /* commands sent and not answered */
    size_t write_bytes; /* bytes of SET commands among them */
    unsigned failing;   /* connect attempts failed in a row (logged once) */
    struct obj **queue; /* l2_store: objects to write on the next loop turn */
    size_t nqueue, capqueue;
    char host[INET6_ADDRSTRLEN];
    int port;
    char addr[80]; /* as configured, for logs */
    size_t prefix_len;
    char prefix[L2_PREFIX_MAX + 1];
};

struct l2_op {
    unsigned magic;
    unsigned probe : 1;     /* the breaker's half-open probe */
    unsigned timed_out : 1; /* answered with l2_err_timeout; the reply is ignored */
    struct l2 *l;
    l2_get_cb cb; /* NULL once cancelled */
    void *arg;
    struct event timer;
    uint64_t hlo, hhi;
    size_t key_len;
    unsigned char key[]; /* the request's key bytes, compared with the object's */
};

/* Callbacks start here: a bad magic is a use after free. */
static struct l2 *checked(void *p)
{
    struct l2 *l = p;
    if (l == NULL || l->magic != L2_MAGIC)
        abort();
    return l;
}

/* ---- counters -------------------------------------------------------------- */

static struct {
    atomic_uint_fast64_t gets, hits, misses, errors, timeouts, corrupt, skipped, sets, dropped,
        dels, breaker_opened, connects;
    atomic_int_fast64_t connected, breaker_open;
    atomic_int made; /* an L2 was configured: /metrics shows tessera_l2_* */
} st;

#define BUMP(c) atomic_fetch_add_explicit(&st.c, 1, memory_order_relaxed)
#define GAUGE(c, d) atomic_fetch_add_explicit(&st.c, (d), memory_order_relaxed)

void l2_stats(struct l2_stats *out)
{
#define LOAD(c) ((uint64_t)atomic_load_explicit(&st.c, memory_order_relaxed))
    out->gets = LOAD(gets);
    out->hits = LOAD(hits);
    out->misses = LOAD(misses);
    out->errors = LOAD(errors);
    out->timeouts = LOAD(timeouts);
    out->corrupt = LOAD(corrupt);
    out->skipped = LOAD(skipped);
    out->sets = LOAD(sets);
    out->dropped = LOAD(dropped);
    out->dels = LOAD(dels);
    out->breaker_opened = LOAD(breaker_opened);
    out->connects = LOAD(connects);
    out->connected = LOAD(connected);
    out->breaker_open = LOAD(breaker_open);
#undef LOAD
}

void l2_metrics(struct evbuffer *out)
{
    if (!atomic_load_explicit(&st.made, memory_order_relaxed))
        return;
    struct l2_stats s;
    l2_stats(&s);
    static const char *const names[] = {"gets",     "hits",    "misses",         "errors",
                                        "timeouts", "corrupt", "skipped",        "sets",
                                        "dropped",  "dels",    "breaker_opened", "connects"};
    const uint64_t v[] = {s.gets,    s.hits, s.misses,  s.errors, s.timeouts,       s.corrupt,
                          s.skipped, s.sets, s.dropped, s.dels,   s.breaker_opened, s.connects};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        evbuffer_add_printf(out, "# TYPE tessera_l2_%s_total counter\ntessera_l2_%s_total %llu\n",
                            names[i], names[i], (unsigned long long)v[i]);
    evbuffer_add_printf(out,
                        "# HELP tessera_l2_connected Workers connected to Redis.\n"
                        "# TYPE tessera_l2_connected gauge\ntessera_l2_connected %llu\n"
                        "# HELP tessera_l2_breaker_open Workers whose L2 breaker is open.\n"
                        "# TYPE tessera_l2_breaker_open gauge\ntessera_l2_breaker_open %llu\n",
                        (unsigned long long)s.connected, (unsigned long long)s.breaker_open);
    l2_bus_metrics(out); /* cross-node purges and the ban list */
}

/* ---- the breaker ----------------------------------------------------------- */

void l2__breaker_init(struct l2__breaker *b, unsigned max_failures, uint64_t cooldown_ms)
{
    memset(b, 0, sizeof(*b));
    b->state = L2_BREAKER_CLOSED;
    b->max_failures = max_failures > 0 ? max_failures : 1;
    b->cooldown_ms = cooldown_ms;
}

int l2__breaker_allow(struct l2__breaker *b, uint64_t now_ms)
{
    switch (b->state) {
    case L2_BREAKER_CLOSED: return 1;
    case L2_BREAKER_OPEN:
        if (now_ms < b->open_until_ms)
            return 0;
        b->state = L2_BREAKER_HALF_OPEN;
        return 2;
    case L2_BREAKER_HALF_OPEN: return 0; /* the probe is out */
    }
    return 0;
}

static void breaker_trip(struct l2__breaker *b, uint64_t now_ms)
{
    b->state = L2_BREAKER_OPEN;
    b->failures = 0;
    b->open_until_ms = now_ms + b->cooldown_ms;
}

int l2__breaker_result(struct l2__breaker *b, int ok, int probe, uint64_t now_ms)
{
    if (probe) {
        if (b->state != L2_BREAKER_HALF_OPEN)
            return 0; /* cannot happen: only one probe is ever out */
        if (ok) {
            b->state = L2_BREAKER_CLOSED;
            b->failures = 0;
            return 0;
        }
        breaker_trip(b, now_ms);
        return 1;
    }
    if (b->state != L2_BREAKER_CLOSED)
        return 0; /* sent before it opened: the probe decides */
    if (ok) {
        b->failures = 0;
        return 0;
    }
    if (++b->failures < b->max_failures)
        return 0;
    breaker_trip(b, now_ms);
    return 1;
}

const char *l2__breaker_state_name(enum l2__breaker_state s)
{
    switch (s) {
    case L2_BREAKER_CLOSED: return "closed";
    case L2_BREAKER_OPEN: return "open";
    case L2_BREAKER_HALF_OPEN: return "half-open";
    }
    return "?";
}

/* Feeds one result to the worker's breaker, keeping the gauge and the log. */
static void breaker_result(struct l2 *l, int ok, int probe)
{
    enum l2__breaker_state was = l->br.state;
    if (l2__breaker_result(&l->br, ok, probe, util_now_ms())) {
        BUMP(breaker_opened);
        if (was == L2_BREAKER_CLOSED) {
            GAUGE(breaker_open, 1);
            log_warn("l2",
                     "w%u: breaker open after %u failed lookups in a row: Redis is not "
                     "asked for %llums",
                     l->id, l->br.max_failures, (unsigned long long)l->br.cooldown_ms);
        } else {
            log_debug("l2", "w%u: the probe failed: breaker open again", l->id);
        }
    } else if (was != L2_BREAKER_CLOSED && l->br.state == L2_BREAKER_CLOSED) {
        GAUGE(breaker_open, -1);
        log_info("l2", "w%u: breaker closed: Redis answered the probe", l->id);
    }
}

/* ---- names and expiry ------------------------------------------------------ */

size_t l2_key_name(const char *prefix, size_t prefix_len, uint64_t hlo, uint64_t hhi, char *out,
                   size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    if (cap < prefix_len + 33)
        return 0;
    memcpy(out, prefix, prefix_len);
    char *p = out + prefix_len;
    for (int i = 15; i >= 0; i--)
        *p++ = hex[(hhi >> (4 * i)) & 15];
    for (int i = 15; i >= 0; i--)
        *p++ = hex[(hlo >> (4 * i)) & 15];
    *p = '\0';
    return prefix_len + 32;
}

int64_t l2__ttl(const struct obj *o, int64_t now, int64_t ttl_max_s)
{
    int64_t end = obj_expires_at(o);
    if (obj_stale_until(o) > end)
        end = obj_stale_until(o);
    if (obj_error_until(o) > end)
        end = obj_error_until(o);
    if (end <= now)
        return 0;
    return end - now < ttl_max_s ? end - now : ttl_max_s;
}

/* ---- connection ------------------------------------------------------------ */

static const char *state_name(enum l2_state s)
{
    switch (s) {
    case L2_IDLE: return "idle";
    case L2_CONNECTING: return "connecting";
    case L2_CONNECTED: return "connected";
    case L2_CLOSING: return "closing";
    }
    return "?";
}

static void set_state(struct l2 *l, enum l2_state s)
{
    log_debug("l2", "w%u: %s -> %s", l->id, state_name(l->state), state_name(s));
    if (l->state == L2_CONNECTED && s != L2_CONNECTED)
        GAUGE(connected, -1);
    else if (l->state != L2_CONNECTED && s == L2_CONNECTED)
        GAUGE(connected, 1);
    l->state = s;
}

/* Not connected: the next attempt after the back-off, which doubles up to 2 s. */
static void retry_later(struct l2 *l, const char *why)
{
    if (l->failing++ == 0)
        log_warn("l2", "w%u: redis %s: %s; retrying (every %d ms at most)", l->id, l->addr, why,
                 BACKOFF_MAX_MS);
    else
        log_debug("l2", "w%u: redis %s: %s", l->id, l->addr, why);
    set_state(l, L2_IDLE);
    struct timeval tv = util_ms_tv(l->backoff_ms);
    evtimer_add(&l->conn_timer, &tv);
    l->backoff_ms = l->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : l->backoff_ms * 2;
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct l2 *l = ac->data;
    if (l == NULL || l->magic != L2_MAGIC || l->ac != ac)
        return;
    evtimer_del(&l->conn_timer);
    if (status != REDIS_OK) {
        /* hiredis frees the context when we return */
        l->ac = NULL;
        retry_later(l, ac->errstr ? ac->errstr : "connect failed");
        return;
    }
    redisEnableKeepAlive((redisContext *)&ac->c); /* a vanished server shows up while idle */
    l->backoff_ms = BACKOFF_MIN_MS;
    l->failing = 0;
    set_state(l, L2_CONNECTED);
    BUMP(connects);
    log_info("l2", "w%u: connected to redis %s", l->id, l->addr);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct l2 *l = ac->data;
    if (l == NULL || l->magic != L2_MAGIC || l->ac != ac || l->state == L2_CLOSING)
        return;
    /* hiredis frees the context when we return; pending lookups have had their
     * NULL replies already. */
    l->ac = NULL;
    l->backoff_ms = BACKOFF_MIN_MS;
    retry_later(l, status == REDIS_OK || ac->errstr == NULL || ac->errstr[0] == '\0'
                       ? "connection lost"
                       : ac->errstr);
}

redisAsyncContext *l2__open(const char *host, int port, struct event_base *base, void *data,
                            redisConnectCallback *on_conn, redisDisconnectCallback *on_disc,
                            char *why, size_t whylen)
{
    redisAsyncContext *ac = redisAsyncConnect(host, port);
    if (ac == NULL) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    if (ac->err) {
        snprintf(why, whylen, "%s", ac->errstr);
        redisAsyncFree(ac);
        return NULL;
    }
    ac->data = data;
    if (redisLibeventAttach(ac, base) != REDIS_OK ||
        redisAsyncSetConnectCallback(ac, on_conn) != REDIS_OK ||
        redisAsyncSetDisconnectCallback(ac, on_disc) != REDIS_OK) {
        ac->data = NULL;
        redisAsyncFree(ac);
        snprintf(why, whylen, "cannot attach to the event loop");
        return NULL;
    }
    return ac;
}

static void connect_now(struct l2 *l)
{
    char why[128];
    redisAsyncContext *ac =
        l2__open(l->host, l->port, l->base, l, on_connect, on_disconnect, why, sizeof(why));
    if (ac == NULL) {
        retry_later(l, why);
        return;
    }
    l->ac = ac;
    set_state(l, L2_CONNECTING);
    struct timeval tv = util_ms_tv(l->connect_timeout_ms);
    evtimer_add(&l->conn_timer, &tv);
}

static void on_conn_timer(evutil_socket_t fd, short what, void *arg)
{
    struct l2 *l = checked(arg);
    if (l->state == L2_CONNECTING) {
        /* Our own timer, not a hiredis callback: freeing is allowed. The context
         * never connected, so no disconnect callback runs. */
        redisAsyncContext *ac = l->ac;
        l->ac = NULL;
        ac->data = NULL;
        redisAsyncFree(ac);
        retry_later(l, "connect timeout (cache.redis.connect_timeout)");
        return;
    }
    if (l->state == L2_IDLE)
        connect_now(l);
}

/* ---- commands -------------------------------------------------------------- */

static void on_write_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    redisReply *rp = reply;
    if (ac->data == NULL)
        return; /* a context given up while connecting: nothing was sent */
    struct l2 *l = checked(ac->data);
    l->inflight--;
    l->write_bytes -= (size_t)(uintptr_t)privdata;
    if (rp == NULL || rp->type == REDIS_REPLY_ERROR) {
        BUMP(errors);
        if (rp != NULL)
            log_debug("l2", "w%u: write: %.*s", l->id, (int)rp->len, rp->str);
    }
}

static int can_write(const struct l2 *l, size_t bytes)
{
    return l->state == L2_CONNECTED && l->inflight < MAX_INFLIGHT &&
           l->write_bytes + bytes <= MAX_WRITE_BYTES;
}

void l2_del(struct l2 *l, uint64_t hlo, uint64_t hhi)
{
    checked(l);
    char name[L2_NAME_MAX];
    size_t n = l2_key_name(l->prefix, l->prefix_len, hlo, hhi, name, sizeof(name));
    if (!can_write(l, 0) ||
        redisAsyncCommand(l->ac, on_write_reply, NULL, "DEL %b", name, n) != REDIS_OK) {
        BUMP(dropped);
        return;
    }
    l->inflight++;
    BUMP(dels);
}

/* Appends "$<len>\r\n" to p. */
static char *bulk_len(char *p, size_t len)
{
    return p + sprintf(p, "$%zu\r\n", len);
}

/* Builds `SET name value EX ttl` in RESP around a value written by `fill` (so a
 * serialized object goes straight into the command) and queues it. */
static int send_set(struct l2 *l, uint64_t hlo, uint64_t hhi, size_t vlen, int64_t ttl_s,
                    void (*fill)(void *dst, size_t len, const void *src), const void *src)
{
    char name[L2_NAME_MAX], ttl[24];
    size_t n = l2_key_name(l->prefix, l->prefix_len, hlo, hhi, name, sizeof(name));
    if (ttl_s > l->ttl_max_s)
        ttl_s = l->ttl_max_s;
    int tl = snprintf(ttl, sizeof(ttl), "%lld", (long long)ttl_s);
    /* 5 argument headers of at most 24 bytes each, the CRLFs, and the arguments */
    size_t cap = 5 * 24 + 16 + 3 + n + vlen + 2 + (size_t)tl;
    if (ttl_s <= 0 || vlen > L2_VALUE_MAX || l->br.state != L2_BREAKER_CLOSED ||
        !can_write(l, cap)) {
        BUMP(dropped);
        return -1;
    }
    char *cmd = malloc(cap);
    if (cmd == NULL) {
        BUMP(dropped);
        return -1;
    }
    char *p = cmd;
    memcpy(p, "*5\r\n$3\r\nSET\r\n", 13);
    p += 13;
    p = bulk_len(p, n);
    memcpy(p, name, n);
    p += n;
    *p++ = '\r';
    *p++ = '\n';
    p = bulk_len(p, vlen);
    fill(p, vlen, src);
    p += vlen;
    memcpy(p, "\r\n$2\r\nEX\r\n", 10);
    p += 10;
    p = bulk_len(p, (size_t)tl);
    memcpy(p, ttl, (size_t)tl);
    p += tl;
    *p++ = '\r';
    *p++ = '\n';
    size_t len = (size_t)(p - cmd);
    int rc = redisAsyncFormattedCommand(l->ac, on_write_reply, (void *)(uintptr_t)len, cmd, len);
    free(cmd); /* hiredis copied it into its output buffer */
    if (rc != REDIS_OK) {
        BUMP(dropped);
        return -1;
    }
    l->inflight++;
    l->write_bytes += len;
    BUMP(sets);
    return 0;
}

static void fill_bytes(void *dst, size_t len, const void *src)
{
    memcpy(dst, src, len);
}

static void fill_obj(void *dst, size_t len, const void *src)
{
    obj_serialize(src, dst, len);
}

int l2_set(struct l2 *l, uint64_t hlo, uint64_t hhi, const void *bytes, size_t len, int64_t ttl_s)
{
    return send_set(l, hlo, hhi, len, ttl_s, fill_bytes, bytes);
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    struct l2 *l = checked(arg);
    int64_t now = (int64_t)time(NULL);
    for (size_t i = 0; i < l->nqueue; i++) {
        struct obj *o = l->queue[i];
        int64_t ttl = l2__ttl(o, now, l->ttl_max_s);
        if (ttl > 0)
            send_set(l, obj_hash_lo(o), obj_hash_hi(o), obj_serialized_size(o), ttl, fill_obj, o);
        else
            BUMP(dropped);
        obj_unref(&l->queue[i]);
    }
    l->nqueue = 0;
}

void l2_store(struct l2 *l, struct obj *o)
{
    checked(l);
    if (l->state != L2_CONNECTED || l->br.state != L2_BREAKER_CLOSED ||
        l->nqueue >= MAX_QUEUED_STORES) {
        BUMP(dropped);
        return;
    }
    if (l->nqueue == l->capqueue) {
        size_t cap = l->capqueue ? 2 * l->capqueue : 16;
        struct obj **q = realloc(l->queue, cap * sizeof(*q));
        if (q == NULL) {
            BUMP(dropped);
            return;
        }
        l->queue = q;
        l->capqueue = cap;
    }
    l->queue[l->nqueue++] = obj_ref(o);
    if (l->nqueue == 1)
        event_active(&l->flush_ev, EV_TIMEOUT, 0);
}

/* ---- lookups --------------------------------------------------------------- */

static struct l2_op *op_of(void *p)
{
    struct l2_op *op = p;
    if (op == NULL || op->magic != L2_OP_MAGIC)
        abort();
    return op;
}

static void op_free(struct l2_op *op)
{
    op->magic = 0;
    free(op);
}

/* A stored value for op: the object, or NULL after counting and deleting a
 * corrupt one. */
static struct obj *parse_value(struct l2 *l, struct l2_op *op, const redisReply *rp)
{
    struct obj *o = NULL;
    int err = OBJ_E_LENGTH;
    if (rp->len <= L2_VALUE_MAX)
        err = obj_parse(rp->str, rp->len, &o);
    if (err == OBJ_OK && obj_key_equal(o, op->key, op->key_len))
        return o;
    obj_unref(&o);
    BUMP(corrupt);
    log_debug("l2", "w%u: corrupt value (%s): deleted", l->id,
              err == OBJ_OK ? "another key" : obj_strerror(err));
    if (l->state == L2_CONNECTED)
        l2_del(l, op->hlo, op->hhi);
    return NULL;
}

static void on_get_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct l2_op *op = op_of(privdata);
    struct l2 *l = op->l;
    redisReply *rp = reply;
    l->inflight--;
    if (op->timed_out) {
        op_free(op); /* answered already; the breaker has counted it */
        return;
    }
    evtimer_del(&op->timer);
    struct obj *o = NULL;
    const char *err = NULL;
    if (rp == NULL) {
        err = l2_err_connection;
    } else if (rp->type == REDIS_REPLY_NIL) {
        BUMP(misses);
    } else if (rp->type == REDIS_REPLY_STRING) {
        o = parse_value(l, op, rp);
        if (o != NULL)
            BUMP(hits);
        else
            BUMP(misses);
    } else {
        err = l2_err_reply;
        if (rp->type == REDIS_REPLY_ERROR)
            log_debug("l2", "w%u: GET: %.*s", l->id, (int)rp->len, rp->str);
    }
    if (err != NULL)
        BUMP(errors);
    if (l->state != L2_CLOSING)
        breaker_result(l, err == NULL, op->probe);
    l2_get_cb cb = op->cb;
    void *arg = op->arg;
    op_free(op);
    if (cb == NULL || l->state == L2_CLOSING) {
        obj_unref(&o);
        return;
    }
    cb(arg, o, err);
}

static void on_op_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct l2_op *op = op_of(arg);
    struct l2 *l = op->l;
    op->timed_out = 1;
    BUMP(timeouts);
    breaker_result(l, 0, op->probe);
    l2_get_cb cb = op->cb;
    op->cb = NULL;
    if (cb != NULL)
        cb(op->arg, NULL, l2_err_timeout);
}

struct l2_op *l2_get(struct l2 *l, const void *key, size_t key_len, uint64_t hlo, uint64_t hhi,
                     l2_get_cb cb, void *arg)
{
    checked(l);
    BUMP(gets);
    uint64_t now = util_now_ms();
    /* Every reason not to ask is checked before the breaker hands out a probe,
     * so that a probe, once given, is always sent. */
    struct l2_op *op = NULL;
    if (l->state != L2_CONNECTED || l->inflight >= MAX_INFLIGHT ||
        l->br.state == L2_BREAKER_HALF_OPEN ||
        (l->br.state == L2_BREAKER_OPEN && now < l->br.open_until_ms) ||
        (op = malloc(sizeof(*op) + key_len)) == NULL) {
        BUMP(skipped);
        return NULL;
    }
    int allow = l2__breaker_allow(&l->br, now);
    memset(op, 0, sizeof(*op));
    op->magic = L2_OP_MAGIC;
    op->probe = allow == 2;
    op->l = l;
    op->cb = cb;
    op->arg = arg;
    op->hlo = hlo;
    op->hhi = hhi;
    op->key_len = key_len;
    memcpy(op->key, key, key_len);
    evtimer_assign(&op->timer, l->base, on_op_timeout, op);
    char name[L2_NAME_MAX];
    size_t n = l2_key_name(l->prefix, l->prefix_len, hlo, hhi, name, sizeof(name));
    if (redisAsyncCommand(l->ac, on_get_reply, op, "GET %b", name, n) != REDIS_OK) {
        BUMP(errors);
        breaker_result(l, 0, op->probe);
        op_free(op);
        return NULL;
    }
    l->inflight++;
    evtimer_add(&op->timer, l->op_tv);
    return op;
}

void l2_cancel(struct l2_op **opp)
{
    struct l2_op *op = *opp;
    *opp = NULL;
    if (op == NULL)
        return;
    op_of(op)->cb = NULL; /* the timer stays: a silent Redis still counts as a failure */
}

/* ---- life ------------------------------------------------------------------ */

struct l2 *l2_new(struct event_base *base, const struct cfg_redis *conf, unsigned id)
{
    struct l2 *l = xcalloc(1, sizeof(*l));
    l->magic = L2_MAGIC;
    l->id = id;
    l->state = L2_IDLE;
    l->base = base;
    l->connect_timeout_ms = conf->connect_timeout_ms;
    l->backoff_ms = BACKOFF_MIN_MS;
    l->ttl_max_s = (int64_t)(conf->ttl_max_ms / 1000);
    struct timeval tv = util_ms_tv(conf->timeout_ms);
    l->op_tv = event_base_init_common_timeout(base, &tv);
    if (l->op_tv == NULL) {
        static struct timeval plain; /* same for every worker: the config's value */
        plain = tv;
        l->op_tv = &plain;
    }
    l2__breaker_init(&l->br, conf->breaker.failures, conf->breaker.cooldown_ms);
    const char *prefix = conf->prefix ? conf->prefix : "";
    l->prefix_len = strlen(prefix) < L2_PREFIX_MAX ? strlen(prefix) : L2_PREFIX_MAX;
    memcpy(l->prefix, prefix, l->prefix_len);
    snprintf(l->addr, sizeof(l->addr), "%s", conf->server.text ? conf->server.text : "?");
    const struct sockaddr_storage *sa = &conf->server.sa;
    if (sa->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, l->host, sizeof(l->host));
        l->port = ntohs(s6->sin6_port);
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, l->host, sizeof(l->host));
        l->port = ntohs(s4->sin_port);
    }
    evtimer_assign(&l->conn_timer, base, on_conn_timer, l);
    event_assign(&l->flush_ev, base, -1, 0, on_flush, l);
    atomic_store_explicit(&st.made, 1, memory_order_relaxed);
    connect_now(l);
    return l;
}

void l2_free(struct l2 **lp)
{
    struct l2 *l = *lp;
    *lp = NULL;
    if (l == NULL)
        return;
    if (l->br.state != L2_BREAKER_CLOSED)
        GAUGE(breaker_open, -1);
    set_state(l, L2_CLOSING);
    evtimer_del(&l->conn_timer);
    event_del(&l->flush_ev);
    if (l->ac != NULL) {
        redisAsyncContext *ac = l->ac;
        l->ac = NULL;
        redisAsyncFree(ac); /* pending replies come back NULL and free their ops */
    }
    for (size_t i = 0; i < l->nqueue; i++)
        obj_unref(&l->queue[i]);
    free(l->queue);
    l->magic = 0;
    free(l);
}

int l2_conf_changed(const struct cfg *a, const struct cfg *b)
{
    const struct cfg_redis *x = a->cache.redis, *y = b->cache.redis;
    if (x == NULL || y == NULL)
        return x != y;
    return strcmp(x->server.text ? x->server.text : "", y->server.text ? y->server.text : "") ||
           strcmp(x->prefix ? x->prefix : "", y->prefix ? y->prefix : "") ||
           x->timeout_ms != y->timeout_ms || x->connect_timeout_ms != y->connect_timeout_ms ||
           x->ttl_max_ms != y->ttl_max_ms || x->breaker.failures != y->breaker.failures ||
           x->breaker.cooldown_ms != y->breaker.cooldown_ms;
}
