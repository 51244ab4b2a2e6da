/* SPDX-License-Identifier: Apache-2.0
 *
 * test_l2: the Redis L2 client (proxy/l2.c) without a Redis: key names, the
 * expiry written with each object, the breaker's state machine on a fake clock
 * (a table of steps), and the client against a small scripted RESP server on
 * loopback in the same event loop (a map of keys that GET, SET and DEL use,
 * which can also stall or answer errors): hits, misses, corrupt values and
 * another key's object (misses, deleted), error replies, timeouts whose late
 * reply is ignored, the breaker opening and its probe, cancelled lookups, a lost
 * connection and the reconnect, a refused connection.
 */
#include "cfg.h"
#include "l2.h"
#include "obj.h"
#include "util.h"

#include "check.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- pure parts ----------------------------------------------------------------- */

static void test_key_name(void)
{
    char out[L2_NAME_MAX];
    size_t n =
        l2_key_name("tessera:", 8, 0x0123456789abcdefull, 0xfedcba9876543210ull, out, sizeof(out));
    CHECK_STRN(out, n, "tessera:fedcba98765432100123456789abcdef");
    CHECK(out[n] == '\0');
    n = l2_key_name("", 0, 1, 0, out, sizeof(out));
    CHECK_STRN(out, n, "00000000000000000000000000000001");
    /* no room for the digits and the NUL */
    CHECK_INT(l2_key_name("p:", 2, 1, 2, out, 2 + 32), 0);
    CHECK_INT(l2_key_name("p:", 2, 1, 2, out, 2 + 33), 34);
}

static void test_ttl(void)
{
    struct obj *o = obj_new("k", 1, 1, 2, 0, 0);
    obj_set_times(o, 1000, 1060, 1090, 1120); /* fresh 60 s, swr 30 s, sie 60 s */
    CHECK_INT(l2__ttl(o, 1000, 86400), 120);
    CHECK_INT(l2__ttl(o, 1100, 86400), 20);
    CHECK_INT(l2__ttl(o, 1000, 100), 100); /* capped by ttl_max */
    CHECK_INT(l2__ttl(o, 1120, 86400), 0); /* no life left */
    CHECK_INT(l2__ttl(o, 5000, 86400), 0);
    obj_unref(&o);
    o = obj_new("k", 1, 1, 2, 0, 0);
    obj_set_times(o, 1000, 1000, 1000, 1000); /* no-cache: revalidated on every use */
    CHECK_INT(l2__ttl(o, 1000, 86400), 0);
    obj_unref(&o);
}

/* One step of the breaker: at time `at`, either ask (want: what allow says) or
 * report a result (ok, probe; want: whether it opened), then the state. */
struct step {
    uint64_t at;
    char op; /* 'a' allow, 'r' result */
    int ok, probe;
    int want;
    enum l2__breaker_state state;
};

static void test_breaker(void)
{
    static const struct step steps[] = {
        {0, 'a', 0, 0, 1, L2_BREAKER_CLOSED},
        {0, 'r', 0, 0, 0, L2_BREAKER_CLOSED}, /* 1 failure */
        {0, 'r', 0, 0, 0, L2_BREAKER_CLOSED}, /* 2 */
        {0, 'r', 1, 0, 0, L2_BREAKER_CLOSED}, /* a success resets the count */
        {0, 'r', 0, 0, 0, L2_BREAKER_CLOSED},
        {0, 'r', 0, 0, 0, L2_BREAKER_CLOSED},
        {10, 'r', 0, 0, 1, L2_BREAKER_OPEN}, /* 3 in a row: open until 110 */
        {20, 'a', 0, 0, 0, L2_BREAKER_OPEN},
        {20, 'r', 0, 0, 0, L2_BREAKER_OPEN}, /* late results are ignored... */
        {20, 'r', 1, 0, 0, L2_BREAKER_OPEN}, /* ...successes too */
        {109, 'a', 0, 0, 0, L2_BREAKER_OPEN},
        {110, 'a', 0, 0, 2, L2_BREAKER_HALF_OPEN}, /* the probe */
        {111, 'a', 0, 0, 0, L2_BREAKER_HALF_OPEN}, /* only one */
        {112, 'r', 1, 0, 0, L2_BREAKER_HALF_OPEN}, /* not the probe: ignored */
        {150, 'r', 0, 1, 1, L2_BREAKER_OPEN},      /* probe failed: open until 250 */
        {249, 'a', 0, 0, 0, L2_BREAKER_OPEN},
        {250, 'a', 0, 0, 2, L2_BREAKER_HALF_OPEN},
        {260, 'r', 1, 1, 0, L2_BREAKER_CLOSED}, /* probe answered: closed */
        {261, 'a', 0, 0, 1, L2_BREAKER_CLOSED},
        {262, 'r', 0, 0, 0, L2_BREAKER_CLOSED}, /* counting starts from zero */
        {262, 'r', 0, 0, 0, L2_BREAKER_CLOSED},
        {262, 'r', 0, 0, 1, L2_BREAKER_OPEN},
    };
    struct l2__breaker b;
    l2__breaker_init(&b, 3, 100);
    for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
        const struct step *s = &steps[i];
        int got = s->op == 'a' ? l2__breaker_allow(&b, s->at)
                               : l2__breaker_result(&b, s->ok, s->probe, s->at);
        CHECK_MSG(got == s->want, "step %zu: got %d, want %d", i, got, s->want);
        CHECK_MSG(b.state == s->state, "step %zu: %s, want %s", i, l2__breaker_state_name(b.state),
                  l2__breaker_state_name(s->state));
    }
    /* max_failures 1: the first failure opens it */
    l2__breaker_init(&b, 1, 5);
    CHECK_INT(l2__breaker_result(&b, 0, 0, 0), 1);
    CHECK(strcmp(l2__breaker_state_name(b.state), "open") == 0);
}

/* ---- a scripted RESP server ----------------------------------------------------- */

#define FK_KEYS 16
#define FK_CMDS 256

static struct event_base *base;

static struct {
    struct evconnlistener *lis;
    struct bufferevent *bev; /* the connected client */
    int port;
    int stall;   /* GETs are not answered until fk_release */
    int error;   /* GETs get -ERR */
    int stalled; /* GETs not answered yet */
    int accepts;
    struct {
        char name[128];
        unsigned char *value;
        size_t len;
    } kv[FK_KEYS];
    char cmds[FK_CMDS][160]; /* "SET name EX 60": the arguments but values */
    int ncmds;
} fk;

static int fk_find(const char *name)
{
    for (int i = 0; i < FK_KEYS; i++)
        if (fk.kv[i].value != NULL && strcmp(fk.kv[i].name, name) == 0)
            return i;
    return -1;
}

static void fk_put(const char *name, const void *v, size_t len)
{
    int i = fk_find(name);
    for (int k = 0; i < 0 && k < FK_KEYS; k++)
        if (fk.kv[k].value == NULL)
            i = k;
    if (i < 0)
        abort();
    free(fk.kv[i].value);
    snprintf(fk.kv[i].name, sizeof(fk.kv[i].name), "%s", name);
    fk.kv[i].value = xmalloc(len + 1);
    memcpy(fk.kv[i].value, v, len);
    fk.kv[i].len = len;
}

static void fk_del(const char *name)
{
    int i = fk_find(name);
    if (i >= 0) {
        free(fk.kv[i].value);
        fk.kv[i].value = NULL;
    }
}

/* One RESP array of bulk strings at p[0..len): returns the bytes it takes, 0
 * when incomplete. argv gets up to 5 arguments (values stay in place). */
static size_t fk_parse(const char *p, size_t len, const char **argv, size_t *argl, int *argc)
{
    const char *e = p + len, *q = p;
    if (q >= e || *q != '*')
        return 0;
    long n = strtol(q + 1, NULL, 10);
    const char *nl = memchr(q, '\n', (size_t)(e - q));
    if (nl == NULL)
        return 0;
    q = nl + 1;
    *argc = 0;
    for (long i = 0; i < n; i++) {
        if (q >= e || *q != '$')
            return 0;
        long l = strtol(q + 1, NULL, 10);
        nl = memchr(q, '\n', (size_t)(e - q));
        if (nl == NULL || (size_t)(e - (nl + 1)) < (size_t)l + 2)
            return 0;
        if (i < 5) {
            argv[i] = nl + 1;
            argl[i] = (size_t)l;
            *argc = (int)i + 1;
        }
        q = nl + 1 + l + 2;
    }
    return (size_t)(q - p);
}

static void fk_reply_get(struct bufferevent *bev, const char *name)
{
    int i = fk_find(name);
    if (i < 0) {
        bufferevent_write(bev, "$-1\r\n", 5);
        return;
    }
    char hdr[32];
    int n = snprintf(hdr, sizeof(hdr), "$%zu\r\n", fk.kv[i].len);
    bufferevent_write(bev, hdr, (size_t)n);
    bufferevent_write(bev, fk.kv[i].value, fk.kv[i].len);
    bufferevent_write(bev, "\r\n", 2);
}

static void fk_on_read(struct bufferevent *bev, void *arg)
{
    struct evbuffer *in = bufferevent_get_input(bev);
    for (;;) {
        size_t len = evbuffer_get_length(in);
        const char *p = (const char *)evbuffer_pullup(in, -1);
        const char *argv[5];
        size_t argl[5];
        int argc = 0;
        size_t used = len ? fk_parse(p, len, argv, argl, &argc) : 0;
        if (used == 0)
            return;
        if (argc == 0) {
            evbuffer_drain(in, used);
            continue;
        }
        char name[128] = "";
        if (argc >= 2)
            snprintf(name, sizeof(name), "%.*s", (int)argl[1], argv[1]);
        if (fk.ncmds < FK_CMDS) {
            if (argc == 5)
                snprintf(fk.cmds[fk.ncmds++], sizeof(fk.cmds[0]), "%.*s %s %.*s %.*s", (int)argl[0],
                         argv[0], name, (int)argl[3], argv[3], (int)argl[4], argv[4]);
            else
                snprintf(fk.cmds[fk.ncmds++], sizeof(fk.cmds[0]), "%.*s %s", (int)argl[0], argv[0],
                         name);
        }
        if (argl[0] == 3 && memcmp(argv[0], "GET", 3) == 0) {
            if (fk.stall)
                fk.stalled++;
            else if (fk.error)
                bufferevent_write(bev, "-ERR scripted\r\n", 15);
            else
                fk_reply_get(bev, name);
        } else if (argl[0] == 3 && memcmp(argv[0], "SET", 3) == 0 && argc >= 3) {
            fk_put(name, argv[2], argl[2]);
            bufferevent_write(bev, "+OK\r\n", 5);
        } else if (argl[0] == 3 && memcmp(argv[0], "DEL", 3) == 0) {
            fk_del(name);
            bufferevent_write(bev, ":1\r\n", 4);
        } else {
            bufferevent_write(bev, "-ERR unknown\r\n", 14);
        }
        evbuffer_drain(in, used);
    }
}

/* Answers the stalled GETs (as misses): replies after their deadline. */
static void fk_release(void)
{
    for (; fk.stalled > 0; fk.stalled--)
        bufferevent_write(fk.bev, "$-1\r\n", 5);
    fk.stall = 0;
}

static void fk_on_event(struct bufferevent *bev, short what, void *arg)
{
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        bufferevent_free(bev);
        if (fk.bev == bev)
            fk.bev = NULL;
    }
}

static void fk_on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                         int salen, void *arg)
{
    if (fk.bev != NULL)
        bufferevent_free(fk.bev);
    fk.bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(fk.bev, fk_on_read, NULL, fk_on_event, NULL);
    bufferevent_enable(fk.bev, EV_READ | EV_WRITE);
    fk.stalled = 0;
    fk.accepts++;
}

static void fk_start(void)
{
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fk.lis =
        evconnlistener_new_bind(base, fk_on_accept, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
                                16, (struct sockaddr *)&sin, sizeof(sin));
    CHECK(fk.lis != NULL);
    socklen_t len = sizeof(sin);
    getsockname(evconnlistener_get_fd(fk.lis), (struct sockaddr *)&sin, &len);
    fk.port = ntohs(sin.sin_port);
}

static int fk_saw(const char *cmd)
{
    for (int i = 0; i < fk.ncmds; i++)
        if (strcmp(fk.cmds[i], cmd) == 0)
            return 1;
    return 0;
}

/* ---- driving the loop ------------------------------------------------------------ */

static struct {
    int calls;
    struct obj *o;
    const char *err;
} got;

static void on_got(void *arg, struct obj *o, const char *err)
{
    got.calls++;
    obj_unref(&got.o);
    got.o = o;
    got.err = err;
}

static struct l2_stats stats(void)
{
    struct l2_stats s;
    l2_stats(&s);
    return s;
}

static int cond_calls(int n)
{
    return got.calls >= n;
}

/* Runs the loop until cond(arg) holds or ms pass; returns cond's last value. */
static int run_until(int (*cond)(int), int arg, int ms)
{
    uint64_t end = util_now_ms() + (uint64_t)ms;
    while (!cond(arg) && util_now_ms() < end) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        usleep(500);
    }
    return cond(arg);
}

static int cond_connected(int n)
{
    return stats().connected == (uint64_t)n;
}

static int cond_cmds(int n)
{
    return fk.ncmds >= n;
}

static int cond_accepts(int n)
{
    return fk.accepts >= n;
}

static void run_ms(int ms)
{
    run_until(cond_calls, 1 << 30, ms);
}

static struct cfg_redis conf_for(int port)
{
    struct cfg_redis c;
    memset(&c, 0, sizeof(c));
    char addr[32];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    CHECK(cfg_parse_addr(addr, &c.server) == 0);
    c.prefix = "t:";
    c.timeout_ms = 60;
    c.connect_timeout_ms = 200;
    c.ttl_max_ms = 86400000;
    c.breaker.failures = 3;
    c.breaker.cooldown_ms = 150;
    return c;
}

static struct obj *make_obj(const char *key, uint64_t hlo, uint64_t hhi, const char *body)
{
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n";
    struct obj *o = obj_new(key, strlen(key), hlo, hhi, sizeof(head) - 1, strlen(body));
    memcpy(obj_head_mut(o), head, sizeof(head) - 1);
    memcpy(obj_body_mut(o), body, strlen(body));
    int64_t now = (int64_t)time(NULL);
    obj_set_times(o, now, now + 60, now + 60, now + 60);
    return o;
}

static void name_of(uint64_t hlo, uint64_t hhi, char *out)
{
    l2_key_name("t:", 2, hlo, hhi, out, L2_NAME_MAX);
}

static void test_client(void)
{
    base = event_base_new();
    fk_start();
    struct cfg_redis conf = conf_for(fk.port);
    struct l2 *l = l2_new(base, &conf, 1);
    CHECK(run_until(cond_connected, 1, 2000));
    char name[L2_NAME_MAX];

    /* a miss */
    struct l2_op *op = l2_get(l, "k1", 2, 1, 1, on_got, NULL);
    CHECK(op != NULL);
    CHECK_INT(got.calls, 0); /* never from inside l2_get */
    CHECK(run_until(cond_calls, 1, 1000));
    CHECK(got.o == NULL && got.err == NULL);

    /* stored (on the next loop turn, with its whole life as EX), then a hit */
    struct obj *o = make_obj("k1", 1, 1, "body");
    l2_store(l, o);
    int before = fk.ncmds;
    CHECK(run_until(cond_cmds, before + 1, 1000));
    name_of(1, 1, name);
    char want[160], want2[160];
    snprintf(want, sizeof(want), "SET %s EX 60", name);
    snprintf(want2, sizeof(want2), "SET %s EX 59", name); /* a second went by */
    CHECK_MSG(fk_saw(want) || fk_saw(want2), "no \"%s\" among %d commands, last \"%s\"", want,
              fk.ncmds, fk.ncmds ? fk.cmds[fk.ncmds - 1] : "");
    op = l2_get(l, "k1", 2, 1, 1, on_got, NULL);
    CHECK(run_until(cond_calls, 2, 1000));
    CHECK(got.o != NULL && got.err == NULL);
    if (got.o != NULL) {
        CHECK(obj_key_equal(got.o, "k1", 2));
        CHECK_STRN((const char *)obj_body(got.o), obj_body_len(got.o), "body");
        CHECK_INT(obj_expires_at(got.o), obj_expires_at(o));
    }

    /* a corrupt value: a miss, counted, deleted */
    name_of(2, 2, name);
    fk_put(name, "garbage", 7);
    uint64_t corrupt = stats().corrupt;
    op = l2_get(l, "k2", 2, 2, 2, on_got, NULL);
    CHECK(run_until(cond_calls, 3, 1000));
    CHECK(got.o == NULL && got.err == NULL);
    CHECK_INT(stats().corrupt, corrupt + 1);
    snprintf(want, sizeof(want), "DEL %s", name);
    CHECK(run_until(cond_cmds, fk.ncmds + 1, 500) || fk_saw(want));
    CHECK(fk_saw(want));
    CHECK(fk_find(name) < 0);

    /* another key's object under this name: corrupt too */
    name_of(3, 3, name);
    unsigned char buf[512];
    size_t n = obj_serialize(o, buf, sizeof(buf));
    CHECK(n > 0);
    fk_put(name, buf, n);
    op = l2_get(l, "k3", 2, 3, 3, on_got, NULL);
    CHECK(run_until(cond_calls, 4, 1000));
    CHECK(got.o == NULL && got.err == NULL);
    CHECK_INT(stats().corrupt, corrupt + 2);
    obj_unref(&o);

    /* an error reply: the first failure */
    fk.error = 1;
    op = l2_get(l, "k1", 2, 1, 1, on_got, NULL);
    CHECK(run_until(cond_calls, 5, 1000));
    CHECK(got.err == l2_err_reply && got.o == NULL);
    fk.error = 0;

    /* a timeout: the second; its late reply is ignored */
    fk.stall = 1;
    uint64_t t0 = util_now_ms();
    op = l2_get(l, "k1", 2, 1, 1, on_got, NULL);
    CHECK(run_until(cond_calls, 6, 1000));
    CHECK(got.err == l2_err_timeout);
    CHECK(util_now_ms() - t0 >= 55);
    uint64_t misses = stats().misses;
    fk_release();
    run_ms(50);
    CHECK_INT(got.calls, 6);
    CHECK_INT(stats().misses, misses);

    /* a third failure opens the breaker: lookups are skipped, writes dropped */
    uint64_t opened = stats().breaker_opened;
    fk.stall = 1;
    op = l2_get(l, "k1", 2, 1, 1, on_got, NULL);
    CHECK(run_until(cond_calls, 7, 1000));
    CHECK(got.err == l2_err_timeout);
    CHECK_INT(stats().breaker_opened, opened + 1);
    CHECK_INT(stats().breaker_open, 1);
    uint64_t skipped = stats().skipped;
    CHECK(l2_get(l, "k1", 2, 1, 1, on_got, NULL) == NULL);
    CHECK_INT(stats().skipped, skipped + 1);
    uint64_t dropped = stats().dropped;
    CHECK(l2_set(l, 9, 9, "x", 1, 10) < 0);
    CHECK_INT(stats().dropped, dropped + 1);
    fk_release();

    /* after the cooldown one probe goes; its answer closes the breaker */
    run_ms(160);
    op = l2_get(l, "k1", 2, 1, 1, on_got, NULL);
    CHECK(op != NULL);
    CHECK(l2_get(l, "k1", 2, 1, 1, on_got, NULL) == NULL); /* only the probe */
    CHECK(run_until(cond_calls, 8, 1000));
    CHECK(got.o != NULL && got.err == NULL);
    CHECK_INT(stats().breaker_open, 0);

    /* a cancelled lookup: no callback, the answer still counted */
    uint64_t hits = stats().hits;
    op = l2_get(l, "k1", 2, 1, 1, on_got, NULL);
    l2_cancel(&op);
    CHECK(op == NULL);
    run_ms(100);
    CHECK_INT(got.calls, 8);
    CHECK_INT(stats().hits, hits + 1);

    /* l2_set copies the bytes; ttl 0 stores nothing */
    CHECK(l2_set(l, 7, 7, "abc", 3, 5) == 0);
    CHECK(l2_set(l, 7, 8, "abc", 3, 0) < 0);
    name_of(7, 7, name);
    snprintf(want, sizeof(want), "SET %s EX 5", name);
    before = fk.ncmds;
    CHECK(run_until(cond_cmds, before + 1, 1000));
    CHECK(fk_saw(want));

    /* the server goes away with a lookup pending: it fails, then we reconnect */
    fk.stall = 1;
    op = l2_get(l, "k1", 2, 1, 1, on_got, NULL);
    run_ms(5);
    int accepts = fk.accepts;
    bufferevent_free(fk.bev);
    fk.bev = NULL;
    fk.stall = 0;
    CHECK(run_until(cond_calls, 9, 1000));
    CHECK(got.err == l2_err_connection);
    CHECK(run_until(cond_accepts, accepts + 1, 2000));
    CHECK(run_until(cond_connected, 1, 2000));
    op = l2_get(l, "k1", 2, 1, 1, on_got, NULL);
    CHECK(run_until(cond_calls, 10, 1000));
    CHECK(got.o != NULL);

    /* freeing with a lookup pending drops it without its callback */
    fk.stall = 1;
    op = l2_get(l, "k1", 2, 1, 1, on_got, NULL);
    run_ms(5);
    l2_free(&l);
    CHECK(l == NULL);
    CHECK_INT(got.calls, 10);
    CHECK_INT(stats().connected, 0);
    fk.stall = 0;

    /* nobody listening: refused, skipped, retried */
    evconnlistener_free(fk.lis);
    fk.lis = NULL;
    uint64_t connects = stats().connects;
    l = l2_new(base, &conf, 2);
    run_ms(100);
    CHECK_INT(stats().connected, 0);
    CHECK_INT(stats().connects, connects);
    CHECK(l2_get(l, "k1", 2, 1, 1, on_got, NULL) == NULL);
    l2_free(&l);

    obj_unref(&got.o);
    if (fk.bev != NULL)
        bufferevent_free(fk.bev);
    for (int i = 0; i < FK_KEYS; i++)
        free(fk.kv[i].value);
    free(conf.server.text);
    event_base_free(base);
}

static void test_metrics(void)
{
    struct evbuffer *b = evbuffer_new();
    l2_metrics(b); /* an L2 was made above: the counters are shown */
    size_t n = evbuffer_get_length(b);
    char *text = xmalloc(n + 1);
    evbuffer_remove(b, text, n);
    text[n] = '\0';
    CHECK(strstr(text, "tessera_l2_gets_total ") != NULL);
    CHECK(strstr(text, "tessera_l2_timeouts_total ") != NULL);
    CHECK(strstr(text, "tessera_l2_breaker_opened_total ") != NULL);
    CHECK(strstr(text, "tessera_l2_connected 0\n") != NULL);
    CHECK(strstr(text, "tessera_l2_breaker_open 0\n") != NULL);
    free(text);
    evbuffer_free(b);
}

static void test_conf_changed(void)
{
    struct cfg a, b;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    struct cfg_redis x = conf_for(6379), y = conf_for(6379);
    CHECK(!l2_conf_changed(&a, &b));
    a.cache.redis = &x;
    CHECK(l2_conf_changed(&a, &b));
    b.cache.redis = &y;
    CHECK(!l2_conf_changed(&a, &b));
    y.prefix = "other:";
    CHECK(l2_conf_changed(&a, &b));
    y.prefix = x.prefix;
    y.breaker.cooldown_ms++;
    CHECK(l2_conf_changed(&a, &b));
    free(x.server.text);
    free(y.server.text);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* as tessera does: a write to a closed peer is an error */
    test_key_name();
    test_ttl();
    test_breaker();
    test_client();
    test_metrics();
    test_conf_changed();
    return check_report("test_l2");
}
