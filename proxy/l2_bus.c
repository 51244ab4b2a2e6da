/* SPDX-License-Identifier: Apache-2.0
 *
 * l2_bus: cross-node purges over Redis pub/sub and the L2's ban list (see
 * l2_bus.h). Two hiredis async connections on the main thread's event base: SUB
 * holds the subscription to `<prefix>purge`, PUB sends PUBLISH and the ban
 * list's ZADD / ZREMRANGEBYSCORE / EXPIRE, and loads the bans with
 * ZRANGEBYSCORE when it connects. Each connection has the states of l2.c's
 * (idle, connecting, connected, closing) and follows the same hiredis 0.14
 * rules: hiredis frees a context after a failed connect or a lost connection
 * (after our callbacks return), we free one only from our own timer (connect
 * timeout) and from l2_bus_free. On the SUB connection hiredis calls the
 * subscription's callback once per message and once more with a NULL reply when
 * the context goes away.
 *
 * The ban list and the counters are process-wide (l2_bus_check has no bus
 * handle: rcache.c calls it from the workers).
 */
#include "l2_bus.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "l2.h"
#include "log.h"
#include "obj.h"
#include "util.h"

#define BUS_MAGIC 0x4c324255u
#define BCONN_MAGIC 0x4c324243u
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000
#define PRUNE_MS 10000
/* Local purges waiting for the main loop: past this they are not published
 * (counted as dropped); a purge is a scan of the whole L1, so this is far off. */
#define MAX_QUEUED 4096

/* ---- counters ---------------------------------------------------------------- */

static struct {
    atomic_uint_fast64_t sent, received, bad, dropped, resyncs, banned;
    atomic_int_fast64_t subscribed;
    atomic_int made;
} st;

#define BUMP(c) atomic_fetch_add_explicit(&st.c, 1, memory_order_relaxed)
#define LOAD(c) ((unsigned long long)atomic_load_explicit(&st.c, memory_order_relaxed))

/* ---- messages ------------------------------------------------------------------
 * Big-endian, L2_BUS_MSG_HEAD bytes then the host and the value:
 *   0  4  "TSPG"            16  8  seq
 *   4  1  version (1)       24  8  at (signed seconds)
 *   5  1  kind              32  2  host length (0: any host)
 *   6  1  flags: bit 0 soft, bit 1 host given, bits 2-3 https + 1
 *   7  1  zero               34  2  value length (1 .. PURGE_VALUE_MAX)
 *   8  8  node
 */

static void put16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (56 - 8 * i));
}

static unsigned get16(const unsigned char *p)
{
    return ((unsigned)p[0] << 8) | p[1];
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

size_t l2_bus__encode(const struct l2_bus__msg *m, unsigned char *out, size_t cap)
{
    const struct purge_req *pr = &m->pr;
    if ((unsigned)pr->kind >= PURGE_NKINDS || pr->value == NULL || pr->value_len == 0 ||
        pr->value_len > PURGE_VALUE_MAX)
        return 0;
    size_t hl = pr->host != NULL ? pr->host_len : 0;
    if (pr->host != NULL && (hl == 0 || hl >= PURGE_HOST_MAX))
        return 0;
    size_t n = L2_BUS_MSG_HEAD + hl + pr->value_len;
    if (n > cap)
        return 0;
    unsigned https = pr->https < 0 ? 0 : pr->https ? 2 : 1;
    memcpy(out, L2_BUS_MAGIC, 4);
    out[4] = L2_BUS_VERSION;
    out[5] = (unsigned char)pr->kind;
    out[6] = (unsigned char)((pr->soft ? 1u : 0u) | (pr->host != NULL ? 2u : 0u) | (https << 2));
    out[7] = 0;
    put64(out + 8, m->node);
    put64(out + 16, m->seq);
    put64(out + 24, (uint64_t)m->at);
    put16(out + 32, (unsigned)hl);
    put16(out + 34, (unsigned)pr->value_len);
    if (hl > 0)
        memcpy(out + L2_BUS_MSG_HEAD, pr->host, hl);
    memcpy(out + L2_BUS_MSG_HEAD + hl, pr->value, pr->value_len);
    return n;
}

int l2_bus__decode(const unsigned char *p, size_t n, struct l2_bus__msg *m)
{
    memset(m, 0, sizeof(*m));
    if (n < L2_BUS_MSG_HEAD || n > L2_BUS_MSG_MAX || memcmp(p, L2_BUS_MAGIC, 4) != 0 ||
        p[4] != L2_BUS_VERSION || p[5] >= PURGE_NKINDS || (p[6] & ~0x0fu) != 0 || p[7] != 0)
        return -1;
    unsigned https = (p[6] >> 2) & 3u;
    int has_host = (p[6] & 2u) != 0;
    size_t hl = get16(p + 32), vl = get16(p + 34);
    if (https == 3 || vl == 0 || vl > PURGE_VALUE_MAX || hl >= PURGE_HOST_MAX ||
        (has_host != (hl > 0)) || L2_BUS_MSG_HEAD + hl + vl != n)
        return -1;
    m->node = get64(p + 8);
    m->seq = get64(p + 16);
    m->at = (int64_t)get64(p + 24);
    m->pr.kind = (enum purge_kind)p[5];
    m->pr.soft = p[6] & 1u;
    m->pr.https = (int)https - 1;
    m->pr.host = has_host ? (const char *)p + L2_BUS_MSG_HEAD : NULL;
    m->pr.host_len = hl;
    m->pr.value = (const char *)p + L2_BUS_MSG_HEAD + hl;
    m->pr.value_len = vl;
    return 0;
}

/* ---- the ban list -------------------------------------------------------------- */

struct ban {
    struct purge_matcher *pm;
    int64_t at;    /* objects stored at or before it match */
    int64_t until; /* dropped from then on: at + ttl_max */
    uint64_t node, seq;
    int soft;
};

static pthread_rwlock_t ban_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct ban *bans;
static size_t nb, capb;
static atomic_size_t nbans; /* nb, read without the lock by l2_bus_check */

/* Under the write lock. */
static void prune_locked(int64_t now)
{
    size_t j = 0;
    for (size_t i = 0; i < nb; i++) {
        if (bans[i].until <= now)
            purge_matcher_free(&bans[i].pm);
        else
            bans[j++] = bans[i];
    }
    nb = j;
    atomic_store_explicit(&nbans, nb, memory_order_release);
}

int l2_bus__ban_add(const struct cfg *c, const struct l2_bus__msg *m, int64_t now,
                    int64_t ttl_max_s)
{
    struct purge_matcher *pm;
    int err = purge_matcher_new(c, &m->pr, &pm);
    if (err != PURGE_OK)
        return err;
    pthread_rwlock_wrlock(&ban_lock);
    prune_locked(now);
    for (size_t i = 0; i < nb; i++) {
        if (bans[i].node == m->node && bans[i].seq == m->seq) {
            pthread_rwlock_unlock(&ban_lock);
            purge_matcher_free(&pm);
            return PURGE_OK; /* known already (loaded again on a reconnect) */
        }
    }
    if (m->at + ttl_max_s <= now) {
        pthread_rwlock_unlock(&ban_lock);
        purge_matcher_free(&pm);
        return PURGE_OK; /* no L2 value can be that old */
    }
    if (nb == capb) {
        capb = capb ? 2 * capb : 16;
        struct ban *b = realloc(bans, capb * sizeof(*b));
        if (b == NULL)
            abort(); /* as xmalloc */
        bans = b;
    }
    bans[nb++] = (struct ban){pm, m->at, m->at + ttl_max_s, m->node, m->seq, m->pr.soft != 0};
    atomic_store_explicit(&nbans, nb, memory_order_release);
    pthread_rwlock_unlock(&ban_lock);
    return PURGE_OK;
}

size_t l2_bus__bans(void)
{
    return atomic_load_explicit(&nbans, memory_order_acquire);
}

void l2_bus__bans_clear(void)
{
    pthread_rwlock_wrlock(&ban_lock);
    for (size_t i = 0; i < nb; i++)
        purge_matcher_free(&bans[i].pm);
    nb = 0;
    atomic_store_explicit(&nbans, 0, memory_order_release);
    pthread_rwlock_unlock(&ban_lock);
}

enum l2_bus_verdict l2_bus_check(const struct obj *o, int64_t now)
{
    if (atomic_load_explicit(&nbans, memory_order_acquire) == 0)
        return L2_BUS_OK; /* the usual case: one load */
    enum l2_bus_verdict v = L2_BUS_OK;
    int64_t born = obj_stored_at(o);
    int fresh = now < obj_expires_at(o);
    pthread_rwlock_rdlock(&ban_lock);
    for (size_t i = 0; i < nb && v != L2_BUS_BANNED; i++) {
        const struct ban *b = &bans[i];
        if (now >= b->until || born > b->at || (b->soft && (!fresh || v == L2_BUS_STALE)))
            continue;
        if (purge_matcher_test(b->pm, o))
            v = b->soft ? L2_BUS_STALE : L2_BUS_BANNED;
    }
    pthread_rwlock_unlock(&ban_lock);
    if (v != L2_BUS_OK)
        BUMP(banned);
    return v;
}

/* ---- the bus --------------------------------------------------------------------- */

enum bconn_state { BC_IDLE, BC_CONNECTING, BC_CONNECTED, BC_CLOSING };
enum bconn_role { ROLE_SUB, ROLE_PUB };

struct bconn {
    unsigned magic;
    enum bconn_role role;
    enum bconn_state state;
    struct l2_bus *bus;
    redisAsyncContext *ac;
    struct event timer; /* connect deadline, or the back-off before the next try */
    uint64_t backoff_ms;
    unsigned failing;
    int subscribed;
};

struct queued {
    size_t len;
    unsigned char bytes[];
};

struct l2_bus {
    unsigned magic;
    struct event_base *base;
    struct cfg *const *gen;
    struct bconn sub, pub;
    struct event out_ev;   /* local purges queued by the observer */
    pthread_t main_thread; /* where the bus runs (and the admin API purges) */
    struct event prune_ev; /* drops old bans */
    pthread_mutex_t qlock;
    struct queued **q;
    size_t nq, capq;
    uint64_t node;
    atomic_uint_fast64_t seq;
    uint64_t connect_timeout_ms;
    int64_t ttl_max_s;
    char host[INET6_ADDRSTRLEN];
    int port;
    char addr[80];
    char chan[L2_PREFIX_MAX + 8];
    size_t chan_len;
    char bans_key[L2_PREFIX_MAX + 8];
    size_t bans_key_len;
};

static const char *role_name(enum bconn_role r)
{
    return r == ROLE_SUB ? "subscriber" : "publisher";
}

static const char *bc_state_name(enum bconn_state s)
{
    switch (s) {
    case BC_IDLE: return "idle";
    case BC_CONNECTING: return "connecting";
    case BC_CONNECTED: return "connected";
    case BC_CLOSING: return "closing";
    }
    return "?";
}

static void set_state(struct bconn *bc, enum bconn_state s)
{
    log_debug("l2", "bus %s: %s -> %s", role_name(bc->role), bc_state_name(bc->state),
              bc_state_name(s));
    bc->state = s;
}

static struct bconn *bconn_of(void *p)
{
    struct bconn *bc = p;
    if (bc == NULL || bc->magic != BCONN_MAGIC)
        abort();
    return bc;
}

static void set_unsubscribed(struct bconn *bc)
{
    if (bc->subscribed) {
        bc->subscribed = 0;
        atomic_fetch_sub_explicit(&st.subscribed, 1, memory_order_relaxed);
    }
}

static void retry_later(struct bconn *bc, const char *why)
{
    if (bc->failing++ == 0)
        log_warn("l2", "bus %s: redis %s: %s; retrying (every %d ms at most)", role_name(bc->role),
                 bc->bus->addr, why, BACKOFF_MAX_MS);
    else
        log_debug("l2", "bus %s: redis %s: %s", role_name(bc->role), bc->bus->addr, why);
    set_unsubscribed(bc);
    set_state(bc, BC_IDLE);
    struct timeval tv = util_ms_tv(bc->backoff_ms);
    evtimer_add(&bc->timer, &tv);
    bc->backoff_ms = bc->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : bc->backoff_ms * 2;
}

/* A message from another node (or our own, ignored). */
static void on_message(struct l2_bus *bus, const redisReply *payload)
{
    struct l2_bus__msg m;
    if (payload->type != REDIS_REPLY_STRING ||
        l2_bus__decode((const unsigned char *)payload->str, payload->len, &m) != 0) {
        BUMP(bad);
        log_debug("l2", "bus: a message that is not a purge (%zu bytes): ignored",
                  payload->type == REDIS_REPLY_STRING ? payload->len : 0);
        return;
    }
    if (m.node == bus->node)
        return; /* ours: done when it was made */
    int64_t now = (int64_t)time(NULL);
    /* The ban covers what this node stored up to now, whatever the clocks say. */
    if (m.at < now)
        m.at = now;
    const struct cfg *c = *bus->gen;
    size_t count = 0;
    int err = purge_apply(c, &m.pr, now, &count);
    if (err != PURGE_OK && err != PURGE_E_NO_STORE) {
        BUMP(bad);
        log_debug("l2", "bus: a purge that does not normalise: %s", purge_strerror(err));
        return;
    }
    BUMP(received);
    l2_bus__ban_add(c, &m, now, bus->ttl_max_s);
    log_debug("l2", "bus: purge %s %.*s from node %016llx: %zu objects", purge_kind_name(m.pr.kind),
              (int)m.pr.value_len, m.pr.value, (unsigned long long)m.node, count);
}

static void on_sub_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    redisReply *rp = reply;
    if (rp == NULL || ac->data == NULL)
        return; /* the context is going away: on_disconnect follows */
    struct bconn *bc = bconn_of(privdata);
    if (bc->state != BC_CONNECTED)
        return;
    if (rp->type != REDIS_REPLY_ARRAY || rp->elements < 3 ||
        rp->element[0]->type != REDIS_REPLY_STRING) {
        log_debug("l2", "bus: unexpected reply on the subscription");
        return;
    }
    const redisReply *kind = rp->element[0];
    if (kind->len == 9 && memcmp(kind->str, "subscribe", 9) == 0) {
        /* (Re)subscribed: purges published while we were not may be missing from
         * the L1, and nothing tells which: flush it. */
        if (!bc->subscribed) {
            bc->subscribed = 1;
            atomic_fetch_add_explicit(&st.subscribed, 1, memory_order_relaxed);
        }
        size_t n = purge_flush();
        BUMP(resyncs);
        log_info("l2",
                 "bus: subscribed to %s on redis %s; memory cache flushed (%zu objects): "
                 "purges may have been missed",
                 bc->bus->chan, bc->bus->addr, n);
        return;
    }
    if (kind->len == 7 && memcmp(kind->str, "message", 7) == 0)
        on_message(bc->bus, rp->element[2]);
}

static void on_write_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    redisReply *rp = reply;
    if (rp != NULL && rp->type == REDIS_REPLY_ERROR)
        log_debug("l2", "bus: %.*s", (int)rp->len, rp->str);
}

/* The bans of the last ttl_max, as ZRANGEBYSCORE ... WITHSCORES gives them. */
static void on_bans_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    redisReply *rp = reply;
    if (rp == NULL || ac->data == NULL)
        return;
    struct bconn *bc = bconn_of(privdata);
    struct l2_bus *bus = bc->bus;
    if (rp->type != REDIS_REPLY_ARRAY) {
        log_warn("l2", "bus: loading the bans from %.*s failed", (int)bus->bans_key_len,
                 bus->bans_key);
        return;
    }
    int64_t now = (int64_t)time(NULL);
    size_t loaded = 0;
    for (size_t i = 0; i + 1 < rp->elements; i += 2) {
        const redisReply *mem = rp->element[i], *score = rp->element[i + 1];
        struct l2_bus__msg m;
        if (mem->type != REDIS_REPLY_STRING || score->type != REDIS_REPLY_STRING ||
            l2_bus__decode((const unsigned char *)mem->str, mem->len, &m) != 0 ||
            l2_bus__ban_add(*bus->gen, &m, now, bus->ttl_max_s) != PURGE_OK) {
            BUMP(bad);
            continue;
        }
        loaded++;
    }
    log_info("l2", "bus: %zu bans loaded from %.*s (%zu held)", loaded, (int)bus->bans_key_len,
             bus->bans_key, l2_bus__bans());
}

static void on_ready(struct bconn *bc)
{
    struct l2_bus *bus = bc->bus;
    int rc;
    if (bc->role == ROLE_SUB) {
        rc = redisAsyncCommand(bc->ac, on_sub_reply, bc, "SUBSCRIBE %b", bus->chan, bus->chan_len);
    } else {
        char min[32];
        snprintf(min, sizeof(min), "%lld", (long long)((int64_t)time(NULL) - bus->ttl_max_s));
        rc = redisAsyncCommand(bc->ac, on_bans_reply, bc, "ZRANGEBYSCORE %b %s +inf WITHSCORES",
                               bus->bans_key, bus->bans_key_len, min);
    }
    if (rc != REDIS_OK)
        log_warn("l2", "bus %s: cannot send the first command", role_name(bc->role));
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct bconn *bc = ac->data;
    if (bc == NULL || bc->magic != BCONN_MAGIC || bc->ac != ac)
        return;
    evtimer_del(&bc->timer);
    if (status != REDIS_OK) {
        bc->ac = NULL;
        retry_later(bc, ac->errstr ? ac->errstr : "connect failed");
        return;
    }
    redisEnableKeepAlive((redisContext *)&ac->c);
    bc->backoff_ms = BACKOFF_MIN_MS;
    bc->failing = 0;
    set_state(bc, BC_CONNECTED);
    log_info("l2", "bus %s: connected to redis %s", role_name(bc->role), bc->bus->addr);
    on_ready(bc);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct bconn *bc = ac->data;
    if (bc == NULL || bc->magic != BCONN_MAGIC || bc->ac != ac || bc->state == BC_CLOSING)
        return;
    bc->ac = NULL;
    bc->backoff_ms = BACKOFF_MIN_MS;
    retry_later(bc, status == REDIS_OK || ac->errstr == NULL || ac->errstr[0] == '\0'
                        ? "connection lost"
                        : ac->errstr);
}

static void connect_now(struct bconn *bc)
{
    struct l2_bus *bus = bc->bus;
    char why[128];
    redisAsyncContext *ac =
        l2__open(bus->host, bus->port, bus->base, bc, on_connect, on_disconnect, why, sizeof(why));
    if (ac == NULL) {
        retry_later(bc, why);
        return;
    }
    bc->ac = ac;
    set_state(bc, BC_CONNECTING);
    struct timeval tv = util_ms_tv(bus->connect_timeout_ms);
    evtimer_add(&bc->timer, &tv);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct bconn *bc = bconn_of(arg);
    if (bc->state == BC_CONNECTING) {
        redisAsyncContext *ac = bc->ac;
        bc->ac = NULL;
        ac->data = NULL;
        redisAsyncFree(ac);
        retry_later(bc, "connect timeout (cache.redis.connect_timeout)");
        return;
    }
    if (bc->state == BC_IDLE)
        connect_now(bc);
}

/* On the main thread: a local purge becomes a ban here, and in Redis (ZADD) and
 * on the channel (PUBLISH) when connected. */
static void publish(struct l2_bus *bus, const unsigned char *bytes, size_t len)
{
    struct l2_bus__msg m;
    if (l2_bus__decode(bytes, len, &m) != 0)
        return; /* cannot happen: we encoded it */
    l2_bus__ban_add(*bus->gen, &m, (int64_t)time(NULL), bus->ttl_max_s);
    struct bconn *bc = &bus->pub;
    if (bc->state != BC_CONNECTED) {
        BUMP(dropped);
        log_warn("l2", "bus: not connected to redis %s: purge %s %.*s not published", bus->addr,
                 purge_kind_name(m.pr.kind), (int)m.pr.value_len, m.pr.value);
        return;
    }
    if (redisAsyncCommand(bc->ac, on_write_reply, NULL, "PUBLISH %b %b", bus->chan, bus->chan_len,
                          bytes, len) != REDIS_OK) {
        BUMP(dropped);
        return;
    }
    BUMP(sent);
    redisAsyncCommand(bc->ac, on_write_reply, NULL, "ZADD %b %lld %b", bus->bans_key,
                      bus->bans_key_len, (long long)m.at, bytes, len);
    redisAsyncCommand(bc->ac, on_write_reply, NULL, "ZREMRANGEBYSCORE %b -inf (%lld", bus->bans_key,
                      bus->bans_key_len, (long long)(m.at - bus->ttl_max_s));
    redisAsyncCommand(bc->ac, on_write_reply, NULL, "EXPIRE %b %lld", bus->bans_key,
                      bus->bans_key_len, (long long)bus->ttl_max_s + 60);
}

static void on_out(evutil_socket_t fd, short what, void *arg)
{
    struct l2_bus *bus = arg;
    if (bus->magic != BUS_MAGIC)
        abort();
    pthread_mutex_lock(&bus->qlock);
    struct queued **q = bus->q;
    size_t n = bus->nq;
    bus->q = NULL;
    bus->nq = bus->capq = 0;
    pthread_mutex_unlock(&bus->qlock);
    for (size_t i = 0; i < n; i++) {
        publish(bus, q[i]->bytes, q[i]->len);
        free(q[i]);
    }
    free(q);
}

/* The purge observer: any thread. */
static void on_purged(void *arg, const struct purge_req *pr)
{
    struct l2_bus *bus = arg;
    struct l2_bus__msg m = {bus->node,
                            atomic_fetch_add_explicit(&bus->seq, 1, memory_order_relaxed),
                            (int64_t)time(NULL), *pr};
    /* On the main thread (the admin API) the ban holds before the purge answers,
     * so this node's next L2 hit already sees it; publish() adds it again, a
     * no-op (same node and seq). Elsewhere it waits for on_out. */
    if (pthread_equal(pthread_self(), bus->main_thread))
        l2_bus__ban_add(*bus->gen, &m, m.at, bus->ttl_max_s);
    struct queued *qe = malloc(sizeof(*qe) + L2_BUS_MSG_MAX);
    if (qe == NULL || (qe->len = l2_bus__encode(&m, qe->bytes, L2_BUS_MSG_MAX)) == 0) {
        free(qe);
        BUMP(dropped);
        return;
    }
    pthread_mutex_lock(&bus->qlock);
    int ok = bus->nq < MAX_QUEUED;
    if (ok && bus->nq == bus->capq) {
        size_t cap = bus->capq ? 2 * bus->capq : 8;
        struct queued **nq = realloc(bus->q, cap * sizeof(*nq));
        if (nq == NULL)
            ok = 0;
        else {
            bus->q = nq;
            bus->capq = cap;
        }
    }
    if (ok)
        bus->q[bus->nq++] = qe;
    pthread_mutex_unlock(&bus->qlock);
    if (!ok) {
        free(qe);
        BUMP(dropped);
        return;
    }
    event_active(&bus->out_ev, EV_READ, 0);
}

static void on_prune(evutil_socket_t fd, short what, void *arg)
{
    pthread_rwlock_wrlock(&ban_lock);
    prune_locked((int64_t)time(NULL));
    pthread_rwlock_unlock(&ban_lock);
}

static void bconn_init(struct l2_bus *bus, struct bconn *bc, enum bconn_role role)
{
    bc->magic = BCONN_MAGIC;
    bc->role = role;
    bc->state = BC_IDLE;
    bc->bus = bus;
    bc->backoff_ms = BACKOFF_MIN_MS;
    evtimer_assign(&bc->timer, bus->base, on_timer, bc);
}

static uint64_t random_node(void)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v))
        v = util_now_ms() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)&v;
    return v;
}

struct l2_bus *l2_bus_new(struct event_base *base, const struct cfg_redis *conf,
                          struct cfg *const *gen)
{
    struct l2_bus *bus = xcalloc(1, sizeof(*bus));
    bus->magic = BUS_MAGIC;
    bus->base = base;
    bus->gen = gen;
    bus->node = random_node();
    bus->connect_timeout_ms = conf->connect_timeout_ms;
    bus->ttl_max_s = (int64_t)(conf->ttl_max_ms / 1000);
    if (bus->ttl_max_s < 1)
        bus->ttl_max_s = 1;
    pthread_mutex_init(&bus->qlock, NULL);
    const char *prefix = conf->prefix ? conf->prefix : "";
    size_t pl = strlen(prefix) < L2_PREFIX_MAX ? strlen(prefix) : L2_PREFIX_MAX;
    bus->chan_len = (size_t)snprintf(bus->chan, sizeof(bus->chan), "%.*spurge", (int)pl, prefix);
    bus->bans_key_len =
        (size_t)snprintf(bus->bans_key, sizeof(bus->bans_key), "%.*sbans", (int)pl, prefix);
    snprintf(bus->addr, sizeof(bus->addr), "%s", conf->server.text ? conf->server.text : "?");
    const struct sockaddr_storage *sa = &conf->server.sa;
    if (sa->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, bus->host, sizeof(bus->host));
        bus->port = ntohs(s6->sin6_port);
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, bus->host, sizeof(bus->host));
        bus->port = ntohs(s4->sin_port);
    }
    event_assign(&bus->out_ev, base, -1, 0, on_out, bus);
    event_assign(&bus->prune_ev, base, -1, EV_PERSIST, on_prune, bus);
    struct timeval tv = util_ms_tv(PRUNE_MS);
    evtimer_add(&bus->prune_ev, &tv);
    bconn_init(bus, &bus->sub, ROLE_SUB);
    bconn_init(bus, &bus->pub, ROLE_PUB);
    atomic_store_explicit(&st.made, 1, memory_order_relaxed);
    bus->main_thread = pthread_self();
    purge_set_observer(on_purged, bus);
    log_info("l2", "bus: node %016llx, channel %s", (unsigned long long)bus->node, bus->chan);
    connect_now(&bus->pub);
    connect_now(&bus->sub);
    return bus;
}

static void bconn_close(struct bconn *bc)
{
    set_unsubscribed(bc);
    set_state(bc, BC_CLOSING);
    evtimer_del(&bc->timer);
    if (bc->ac != NULL) {
        redisAsyncContext *ac = bc->ac;
        bc->ac = NULL;
        redisAsyncFree(ac); /* pending callbacks get NULL replies */
    }
    bc->magic = 0;
}

void l2_bus_free(struct l2_bus **bp)
{
    struct l2_bus *bus = *bp;
    *bp = NULL;
    if (bus == NULL)
        return;
    purge_set_observer(NULL, NULL);
    bconn_close(&bus->sub);
    bconn_close(&bus->pub);
    event_del(&bus->out_ev);
    event_del(&bus->prune_ev);
    for (size_t i = 0; i < bus->nq; i++)
        free(bus->q[i]);
    free(bus->q);
    pthread_mutex_destroy(&bus->qlock);
    bus->magic = 0;
    free(bus);
}

void l2_bus_metrics(struct evbuffer *out)
{
    if (!atomic_load_explicit(&st.made, memory_order_relaxed))
        return;
    evbuffer_add_printf(
        out,
        "# HELP tessera_purge_messages_sent_total Local purges published to the other nodes.\n"
        "# TYPE tessera_purge_messages_sent_total counter\ntessera_purge_messages_sent_total "
        "%llu\n"
        "# HELP tessera_purge_messages_received_total Purges of other nodes applied here.\n"
        "# TYPE tessera_purge_messages_received_total counter\n"
        "tessera_purge_messages_received_total %llu\n"
        "# HELP tessera_purge_messages_bad_total Messages and stored bans that were not purges.\n"
        "# TYPE tessera_purge_messages_bad_total counter\ntessera_purge_messages_bad_total %llu\n"
        "# HELP tessera_purge_messages_dropped_total Local purges not published (Redis down).\n"
        "# TYPE tessera_purge_messages_dropped_total counter\n"
        "tessera_purge_messages_dropped_total %llu\n"
        "# HELP tessera_purge_resyncs_total Subscriptions (re)established, each flushing L1.\n"
        "# TYPE tessera_purge_resyncs_total counter\ntessera_purge_resyncs_total %llu\n"
        "# HELP tessera_purge_subscribed Subscribed to the purge channel now.\n"
        "# TYPE tessera_purge_subscribed gauge\ntessera_purge_subscribed %llu\n"
        "# HELP tessera_l2_bans Purges held in the L2 ban list.\n"
        "# TYPE tessera_l2_bans gauge\ntessera_l2_bans %llu\n"
        "# HELP tessera_l2_banned_total L2 hits refused or made stale by a ban.\n"
        "# TYPE tessera_l2_banned_total counter\ntessera_l2_banned_total %llu\n",
        LOAD(sent), LOAD(received), LOAD(bad), LOAD(dropped), LOAD(resyncs), LOAD(subscribed),
        (unsigned long long)l2_bus__bans(), LOAD(banned));
}
