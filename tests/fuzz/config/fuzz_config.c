/* SPDX-License-Identifier: Apache-2.0
 *
 * fuzz_config: libFuzzer target for the configuration loader (proxy/cfg.c, and
 * route_compile/route_find of proxy/route.c through it).
 *
 * Input: the whole of a configuration file. It is written to one temporary file
 * per process (mkstemp in /tmp, unlinked at exit) and loaded with cfg_load; inputs
 * over 64KB are ignored (the loader has its own instruction and memory budgets, and
 * a config file is a few KB). Errors go to a stdio stream that discards them but
 * checks their shape.
 *
 * Invariants, checked with FUZZ_CHECK (which aborts even when NDEBUG is set):
 *   - a failure writes at least one line, and each line starts with "FILE:" (the
 *     path given to cfg_load); a success writes nothing;
 *   - a generation holds only values its schema allows: every bound of
 *     cfg_schema.h, at least one listener, distinct listen addresses (port 0
 *     aside), origins sorted by unique name and found by cfg_origin_find, origin
 *     servers with a port and no wildcard, uri_size <= header_size, log enums in
 *     range;
 *   - every route has an origin of this generation, a pattern that compiles again
 *     to the same segments, and matches its own pattern text (the pattern, read as
 *     a path, is matched by it or by an earlier route).
 *
 * Built with -fsanitize=fuzzer, or linked with tests/fuzz/replay.c for ctest.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "cfg.h"
#include "cfg_schema.h"
#include "route.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_config: %s:%d: invariant failed: %s\n", __FILE__, __LINE__,      \
                    #cond);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define MAX_INPUT (64u << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char tmp_path[] = "/tmp/fuzz_config.XXXXXX";
static int tmp_fd = -1;
static FILE *err_sink;

/* What cfg_load wrote on its error stream, for one call. */
static struct {
    size_t bytes, lines;
    size_t col;     /* bytes written on the current line so far */
    int bad_prefix; /* a line did not start with "PATH:" */
} out;

static ssize_t sink_write(void *cookie, const char *buf, size_t n)
{
    size_t plen = strlen(tmp_path);
    (void)cookie;
    for (size_t i = 0; i < n; i++) {
        char ch = buf[i];
        if (out.col < plen + 1) {
            char want = out.col < plen ? tmp_path[out.col] : ':';
            if (ch != want)
                out.bad_prefix = 1;
        }
        out.col++;
        if (ch == '\n') {
            out.lines++;
            out.col = 0;
        }
    }
    out.bytes += n;
    return (ssize_t)n;
}

static void cleanup(void)
{
    if (tmp_fd >= 0) {
        close(tmp_fd);
        unlink(tmp_path);
        tmp_fd = -1;
    }
    if (err_sink != NULL) {
        fclose(err_sink);
        err_sink = NULL;
    }
}

static void setup(void)
{
    cookie_io_functions_t io = {.write = sink_write};

    tmp_fd = mkstemp(tmp_path);
    if (tmp_fd < 0) {
        perror("fuzz_config: mkstemp");
        abort();
    }
    /* discards like /dev/null, but lets us check what was written */
    err_sink = fopencookie(NULL, "w", io);
    if (err_sink == NULL) {
        perror("fuzz_config: fopencookie");
        abort();
    }
    atexit(cleanup);
}

static void write_input(const uint8_t *data, size_t size)
{
    size_t done = 0;

    FUZZ_CHECK(ftruncate(tmp_fd, 0) == 0);
    while (done < size) {
        ssize_t n = pwrite(tmp_fd, data + done, size - done, (off_t)done);
        FUZZ_CHECK(n > 0);
        done += (size_t)n;
    }
}

static int addr_ok(const struct cfg_addr *a, int listen)
{
    uint16_t port;

    if (a->text == NULL)
        return 0;
    if (a->sa.ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->sa;
        if (a->sa_len != sizeof(*sin))
            return 0;
        port = ntohs(sin->sin_port);
        if (!listen && sin->sin_addr.s_addr == htonl(INADDR_ANY))
            return 0;
    } else if (a->sa.ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->sa;
        if (a->sa_len != sizeof(*sin6))
            return 0;
        port = ntohs(sin6->sin6_port);
        if (!listen && IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr))
            return 0;
    } else {
        return 0;
    }
    return listen || port != 0;
}

static int addr_port_zero(const struct cfg_addr *a)
{
    if (a->sa.ss_family == AF_INET6)
        return ((const struct sockaddr_in6 *)&a->sa)->sin6_port == 0;
    return ((const struct sockaddr_in *)&a->sa)->sin_port == 0;
}

static int is_origin_name(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '.'))
            return 0;
    return 1;
}

static void check_route(const struct cfg *c, size_t i)
{
    const struct cfg_route *r = &c->routes[i];
    struct cfg_route again;
    struct route_match m;
    const char *why = NULL;
    size_t len, nparams = 0;

    FUZZ_CHECK(r->path != NULL && r->path[0] == '/');
    FUZZ_CHECK(r->origin != NULL);
    FUZZ_CHECK(r->origin >= c->origins && r->origin < c->origins + c->norigins);
    FUZZ_CHECK(r->nsegs == 0 || r->segs != NULL);
    for (size_t j = 0; j < r->nsegs; j++) {
        const struct cfg_seg *g = &r->segs[j];
        FUZZ_CHECK(g->kind == CFG_SEG_LITERAL || g->kind == CFG_SEG_PARAM ||
                   g->kind == CFG_SEG_REST);
        FUZZ_CHECK(g->text != NULL && strlen(g->text) == g->len);
        FUZZ_CHECK(memchr(g->text, '/', g->len) == NULL);
        if (g->kind == CFG_SEG_REST)
            FUZZ_CHECK(j == r->nsegs - 1 && g->len == 1 && g->text[0] == '*');
        if (g->kind == CFG_SEG_PARAM)
            FUZZ_CHECK(g->len > 0);
        if (g->kind != CFG_SEG_LITERAL)
            nparams++;
    }
    FUZZ_CHECK(nparams <= ROUTE_MAX_PARAMS);

    /* compiling the pattern again gives the same segments */
    memset(&again, 0, sizeof(again));
    FUZZ_CHECK(route_compile(r->path, &again, &why) == 0);
    FUZZ_CHECK(again.nsegs == r->nsegs);
    for (size_t j = 0; j < r->nsegs; j++) {
        FUZZ_CHECK(again.segs[j].kind == r->segs[j].kind && again.segs[j].len == r->segs[j].len &&
                   memcmp(again.segs[j].text, r->segs[j].text, r->segs[j].len) == 0);
    }
    free(again.segs);

    /* the pattern text, as a path, is matched by this route or an earlier one */
    len = strlen(r->path);
    FUZZ_CHECK(route_find(c, r->path, len, &m) == 0);
    FUZZ_CHECK(m.route >= c->routes && m.route <= r);
    FUZZ_CHECK(m.nparams <= ROUTE_MAX_PARAMS);
    for (size_t j = 0; j < m.nparams; j++) {
        const struct route_param *p = &m.params[j];
        FUZZ_CHECK(p->name != NULL && p->name_len > 0);
        FUZZ_CHECK(p->value >= r->path && p->value <= r->path + len &&
                   p->value_len <= (size_t)(r->path + len - p->value));
    }
}

static void check_cfg(const struct cfg *c)
{
    FUZZ_CHECK(c->magic == CFG_MAGIC && c->refs == 1);
    FUZZ_CHECK(c->file != NULL && strcmp(c->file, tmp_path) == 0);
    FUZZ_CHECK(c->workers >= 1 && c->workers <= 256);

    FUZZ_CHECK(c->nlisten >= 1 && c->nlisten <= 256 && c->listen != NULL);
    for (size_t i = 0; i < c->nlisten; i++) {
        const struct cfg_listen *l = &c->listen[i];
        FUZZ_CHECK(addr_ok(&l->addr, 1));
        FUZZ_CHECK(l->backlog >= 1 && l->backlog <= 65535);
        for (size_t j = 0; j < i && !addr_port_zero(&l->addr); j++)
            FUZZ_CHECK(l->addr.sa_len != c->listen[j].addr.sa_len ||
                       memcmp(&l->addr.sa, &c->listen[j].addr.sa, l->addr.sa_len) != 0);
    }

    FUZZ_CHECK(c->norigins <= 1000 && (c->norigins == 0 || c->origins != NULL));
    for (size_t i = 0; i < c->norigins; i++) {
        const struct cfg_origin *o = &c->origins[i];
        FUZZ_CHECK(o->name != NULL && is_origin_name(o->name));
        FUZZ_CHECK(i == 0 || strcmp(c->origins[i - 1].name, o->name) < 0);
        FUZZ_CHECK(cfg_origin_find(c, o->name) == o);
        FUZZ_CHECK(o->nservers >= 1 && o->nservers <= 256 && o->servers != NULL);
        for (size_t j = 0; j < o->nservers; j++)
            FUZZ_CHECK(addr_ok(&o->servers[j], 0));
        FUZZ_CHECK(o->connect_timeout_ms >= 1 && o->connect_timeout_ms <= CFG__MS_H);
        FUZZ_CHECK(o->timeout_ms >= 1 && o->timeout_ms <= CFG__MS_D);
        FUZZ_CHECK(o->max_fails <= 1000);
        FUZZ_CHECK(o->fail_timeout_ms >= 1 && o->fail_timeout_ms <= CFG__MS_D);
        FUZZ_CHECK(o->keepalive <= 10000);
        FUZZ_CHECK(o->keepalive_timeout_ms >= 1 && o->keepalive_timeout_ms <= CFG__MS_D);
    }
    FUZZ_CHECK(cfg_origin_find(c, "") == NULL);

    FUZZ_CHECK(c->nroutes <= 10000 && (c->nroutes == 0 || c->routes != NULL));
    for (size_t i = 0; i < c->nroutes; i++)
        check_route(c, i);

    FUZZ_CHECK(c->timeouts.header_ms >= 1 && c->timeouts.header_ms <= CFG__MS_H);
    FUZZ_CHECK(c->timeouts.body_ms >= 1 && c->timeouts.body_ms <= CFG__MS_D);
    FUZZ_CHECK(c->timeouts.keepalive_ms >= 1 && c->timeouts.keepalive_ms <= CFG__MS_D);
    FUZZ_CHECK(c->timeouts.send_ms >= 1 && c->timeouts.send_ms <= CFG__MS_D);
    FUZZ_CHECK(c->timeouts.drain_ms <= CFG__MS_H);

    FUZZ_CHECK(c->limits.header_size >= CFG__KB && c->limits.header_size <= CFG__MB);
    FUZZ_CHECK(c->limits.uri_size >= 256 && c->limits.uri_size <= c->limits.header_size);
    FUZZ_CHECK(c->limits.headers >= 1 && c->limits.headers <= 256);
    FUZZ_CHECK(c->limits.body_size <= CFG__TB);
    FUZZ_CHECK(c->limits.connections >= 1 && c->limits.connections <= 1000000);

    FUZZ_CHECK(c->log.access == NULL || c->log.access[0] != '\0');
    FUZZ_CHECK(c->log.format == CFG_LOG_COMBINED || c->log.format == CFG_LOG_JSON);
    FUZZ_CHECK(c->log.error != NULL && c->log.error[0] != '\0');
    FUZZ_CHECK(c->log.level >= CFG_LOG_ERROR && c->log.level <= CFG_LOG_DEBUG);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cfg *c;

    if (size > MAX_INPUT)
        return 0;
    if (tmp_fd < 0)
        setup();
    write_input(data, size);

    memset(&out, 0, sizeof(out));
    c = cfg_load(tmp_path, err_sink);
    fflush(err_sink);
    if (c == NULL) {
        FUZZ_CHECK(out.bytes > 0 && out.lines > 0 && out.col == 0);
        FUZZ_CHECK(!out.bad_prefix);
        return 0;
    }
    FUZZ_CHECK(out.bytes == 0);
    check_cfg(c);
    FUZZ_CHECK(cfg_ref(c) == c && c->refs == 2);
    cfg_unref(c);
    cfg_unref(c);
    return 0;
}
