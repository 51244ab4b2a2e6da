/* SPDX-License-Identifier: Apache-2.0
 *
 * fuzz_h2: libFuzzer target for the HTTP/2 connection path after the preface
 * (proxy/h2s.c, and through it req.c, route.c, up.c, access.c and nghttp2).
 *
 * Input: the bytes a client sends after "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" (so a
 * well-formed input starts with a SETTINGS frame). Each input is played twice, on a
 * fresh session each time: all at once (one read), then frame by frame with loop
 * turns between frames, so deferred sends, stream reaping and upstream failures
 * interleave with later frames. After the input, the session is drained (GOAWAY),
 * closed and freed, as conn.c does.
 *
 * The environment is built once per process, like a worker of its own: an
 * event_base, a configuration loaded from an inline file, and a struct worker set up
 * the way worker_new() does it. Per session: a socketpair, whose one end is wrapped
 * in a sock for the h2s and whose other end plays the client and is read after every
 * loop turn. Nothing leaves the loopback:
 *   - "/o/..." goes to an origin served from the same loop (below), which answers
 *     every request head at once and echoes the request's fields (but framing and
 *     hop-by-hop ones) into its response head, so the fuzzer reaches the response
 *     side of h2s.c through the request: status and body shape follow the path
 *     ("/204", "/chunked", "/big" (100 KB, beyond the client's window), "/close",
 *     "/1xx", "/bad"; otherwise 200 with 16 bytes);
 *   - "/up/..." goes to 127.0.0.1:1, refused at once: 502, with request bodies
 *     framed for it meanwhile;
 *   - every other path gets 404 from req.c.
 * The limits are small so that 431, REFUSED_STREAM and flow control are in reach.
 * Error and access logs are formatted at debug level into /dev/null (FUZZ_H2_LOG=1
 * sends the error log to stderr instead, with the frames the server wrote).
 *
 * Invariants, checked with FUZZ_CHECK (which aborts even when NDEBUG is set): what
 * the server writes is a sequence of frames starting with its SETTINGS (stream 0,
 * no ACK, a multiple of 6 bytes); it never sends PUSH_PROMISE (push is off); frames
 * of the connection (SETTINGS, PING, GOAWAY) are on stream 0 and frames of a stream
 * (HEADERS, DATA, RST_STREAM, CONTINUATION) on a client stream (odd, non-zero);
 * a RST_STREAM(NO_ERROR) only follows a complete response on its stream (RFC 9113
 * 8.1: the seeds post-404-data and post-too-large pin it); once the session is
 * closed, one loop turn reaps every upstream connection. Leaks and memory errors are
 * the sanitizers' job.
 *
 * Built with -fsanitize=fuzzer, or linked with tests/fuzz/replay.c for ctest.
 */
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cfg.h"
#include "h2s.h"
#include "log.h"
#include "sock.h"
#include "worker.h"
#include "worker_int.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_h2: %s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define MAX_INPUT (256u << 10)
#define TURNS_PER_STEP 4 /* loop turns after each piece of input */
#define TURNS_AFTER 8    /* ... after the whole input, and after the GOAWAY */
#define MAX_FRAMES_STEPPED 256
#define OUT_KEEP (1u << 20) /* server output kept for the frame checks */

/* Port 1 on the loopback: nothing listens there, so connecting is refused at once.
 * max_fails = 0 ("never skips", says the schema) and up__worker_fini() after each
 * session keep every input's routing independent of the inputs before it. */
static const char config_fmt[] =
    "workers = 1\n"
    "listen = { { addr = \"127.0.0.1:0\" } }\n"
    "origins = {\n"
    "  refused = { servers = { \"127.0.0.1:1\" }, connect_timeout = \"1s\", timeout = \"1s\",\n"
    "              max_fails = 0 },\n"
    "  echo = { servers = { \"127.0.0.1:%u\" }, connect_timeout = \"1s\", timeout = \"1s\",\n"
    "           max_fails = 0, keepalive = 2 },\n"
    "}\n"
    "routes = { { path = \"/up/*\", origin = \"refused\" },\n"
    "           { path = \"/o/*\", origin = \"echo\" } }\n"
    "limits = { header_size = \"1KB\", uri_size = \"256\", headers = 16, body_size = \"64KB\" }\n"
    "http2 = { max_concurrent_streams = 8, initial_window = \"16KB\" }\n"
    "log = { access = false, level = \"debug\" }\n";

static struct worker *wk;
static int verbose; /* FUZZ_H2_LOG set */

/* Streams whose response ended (END_STREAM sent), for the RST_STREAM check. */
#define ENDED_MAX 1024
static uint32_t ended[ENDED_MAX];
static size_t nended;

/* The client connection as conn.c would hold it. */
struct fake_conn {
    struct sock *sock;
    struct h2s *h2;
    int closed;
};

/* What the server wrote, read from the client's end. */
static struct {
    uint8_t *buf;
    size_t len;
    size_t total;
} out;

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    struct up_conn *u;
    while ((u = TAILQ_FIRST(&w->dead_ups)) != NULL) {
        TAILQ_REMOVE(&w->dead_ups, u, link);
        up__free(u);
    }
}

/* As conn.c's on_h2_closed -> conn__close: close at once, free later. */
static void on_h2_closed(void *arg)
{
    struct fake_conn *c = arg;
    if (c->closed)
        return;
    c->closed = 1;
    h2s_close(c->h2);
    sock_close(c->sock);
}

static void on_read(struct sock *s, void *arg)
{
    struct fake_conn *c = arg;
    if (!c->closed && c->h2 != NULL)
        h2s_on_read(c->h2);
}

static void on_drained(struct sock *s, void *arg)
{
    struct fake_conn *c = arg;
    if (!c->closed && c->h2 != NULL)
        h2s_on_drained(c->h2);
}

static void on_event(struct sock *s, void *arg, enum sock_event ev)
{
    struct fake_conn *c = arg;
    if (!c->closed && c->h2 != NULL)
        h2s_on_event(c->h2, ev);
}

static const struct sock_cbs conn_cbs = {
    .on_read = on_read,
    .on_drained = on_drained,
    .on_event = on_event,
};

/* ---- the origin ------------------------------------------------------------ */

struct origin_conn {
    struct bufferevent *bev;
    int closing; /* the response says Connection: close: free once it is written */
    TAILQ_ENTRY(origin_conn) link;
};

static TAILQ_HEAD(, origin_conn) origin_conns = TAILQ_HEAD_INITIALIZER(origin_conns);
static struct evconnlistener *origin_listener;

static void origin_free(struct origin_conn *oc)
{
    TAILQ_REMOVE(&origin_conns, oc, link);
    bufferevent_free(oc->bev);
    free(oc);
}

/* Request fields the origin does not echo: framing and hop-by-hop ones. */
static int not_echoed(const char *name, size_t len)
{
    static const char *const skip[] = {"content-length", "transfer-encoding",
                                       "connection",     "keep-alive",
                                       "host",           "te",
                                       "upgrade",        "expect",
                                       "trailer"};
    for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
        if (len == strlen(skip[i]) && strncasecmp(name, skip[i], len) == 0)
            return 1;
    return 0;
}

/* The response to the request head `head` (len bytes, CRLFCRLF included). Returns 1
 * when the connection closes after it. */
static int origin_answer(struct evbuffer *o, const char *head, size_t len)
{
    const char *eol = memchr(head, '\n', len);
    size_t line_len = eol ? (size_t)(eol - head) : len;
    char target[300] = "";
    const char *sp = memchr(head, ' ', line_len);
    if (sp != NULL) {
        size_t n = line_len - (size_t)(sp + 1 - head);
        snprintf(target, sizeof(target), "%.*s", (int)n, sp + 1);
    }
    int has_body = 0;
    struct evbuffer *fields = evbuffer_new();
    for (const char *p = eol ? eol + 1 : head + len; p < head + len;) {
        const char *e = memchr(p, '\n', (size_t)(head + len - p));
        size_t n = e ? (size_t)(e - p) : (size_t)(head + len - p);
        const char *colon = memchr(p, ':', n);
        if (colon != NULL) {
            size_t nl = (size_t)(colon - p);
            if ((nl == 14 && strncasecmp(p, "content-length", 14) == 0) ||
                (nl == 17 && strncasecmp(p, "transfer-encoding", 17) == 0))
                has_body = 1;
            if (!not_echoed(p, nl))
                evbuffer_add(fields, p, n + 1); /* the line with its CRLF */
        }
        p += n + 1;
    }
    int close_after = has_body || strstr(target, "/close") != NULL;
    if (strstr(target, "/1xx") != NULL)
        evbuffer_add_printf(o, "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n");
    if (strstr(target, "/bad") != NULL) {
        evbuffer_add_printf(o, "HTTP/1.1 2000 Nope\r\n\r\n");
        close_after = 1;
    } else if (strstr(target, "/204") != NULL) {
        evbuffer_add_printf(o, "HTTP/1.1 204 No Content\r\n");
        evbuffer_add_buffer(o, fields);
        evbuffer_add_printf(o, "\r\n");
    } else {
        evbuffer_add_printf(o, "HTTP/1.1 200 OK\r\n");
        evbuffer_add_buffer(o, fields);
        if (strstr(target, "/chunked") != NULL) {
            evbuffer_add_printf(o, "Transfer-Encoding: chunked\r\n\r\n"
                                   "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nx-t: 1\r\n\r\n");
        } else if (strstr(target, "/close") != NULL) {
            evbuffer_add_printf(o, "Connection: close\r\n\r\nthe body ends with the connection");
        } else if (strstr(target, "/big") != NULL) {
            static char big[100000];
            memset(big, 'b', sizeof(big));
            evbuffer_add_printf(o, "Content-Length: %zu\r\n\r\n", sizeof(big));
            evbuffer_add(o, big, sizeof(big));
        } else {
            evbuffer_add_printf(o, "Content-Length: 16\r\n%s\r\nhello, fuzzer!!\n",
                                close_after ? "Connection: close\r\n" : "");
        }
    }
    evbuffer_free(fields);
    return close_after;
}

static void origin_on_read(struct bufferevent *bev, void *arg)
{
    struct origin_conn *oc = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    while (!oc->closing) {
        struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
        if (end.pos < 0) {
            if (evbuffer_get_length(in) > 65536)
                origin_free(oc);
            return;
        }
        size_t len = (size_t)end.pos + 4;
        oc->closing = origin_answer(bufferevent_get_output(bev),
                                    (const char *)evbuffer_pullup(in, (ev_ssize_t)len), len);
        evbuffer_drain(in, len);
    }
    /* A request body (or what follows a close) is read and dropped. */
    evbuffer_drain(in, evbuffer_get_length(in));
}

static void origin_on_write(struct bufferevent *bev, void *arg)
{
    struct origin_conn *oc = arg;
    if (oc->closing)
        origin_free(oc);
}

static void origin_on_event(struct bufferevent *bev, short what, void *arg)
{
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        origin_free(arg);
}

static void origin_on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                             int salen, void *arg)
{
    struct origin_conn *oc = calloc(1, sizeof(*oc));
    FUZZ_CHECK(oc != NULL);
    oc->bev = bufferevent_socket_new(wk->base, fd, BEV_OPT_CLOSE_ON_FREE);
    FUZZ_CHECK(oc->bev != NULL);
    TAILQ_INSERT_TAIL(&origin_conns, oc, link);
    bufferevent_setcb(oc->bev, origin_on_read, origin_on_write, origin_on_event, oc);
    bufferevent_enable(oc->bev, EV_READ | EV_WRITE);
}

/* Listens on 127.0.0.1 (a port of the kernel's choosing); returns the port. */
static unsigned origin_start(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    origin_listener =
        evconnlistener_new_bind(wk->base, origin_on_accept, NULL,
                                LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE,
                                64, (struct sockaddr *)&sin, sizeof(sin));
    FUZZ_CHECK(origin_listener != NULL);
    socklen_t len = sizeof(sin);
    FUZZ_CHECK(getsockname(evconnlistener_get_fd(origin_listener), (struct sockaddr *)&sin, &len) ==
               0);
    return ntohs(sin.sin_port);
}

/* ---- the worker ------------------------------------------------------------ */

static struct cfg *load_config(unsigned origin_port)
{
    char path[] = "/tmp/fuzz_h2.XXXXXX";
    char text[sizeof(config_fmt) + 16];
    int fd = mkstemp(path);
    if (fd < 0) {
        perror("fuzz_h2: mkstemp");
        abort();
    }
    int len = snprintf(text, sizeof(text), config_fmt, origin_port);
    if (len < 0 || write(fd, text, (size_t)len) != len) {
        perror("fuzz_h2: write");
        abort();
    }
    close(fd);
    struct cfg *c = cfg_load(path, stderr);
    unlink(path);
    if (c == NULL) {
        fprintf(stderr, "fuzz_h2: the inline configuration does not load\n");
        abort();
    }
    return c;
}

/* A worker as worker_new() sets one up, without threads or listeners. */
static void setup(void)
{
    verbose = getenv("FUZZ_H2_LOG") != NULL;
    if (!verbose && log_open("/dev/null") < 0)
        abort();
    log_set_level(LOG_LVL_DEBUG);
    if (srv_access_open("/dev/null") < 0)
        abort();
    wk = calloc(1, sizeof(*wk));
    if (wk == NULL)
        abort();
    wk->magic = WORKER_MAGIC;
    wk->id = 1;
    TAILQ_INIT(&wk->conns);
    TAILQ_INIT(&wk->servers);
    TAILQ_INIT(&wk->rr);
    TAILQ_INIT(&wk->dead_conns);
    TAILQ_INIT(&wk->dead_ups);
    wk->up_limits.max_head = 65536;
    wk->up_limits.max_uri = 65536;
    wk->up_limits.max_headers = H1_MAX_HEADERS_CAP;
    wk->base = event_base_new();
    wk->reap_ev = event_new(wk->base, -1, 0, on_reap, wk);
    wk->access_buf = evbuffer_new();
    wk->scratch = evbuffer_new();
    if (wk->base == NULL || wk->reap_ev == NULL || wk->access_buf == NULL || wk->scratch == NULL)
        abort();
    wk->cfg = load_config(origin_start());
}

/* Reads what the server sent so far. */
static void collect(int fd)
{
    uint8_t buf[16384];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        size_t keep = (size_t)n;
        if (out.len + keep > OUT_KEEP)
            keep = OUT_KEEP - out.len;
        memcpy(out.buf + out.len, buf, keep);
        out.len += keep;
        out.total += (size_t)n;
    }
}

static void turns(int n, int client_fd)
{
    for (int i = 0; i < n; i++) {
        event_base_loop(wk->base, EVLOOP_NONBLOCK);
        collect(client_fd);
    }
}

static uint32_t be24(const uint8_t *p)
{
    return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

static uint32_t stream_id(const uint8_t *p)
{
    return ((uint32_t)p[5] & 0x7f) << 24 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 8 | p[8];
}

static int has_ended(uint32_t id)
{
    for (size_t i = 0; i < nended; i++)
        if (ended[i] == id)
            return 1;
    return 0;
}

static void check_stream_end(const uint8_t *f, uint32_t len, uint32_t id)
{
    uint8_t type = f[3];
    if ((type == 0x0 || type == 0x1) && (f[4] & 0x1) && nended < ENDED_MAX)
        ended[nended++] = id;
    if (type == 0x3 && len == 4 && memcmp(f + 9, "\0\0\0\0", 4) == 0)
        FUZZ_CHECK(has_ended(id));
}

/* The server's bytes are whole frames (but for a cut-off tail), SETTINGS first. */
static void check_output(void)
{
    size_t pos = 0;
    nended = 0;
    if (out.len == 0)
        return;
    FUZZ_CHECK(out.len >= 9);
    FUZZ_CHECK(out.buf[3] == 0x4 && (out.buf[4] & 0x1) == 0 && stream_id(out.buf) == 0);
    FUZZ_CHECK(be24(out.buf) % 6 == 0);
    while (out.len - pos >= 9) {
        const uint8_t *f = out.buf + pos;
        uint32_t len = be24(f), id = stream_id(f);
        uint8_t type = f[3];
        FUZZ_CHECK(type != 0x5); /* PUSH_PROMISE: SETTINGS_ENABLE_PUSH is 0 */
        switch (type) {
        case 0x4: /* SETTINGS */
        case 0x6: /* PING */
        case 0x7: /* GOAWAY */ FUZZ_CHECK(id == 0); break;
        case 0x0: /* DATA */
        case 0x1: /* HEADERS */
        case 0x3: /* RST_STREAM */
        case 0x9: /* CONTINUATION */ FUZZ_CHECK(id != 0 && (id & 1) == 1); break;
        case 0x8: /* WINDOW_UPDATE */ FUZZ_CHECK(id == 0 || (id & 1) == 1); break;
        default: break;
        }
        if (verbose)
            fprintf(stderr, "fuzz_h2:   frame type %u flags 0x%02x stream %u length %u\n", type,
                    f[4], id, len);
        if (out.len - pos - 9 < len)
            break; /* cut off by OUT_KEEP, or by the close */
        check_stream_end(f, len, id);
        pos += 9 + len;
    }
}

/* Length of the frame at p (header included), or n when it is incomplete. */
static size_t frame_len(const uint8_t *p, size_t n)
{
    if (n < 9)
        return n;
    size_t len = 9 + (size_t)be24(p);
    return len < n ? len : n;
}

static void feed(struct fake_conn *c, const uint8_t *p, size_t n)
{
    if (c->closed)
        return;
    if (n > 0)
        evbuffer_add(sock_in(c->sock), p, n);
    h2s_on_read(c->h2);
}

static void play(const uint8_t *data, size_t size, int stepped)
{
    struct fake_conn c = {0};
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
        perror("fuzz_h2: socketpair");
        abort();
    }
    c.sock = sock_new(wk->base, sv[0], &conn_cbs, &c);
    FUZZ_CHECK(c.sock != NULL);
    c.h2 = h2s_new(wk, c.sock, "192.0.2.1", on_h2_closed, &c);
    FUZZ_CHECK(c.h2 != NULL);
    out.len = out.total = 0;

    /* The preface comes with the first bytes, as conn.c hands it over. */
    evbuffer_add(sock_in(c.sock), PREFACE, sizeof(PREFACE) - 1);
    if (!stepped) {
        feed(&c, data, size);
    } else {
        size_t pos = 0;
        for (unsigned k = 0; pos < size && k < MAX_FRAMES_STEPPED && !c.closed; k++) {
            size_t n = frame_len(data + pos, size - pos);
            feed(&c, data + pos, n);
            pos += n;
            turns(TURNS_PER_STEP, sv[1]);
        }
        feed(&c, data + pos, size - pos);
    }
    turns(TURNS_AFTER, sv[1]);

    /* SIGTERM's path, then the close conn.c would make. */
    if (!c.closed) {
        h2s_drain(c.h2);
        turns(TURNS_AFTER, sv[1]);
    }
    on_h2_closed(&c);
    /* Forget the origin servers (and close their idle connections), so that no input
     * depends on those before it; one turn reaps what was closed. */
    up__worker_fini(wk);
    turns(1, sv[1]);
    FUZZ_CHECK(TAILQ_EMPTY(&wk->dead_ups));
    while (!TAILQ_EMPTY(&origin_conns))
        origin_free(TAILQ_FIRST(&origin_conns));
    h2s_free(c.h2);
    sock_free(c.sock);
    collect(sv[1]);
    close(sv[1]);
    if (verbose)
        fprintf(stderr, "fuzz_h2: %s: the server wrote %zu bytes\n",
                stepped ? "frame by frame" : "all at once", out.total);
    check_output();
    /* What an input allocates, it frees: libFuzzer runs a leak scan after every input
     * that does not. */
    access__flush(wk);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (wk == NULL) {
        setup();
        out.buf = malloc(OUT_KEEP);
        FUZZ_CHECK(out.buf != NULL);
    }
    if (size > MAX_INPUT)
        return 0;
    play(data, size, 0);
    play(data, size, 1);
    return 0;
}
