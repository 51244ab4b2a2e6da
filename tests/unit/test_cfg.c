/* SPDX-License-Identifier: Apache-2.0
 *
 * test_cfg: the configuration loader (proxy/cfg.c). Each case writes a config to a
 * temporary file, loads it with cfg_load and checks the generation or the error
 * lines. Also table tests for the duration, size and address parsers, and the demo
 * files under conf/.
 */
#include "cfg.h"
#include "channel.h"
#include "compose.h"
#include "render/tpl.h"
#include "route.h"
#include "util.h"

#include "check.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------------ */

struct loaded {
    struct cfg *c;
    char path[64];
    char *errs; /* everything cfg_load wrote to err */
    size_t nlines;
};

/* Writes `text` to a fresh file under /tmp and loads it. */
static void load(struct loaded *l, const char *text)
{
    strcpy(l->path, "/tmp/tessera-cfg-XXXXXX");
    int fd = mkstemp(l->path);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    size_t n = strlen(text);
    CHECK(write(fd, text, n) == (ssize_t)n);
    close(fd);
    size_t len = 0;
    l->errs = NULL;
    FILE *err = open_memstream(&l->errs, &len);
    l->c = cfg_load(l->path, err);
    fclose(err);
    l->nlines = 0;
    for (const char *p = l->errs; *p; p++)
        l->nlines += *p == '\n';
}

static void done(struct loaded *l)
{
    cfg_unref(l->c);
    unlink(l->path);
    free(l->errs);
}

/* True when some error line contains every one of the given fragments, with
 * "@FILE" standing for the temporary file's name. */
static int has_line(const struct loaded *l, const char *a, const char *b)
{
    const char *p = l->errs;
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char line[2048], want[512];
        snprintf(line, sizeof(line), "%.*s", (int)n, p);
        int ok = 1;
        for (int i = 0; i < 2 && ok; i++) {
            const char *frag = i == 0 ? a : b;
            if (frag == NULL)
                continue;
            if (strncmp(frag, "@FILE", 5) == 0)
                snprintf(want, sizeof(want), "%s%s", l->path, frag + 5);
            else
                snprintf(want, sizeof(want), "%s", frag);
            ok = strstr(line, want) != NULL;
        }
        if (ok)
            return 1;
        p += n + (e != NULL);
    }
    return 0;
}

#define MINIMAL "listen = { { addr = \"127.0.0.1:0\" } }\n"

/* A config that must fail with one error line holding both fragments. */
#define CHECK_ONE_ERROR(text, a, b)                                                                \
    do {                                                                                           \
        struct loaded l_;                                                                          \
        load(&l_, text);                                                                           \
        CHECK(l_.c == NULL);                                                                       \
        CHECK_MSG(l_.nlines == 1, "%zu lines:\n%s", l_.nlines, l_.errs);                           \
        CHECK_MSG(has_line(&l_, a, b), "want \"%s\" and \"%s\" in:\n%s", a,                        \
                  (const char *)(b) ? (const char *)(b) : "", l_.errs);                            \
        done(&l_);                                                                                 \
    } while (0)

static uint16_t port_of(const struct cfg_addr *a)
{
    if (a->sa.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&a->sa)->sin6_port);
    return ntohs(((const struct sockaddr_in *)&a->sa)->sin_port);
}

/* ---- valid files -------------------------------------------------------------- */

static void test_full(void)
{
    struct loaded l;
    load(&l, "-- a full file\n"
             "workers = 4\n"
             "listen = {\n"
             "  { addr = \"127.0.0.1:8080\", backlog = 1024 },\n"
             "  { addr = \"[::1]:8443\" },\n"
             "}\n"
             "local pool = { \"127.0.0.1:9000\", \"10.0.0.2:9001\" }  -- locals are fine\n"
             "origins = {\n"
             "  api = { servers = pool, connect_timeout = \"100ms\", timeout = \"1s\",\n"
             "          max_fails = 5, fail_timeout = \"1m30s\", keepalive = 0,\n"
             "          keepalive_timeout = \"2m\" },\n"
             "  web = { servers = { \"localhost:3000\" } },\n"
             "}\n"
             "routes = {\n"
             "  { path = \"/product/:id\", origin = \"web\" },\n"
             "  { path = \"/api/*\", origin = \"api\" },\n"
             "  { path = \"/*\", origin = \"web\" },\n"
             "}\n"
             "timeouts = { header = \"5s\", body = \"1m\", keepalive = \"2h\", send = \"250ms\",\n"
             "             drain = \"0s\" }\n"
             "limits = { header_size = \"32KB\", uri_size = 4096, headers = 256,\n"
             "           body_size = \"1GB\", connections = 20000 }\n"
             "log = { access = \"logs/access.log\", format = \"json\",\n"
             "        error = \"logs/error.log\",\n"
             "        level = \"debug\" }\n");
    CHECK_MSG(l.c != NULL, "%s", l.errs);
    CHECK_INT(l.nlines, 0);
    struct cfg *c = l.c;
    if (c == NULL) {
        done(&l);
        return;
    }
    CHECK(c->magic == CFG_MAGIC);
    CHECK(strcmp(c->file, l.path) == 0);
    CHECK_INT(c->workers, 4);
    CHECK_INT(c->nlisten, 2);
    CHECK(strcmp(c->listen[0].addr.text, "127.0.0.1:8080") == 0);
    CHECK_INT(c->listen[0].addr.sa.ss_family, AF_INET);
    CHECK_INT(c->listen[0].addr.sa_len, sizeof(struct sockaddr_in));
    CHECK_INT(port_of(&c->listen[0].addr), 8080);
    CHECK_INT(c->listen[0].backlog, 1024);
    CHECK_INT(c->listen[1].addr.sa.ss_family, AF_INET6);
    CHECK_INT(port_of(&c->listen[1].addr), 8443);
    CHECK_INT(c->listen[1].backlog, 511);

    CHECK_INT(c->norigins, 2);
    const struct cfg_origin *api = cfg_origin_find(c, "api");
    const struct cfg_origin *web = cfg_origin_find(c, "web");
    CHECK(api != NULL && web != NULL);
    CHECK(cfg_origin_find(c, "apu") == NULL);
    CHECK(cfg_origin_find(c, "") == NULL);
    if (api != NULL && web != NULL) {
        CHECK(strcmp(api->name, "api") == 0);
        CHECK_INT(api->nservers, 2);
        CHECK(strcmp(api->servers[1].text, "10.0.0.2:9001") == 0);
        CHECK_INT(port_of(&api->servers[1]), 9001);
        CHECK_INT(api->connect_timeout_ms, 100);
        CHECK_INT(api->timeout_ms, 1000);
        CHECK_INT(api->max_fails, 5);
        CHECK_INT(api->fail_timeout_ms, 90000);
        CHECK_INT(api->keepalive, 0);
        CHECK_INT(api->keepalive_timeout_ms, 120000);
        CHECK_INT(web->nservers, 1);
        CHECK(strcmp(web->servers[0].text, "localhost:3000") == 0);
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&web->servers[0].sa;
        CHECK(sin->sin_addr.s_addr == htonl(INADDR_LOOPBACK));
    }

    CHECK_INT(c->nroutes, 3);
    if (c->nroutes == 3) {
        CHECK(strcmp(c->routes[0].path, "/product/:id") == 0);
        CHECK(c->routes[0].origin == web);
        CHECK(c->routes[1].origin == api);
        CHECK_INT(c->routes[0].nsegs, 2);
        CHECK_INT(c->routes[0].segs[1].kind, CFG_SEG_PARAM);
        CHECK_STRN(c->routes[0].segs[1].text, c->routes[0].segs[1].len, "id");
        struct route_match m;
        CHECK_INT(route_find(c, "/api/v1/x", 9, &m), 0);
        CHECK(m.route == &c->routes[1]);
        CHECK_INT(route_find(c, "/product/7", 10, &m), 0);
        CHECK(m.route == &c->routes[0]);
        CHECK_INT(route_find(c, "/else", 5, &m), 0);
        CHECK(m.route == &c->routes[2]);
    }

    CHECK_INT(c->timeouts.header_ms, 5000);
    CHECK_INT(c->timeouts.body_ms, 60000);
    CHECK_INT(c->timeouts.keepalive_ms, 7200000);
    CHECK_INT(c->timeouts.send_ms, 250);
    CHECK_INT(c->timeouts.drain_ms, 0);
    CHECK_INT(c->limits.header_size, 32768);
    CHECK_INT(c->limits.uri_size, 4096);
    CHECK_INT(c->limits.headers, 256);
    CHECK_INT(c->limits.body_size, 1024ull * 1024 * 1024);
    CHECK_INT(c->limits.connections, 20000);
    CHECK(c->log.access != NULL && strcmp(c->log.access, "logs/access.log") == 0);
    CHECK_INT(c->log.format, CFG_LOG_JSON);
    CHECK(c->log.error != NULL && strcmp(c->log.error, "logs/error.log") == 0);
    CHECK_INT(c->log.level, CFG_LOG_DEBUG);

    /* references: two more, three releases; ASan checks the single free */
    CHECK(cfg_ref(c) == c);
    cfg_ref(c);
    CHECK_INT(c->refs, 3);
    cfg_unref(c);
    cfg_unref(c);
    CHECK_INT(c->refs, 1);
    done(&l);
    cfg_unref(NULL);
}

static void test_defaults(void)
{
    struct loaded l;
    load(&l, MINIMAL "origins = { api = { servers = { \"127.0.0.1:9000\" } } }\n");
    CHECK_MSG(l.c != NULL, "%s", l.errs);
    struct cfg *c = l.c;
    if (c == NULL) {
        done(&l);
        return;
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    CHECK_INT(c->workers, cpus < 1 ? 1 : cpus > 256 ? 256 : cpus);
    CHECK_INT(c->nlisten, 1);
    CHECK_INT(port_of(&c->listen[0].addr), 0);
    CHECK_INT(c->listen[0].backlog, 511);
    CHECK_INT(c->norigins, 1);
    const struct cfg_origin *o = &c->origins[0];
    CHECK_INT(o->connect_timeout_ms, 1000);
    CHECK_INT(o->timeout_ms, 30000);
    CHECK_INT(o->max_fails, 3);
    CHECK_INT(o->fail_timeout_ms, 10000);
    CHECK_INT(o->keepalive, 32);
    CHECK_INT(o->keepalive_timeout_ms, 60000);
    CHECK_INT(c->nroutes, 0);
    CHECK(c->routes == NULL);
    CHECK_INT(c->timeouts.header_ms, 10000);
    CHECK_INT(c->timeouts.body_ms, 30000);
    CHECK_INT(c->timeouts.keepalive_ms, 75000);
    CHECK_INT(c->timeouts.send_ms, 30000);
    CHECK_INT(c->timeouts.drain_ms, 10000);
    CHECK_INT(c->limits.header_size, 16384);
    CHECK_INT(c->limits.uri_size, 8192);
    CHECK_INT(c->limits.headers, 100);
    CHECK_INT(c->limits.body_size, 100ull * 1024 * 1024);
    CHECK_INT(c->limits.connections, 10000);
    CHECK_INT(c->http2.max_streams, 100);
    CHECK_INT(c->http2.initial_window, 1u << 20);
    CHECK(c->log.access == NULL);
    CHECK_INT(c->log.format, CFG_LOG_COMBINED);
    CHECK(c->log.error != NULL && strcmp(c->log.error, "-") == 0);
    CHECK_INT(c->log.level, CFG_LOG_INFO);
    done(&l);

    /* workers = "auto" is the default spelled out; log.access = false is off */
    load(&l, MINIMAL "workers = \"auto\"\nlog = { access = false }\n");
    CHECK_MSG(l.c != NULL, "%s", l.errs);
    if (l.c != NULL) {
        CHECK(l.c->workers >= 1 && l.c->workers <= 256);
        CHECK(l.c->log.access == NULL);
    }
    done(&l);
}

/* Values computed by Lua code are fine: the sandbox has no library, not that it
 * cannot run code. */
static void test_computed(void)
{
    struct loaded l;
    load(&l, MINIMAL "local names = { \"a\", \"b\", \"c\" }\n"
                     "origins = {}\n"
                     "routes = {}\n"
                     "for i = 1, #names do\n"
                     "  local n = names[i]\n"
                     "  origins[n] = { servers = { \"127.0.0.1:\" .. (9000 + i) } }\n"
                     "  routes[#routes + 1] = { path = \"/\" .. n .. \"/*\", origin = n }\n"
                     "end\n");
    CHECK_MSG(l.c != NULL, "%s", l.errs);
    if (l.c != NULL) {
        CHECK_INT(l.c->norigins, 3);
        CHECK_INT(l.c->nroutes, 3);
        const struct cfg_origin *b = cfg_origin_find(l.c, "b");
        CHECK(b != NULL && port_of(&b->servers[0]) == 9002);
        CHECK(l.c->nroutes == 3 && l.c->routes[1].origin == b);
    }
    done(&l);

    /* ...and an error in a computed value still names the key path */
    load(&l,
         MINIMAL "origins = {}\n"
                 "for i = 1, 2 do origins[\"o\" .. i] = { servers = { \"10.0.0.\" .. i } } end\n");
    CHECK(l.c == NULL);
    CHECK_INT(l.nlines, 2);
    CHECK_MSG(has_line(&l, "origins.o1.servers[1]: expected an address", "got \"10.0.0.1\""), "%s",
              l.errs);
    CHECK_MSG(has_line(&l, "@FILE:2: origins.o2.servers[1]:", NULL), "%s", l.errs);
    done(&l);
}

/* ---- error kinds -------------------------------------------------------------- */

static void test_unknown_keys(void)
{
    CHECK_ONE_ERROR(MINIMAL "http2 = { max_concurent_streams = 10 }\n",
                    "@FILE:2: http2.max_concurent_streams: unknown key (did you mean "
                    "\"max_concurrent_streams\"?)",
                    NULL);
    CHECK_ONE_ERROR(MINIMAL "http2 = { initial_window = \"1KB\" }\n",
                    "@FILE:2: http2.initial_window: expected a size from \"16KB\" to "
                    "\"2147483647B\", got \"1KB\"",
                    NULL);
    CHECK_ONE_ERROR(MINIMAL "timeouts = { keepalve = \"75s\" }\n",
                    "@FILE:2: timeouts.keepalve: unknown key (did you mean \"keepalive\"?)", NULL);
    CHECK_ONE_ERROR(MINIMAL "lisen = 1\n", "@FILE:2: lisen: unknown key (did you mean \"listen\"?)",
                    NULL);
    CHECK_ONE_ERROR("listen = { { addr = \"127.0.0.1:0\", backlg = 5 } }\n",
                    "@FILE:1: listen[1].backlg: unknown key (did you mean \"backlog\"?)", NULL);
    CHECK_ONE_ERROR(MINIMAL "origins = { api = { servers = { \"127.0.0.1:1\" },\n"
                            "  conect_timeout = \"1s\" } }\n",
                    "@FILE:3: origins.api.conect_timeout: unknown key (did you mean "
                    "\"connect_timeout\"?)",
                    NULL);
    /* far from every key: no suggestion; at top level a hint about locals */
    CHECK_ONE_ERROR(MINIMAL "limits = { whatever = 1 }\n", "@FILE:2: limits.whatever: unknown key",
                    NULL);
    CHECK_ONE_ERROR(MINIMAL "helper = { 1, 2 }\n",
                    "@FILE:2: helper: unknown key (helper variables must be declared local)", NULL);
    CHECK_ONE_ERROR(MINIMAL "function f() end\n", "f: unknown key", NULL);
    /* an array item where keys belong */
    CHECK_ONE_ERROR(MINIMAL "timeouts = { \"30s\" }\n",
                    "@FILE:2: timeouts[1]: unexpected item with key 1", NULL);
}

static void test_bad_values(void)
{
    /* durations */
    CHECK_ONE_ERROR(MINIMAL "timeouts = { header = \"soon\" }\n",
                    "@FILE:2: timeouts.header: expected a duration like \"30s\"", "got \"soon\"");
    CHECK_ONE_ERROR(MINIMAL "timeouts = { header = 30 }\n",
                    "timeouts.header: expected a duration like \"30s\"", "got 30");
    CHECK_ONE_ERROR(MINIMAL "timeouts = { header = \"2h\" }\n",
                    "timeouts.header: expected a duration from \"1ms\" to \"1h\", got \"2h\"",
                    NULL);
    CHECK_ONE_ERROR(MINIMAL "timeouts = { body = \"0s\" }\n",
                    "timeouts.body: expected a duration from \"1ms\" to \"1d\"", NULL);
    /* sizes */
    CHECK_ONE_ERROR(MINIMAL "limits = { body_size = \"12XB\" }\n",
                    "@FILE:2: limits.body_size: expected a size like \"16KB\"", "got \"12XB\"");
    CHECK_ONE_ERROR(MINIMAL "limits = { body_size = -1 }\n", "limits.body_size: expected a size",
                    "got -1");
    CHECK_ONE_ERROR(MINIMAL "limits = { header_size = \"2MB\" }\n",
                    "limits.header_size: expected a size from \"1KB\" to \"1MB\", got \"2MB\"",
                    NULL);
    CHECK_ONE_ERROR(MINIMAL "limits = { header_size = \"4KB\", uri_size = \"8KB\" }\n",
                    "limits.uri_size: expected at most limits.header_size (\"4KB\"), got \"8KB\"",
                    NULL);
    /* integers */
    CHECK_ONE_ERROR(MINIMAL "limits = { headers = 257 }\n",
                    "limits.headers: expected an integer from 1 to 256, got 257", NULL);
    CHECK_ONE_ERROR(MINIMAL "limits = { headers = 1.5 }\n", "limits.headers: expected an integer",
                    "got 1.5");
    CHECK_ONE_ERROR(MINIMAL "limits = { headers = \"100\" }\n",
                    "limits.headers: expected an integer", "got \"100\"");
    /* workers */
    CHECK_ONE_ERROR(MINIMAL "workers = 0\n",
                    "@FILE:2: workers: expected \"auto\" or an integer from 1 to 256, got 0", NULL);
    CHECK_ONE_ERROR(MINIMAL "workers = \"many\"\n", "workers: expected \"auto\"", "got \"many\"");
    CHECK_ONE_ERROR(MINIMAL "workers = 257\n", "workers: expected \"auto\"", "got 257");
    CHECK_ONE_ERROR(MINIMAL "workers = 2.5\n", "workers: expected \"auto\"", "got 2.5");
    /* addresses */
    CHECK_ONE_ERROR("listen = { { addr = \"example.com:80\" } }\n",
                    "@FILE:1: listen[1].addr: expected an address like \"127.0.0.1:8080\"",
                    "got \"example.com:80\" (the host must be a numeric IP address");
    CHECK_ONE_ERROR("listen = { { addr = \"127.0.0.1:65536\" } }\n", "listen[1].addr: expected",
                    "(the port must be a number from 0 to 65535)");
    CHECK_ONE_ERROR("listen = { { addr = \"::1:80\" } }\n", "listen[1].addr: expected",
                    "(IPv6 addresses need brackets");
    CHECK_ONE_ERROR("listen = { { addr = 8080 } }\n", "listen[1].addr: expected an address",
                    "got 8080");
    CHECK_ONE_ERROR(MINIMAL "origins = { api = { servers = { \"127.0.0.1:0\" } } }\n",
                    "origins.api.servers[1]: expected an address",
                    "(port 0 is only allowed in listen)");
    CHECK_ONE_ERROR(MINIMAL "origins = { api = { servers = { \"*:80\" } } }\n",
                    "origins.api.servers[1]: expected an address",
                    "(the wildcard address is only allowed in listen)");
    CHECK_ONE_ERROR(MINIMAL "origins = { api = { servers = {} } }\n",
                    "origins.api.servers: expected 1 to 256 addresses", NULL);
    CHECK_ONE_ERROR(MINIMAL "origins = { api = { } }\n",
                    "origins.api.servers: required key is missing", NULL);
    CHECK_ONE_ERROR("listen = { { addr = \"127.0.0.1:80\" }, { addr = \"127.0.0.1:80\" } }\n",
                    "listen[2].addr: \"127.0.0.1:80\" is already used by listen[1]", NULL);
    /* log */
    CHECK_ONE_ERROR(MINIMAL "log = { format = \"xml\" }\n",
                    "log.format: expected one of \"combined\", \"json\", got \"xml\"", NULL);
    CHECK_ONE_ERROR(MINIMAL "log = { level = \"debg\" }\n", "log.level: expected one of",
                    "got \"debg\" (did you mean \"debug\"?)");
    CHECK_ONE_ERROR(MINIMAL "log = { access = true }\n",
                    "log.access: expected a file path, \"-\" for stdout, or false", "got true");
    CHECK_ONE_ERROR(MINIMAL "log = { error = false }\n", "log.error: expected a file path",
                    "got false");
    /* sections of the wrong shape */
    CHECK_ONE_ERROR(MINIMAL "timeouts = \"30s\"\n", "@FILE:2: timeouts: expected a table",
                    "got \"30s\"");
    CHECK_ONE_ERROR(MINIMAL "routes = { path = \"/\" }\n",
                    "@FILE:2: routes.path: unexpected key in an array", NULL);
    /* a string with a newline stays on one line */
    CHECK_ONE_ERROR(MINIMAL "log = { level = \"a\\nb\" }\n", "got \"a\\10b\"", NULL);
}

static void test_routes(void)
{
    const char *api = "origins = { api = { servers = { \"127.0.0.1:9000\" } } }\n";
    char buf[1024];
    snprintf(buf, sizeof(buf), MINIMAL "%sroutes = {\n  { path = \"/*\", origin = \"apu\" },\n}\n",
             api);
    CHECK_ONE_ERROR(buf, "@FILE:4: routes[1].origin: no origin named \"apu\"",
                    "(did you mean \"api\"?)");
    snprintf(buf, sizeof(buf), MINIMAL "%sroutes = { { path = \"/*\", origin = \"zzzzz\" } }\n",
             api);
    CHECK_ONE_ERROR(buf, "routes[1].origin: no origin named \"zzzzz\"", NULL);
    CHECK_ONE_ERROR(MINIMAL "routes = { { path = \"/*\", origin = \"api\" } }\n",
                    "routes[1].origin: no origin named \"api\" (origins is empty)", NULL);
    snprintf(buf, sizeof(buf), MINIMAL "%sroutes = { { path = \"/a//b\", origin = \"api\" } }\n",
             api);
    CHECK_ONE_ERROR(buf, "routes[1].path: expected a path pattern", "(empty segment \"//\")");
    snprintf(buf, sizeof(buf), MINIMAL "%sroutes = { { path = \"api/*\", origin = \"api\" } }\n",
             api);
    CHECK_ONE_ERROR(buf, "routes[1].path: expected a path pattern", "got \"api/*\"");
    snprintf(buf, sizeof(buf), MINIMAL "%sroutes = { { path = \"/x/:\", origin = \"api\" } }\n",
             api);
    CHECK_ONE_ERROR(buf, "routes[1].path:", "':' must be followed by a parameter name");
    snprintf(buf, sizeof(buf), MINIMAL "%sroutes = { { origin = \"api\" } }\n", api);
    CHECK_ONE_ERROR(buf, "routes[1].path: required key is missing",
                    "(expected a path pattern like \"/api/*\")");
    snprintf(buf, sizeof(buf), MINIMAL "%sroutes = {\n  { path = \"/\" },\n}\n", api);
    CHECK_ONE_ERROR(buf, "@FILE:4: routes[1]: expected origin (forward to an origin) or template",
                    "got neither for /");
    /* a broken origins table does not cascade into every route */
    CHECK_ONE_ERROR(MINIMAL "origins = 5\nroutes = { { path = \"/\", origin = \"api\" } }\n",
                    "origins: expected a table", NULL);
}

static void test_listen_required(void)
{
    CHECK_ONE_ERROR("workers = 2\n", "listen: required key is missing",
                    "{ { addr = \"0.0.0.0:8080\" } }");
    CHECK_ONE_ERROR("listen = {}\n", "@FILE:1: listen: expected at least 1 item", "got a table");
    CHECK_ONE_ERROR("listen = { \"127.0.0.1:80\" }\n", "listen[1]: expected a table like",
                    "got \"127.0.0.1:80\"");
    CHECK_ONE_ERROR("", "listen: required key is missing", NULL);
}

static void test_lua_errors(void)
{
    CHECK_ONE_ERROR(MINIMAL "workers = \n", "@FILE:3: unexpected symbol near '<eof>'", NULL);
    CHECK_ONE_ERROR(MINIMAL "listen = { { addr = \"*:1\" }\n",
                    "@FILE:3:", "'}' expected (to close '{' at line 2)");
    CHECK_ONE_ERROR(MINIMAL "x = nil + 1\n", "@FILE:2: attempt to perform arithmetic", NULL);
    CHECK_ONE_ERROR(MINIMAL "error(\"stop\")\n", "@FILE:2: attempt to call global 'error'", NULL);
    CHECK_ONE_ERROR("\033LJ\002garbage", "@FILE: precompiled Lua is not accepted", NULL);

    struct loaded l;
    load(&l, "\xEF\xBB\xBF" MINIMAL); /* a BOM is skipped */
    CHECK_MSG(l.c != NULL, "%s", l.errs);
    done(&l);

    /* a missing file */
    size_t len;
    char *out = NULL;
    FILE *err = open_memstream(&out, &len);
    CHECK(cfg_load("/nonexistent/tessera.lua", err) == NULL);
    fclose(err);
    const char *want = "/nonexistent/tessera.lua: cannot open: No such file or directory\n";
    CHECK_MSG(strcmp(out, want) == 0, "%s", out);
    free(out);
    /* a NULL err stream is allowed */
    CHECK(cfg_load("/nonexistent/tessera.lua", NULL) == NULL);
}

static void test_sandbox(void)
{
    static const char *const escapes[] = {
        "os.exit(1)",
        "io.write(\"x\")",
        "require(\"os\")",
        "x = string.rep(\"x\", 10)",
        "x = (\"x\"):rep(10)",
        "load(\"return 1\")",
        "loadstring(\"return 1\")",
        "dofile(\"/etc/passwd\")",
        "setmetatable({}, {})",
        "x = _G.os",
        "x = debug.getinfo(1)",
        "x = jit.version",
        "x = ffi.C",
        "x = getfenv(0)",
        "pcall(print)",
        "x = coroutine.create",
    };
    for (size_t i = 0; i < ARRAY_SIZE(escapes); i++) {
        char buf[256];
        snprintf(buf, sizeof(buf), "%s\n", escapes[i]);
        struct loaded l;
        load(&l, buf);
        CHECK_MSG(l.c == NULL, "%s was allowed", escapes[i]);
        CHECK_MSG(l.nlines == 1 && has_line(&l, "@FILE:1: attempt to", NULL), "%s: %s", escapes[i],
                  l.errs);
        done(&l);
    }

    /* endless loops stop with a clear error, and soon */
    static const char *const loops[] = {
        "while true do end",
        "repeat until false",
        "for i = 1, 1e300 do end",
        "local function f() return f() end f()",
    };
    for (size_t i = 0; i < ARRAY_SIZE(loops); i++) {
        char buf[256];
        snprintf(buf, sizeof(buf), MINIMAL "\n%s\n", loops[i]);
        uint64_t t0 = util_now_ms();
        struct loaded l;
        load(&l, buf);
        CHECK(l.c == NULL);
        CHECK_MSG(l.nlines == 1 && has_line(&l, "@FILE:3: still running after", "endless loop"),
                  "%s: %s", loops[i], l.errs);
        CHECK_MSG(util_now_ms() - t0 < 5000, "%s took %llu ms", loops[i],
                  (unsigned long long)(util_now_ms() - t0));
        done(&l);
    }

    /* so do huge allocations */
    static const char *const hogs[] = {
        "local t = {} for i = 1, 1e8 do t[i] = i end",
        "local s = \"x\" for i = 1, 40 do s = s .. s end",
        "local t = {} for i = 1, 1e7 do t[i] = { i, i, i } end",
    };
    for (size_t i = 0; i < ARRAY_SIZE(hogs); i++) {
        char buf[256];
        snprintf(buf, sizeof(buf), MINIMAL "%s\n", hogs[i]);
        struct loaded l;
        load(&l, buf);
        CHECK(l.c == NULL);
        CHECK_MSG(l.nlines == 1 &&
                      has_line(&l, "@FILE: the configuration uses more than 64MB", NULL),
                  "%s: %s", hogs[i], l.errs);
        done(&l);
    }
    /* the state is usable again after all that */
    struct loaded l;
    load(&l, MINIMAL);
    CHECK(l.c != NULL);
    done(&l);
}

/* Every error is reported, one line each, sorted by line, with file, line and key. */
static void test_all_errors(void)
{
    struct loaded l;
    load(&l, "workers = 0\n"
             "listen = { { addr = \"127.0.0.1:0\" } }\n"
             "timeouts = {\n"
             "  header = \"soon\",\n"
             "  keepalve = \"75s\",\n"
             "}\n");
    CHECK(l.c == NULL);
    CHECK_MSG(l.nlines == 3, "%s", l.errs);
    char want[512];
    snprintf(want, sizeof(want),
             "%s:1: workers: expected \"auto\" or an integer from 1 to 256, got 0\n"
             "%s:4: timeouts.header: expected a duration like \"30s\" (units ms, s, m, h, d), "
             "got \"soon\"\n"
             "%s:5: timeouts.keepalve: unknown key (did you mean \"keepalive\"?)\n",
             l.path, l.path, l.path);
    CHECK_MSG(strcmp(l.errs, want) == 0, "got:\n%swant:\n%s", l.errs, want);
    done(&l);

    /* many kinds at once, each line carries the file name and its key path */
    load(&l, "workers = \"x\"\n"                            /* 1 */
             "listen = {\n"                                 /* 2 */
             "  { addr = \"nowhere\" },\n"                  /* 3 */
             "  { addr = \"127.0.0.1:1\", backlog = 0 },\n" /* 4 */
             "}\n"                                          /* 5 */
             "origins = {\n"                                /* 6 */
             "  api = {\n"                                  /* 7 */
             "    servers = { \"127.0.0.1:9000\" },\n"      /* 8 */
             "    timeout = \"1 s\",\n"                     /* 9 */
             "  },\n"                                       /* 10 */
             "}\n"                                          /* 11 */
             "routes = {\n"                                 /* 12 */
             "  { path = \"/a\", origin = \"api\" },\n"     /* 13 */
             "  { path = \"/b\",\n"                         /* 14 */
             "    origin = \"ap\" },\n"                     /* 15 */
             "}\n"                                          /* 16 */
             "log = { format = \"text\" }\n");              /* 17 */
    CHECK(l.c == NULL);
    CHECK_MSG(l.nlines == 6, "%s", l.errs);
    CHECK_MSG(has_line(&l, "@FILE:1: workers:", NULL), "%s", l.errs);
    CHECK_MSG(has_line(&l, "@FILE:3: listen[1].addr:", NULL), "%s", l.errs);
    CHECK_MSG(has_line(&l, "@FILE:4: listen[2].backlog:", NULL), "%s", l.errs);
    CHECK_MSG(has_line(&l, "@FILE:9: origins.api.timeout:", NULL), "%s", l.errs);
    CHECK_MSG(has_line(&l, "@FILE:15: routes[2].origin: no origin named \"ap\"", NULL), "%s",
              l.errs);
    CHECK_MSG(has_line(&l, "@FILE:17: log.format:", NULL), "%s", l.errs);
    done(&l);
}

/* Lines for keys written in unusual ways. */
static void test_lines(void)
{
    struct loaded l;
    load(&l, "--[[ a long\ncomment ]] listen = { { addr = \"127.0.0.1:0\" } }\n" /* 1-2 */
             "local s = [[\n\n]]\n"                                              /* 3-5 */
             "origins = {}\n"                                                    /* 6 */
             "origins.api = { servers = { \"127.0.0.1:1\" },\n"                  /* 7 */
             "  [\"time\" .. \"out\"] = 5 }\n"                                   /* 8 */
             "log = { [\"format\"] = \"x\" }\n");                                /* 9 */
    CHECK(l.c == NULL);
    CHECK_MSG(l.nlines == 2, "%s", l.errs);
    /* a computed key has no line of its own: its table's line is used */
    CHECK_MSG(has_line(&l, "@FILE:7: origins.api.timeout: expected a duration", NULL), "%s",
              l.errs);
    CHECK_MSG(has_line(&l, "@FILE:9: log.format:", NULL), "%s", l.errs);
    done(&l);
}

/* ---- routes[i].cache name lists ----------------------------------------------- */

/* Line 5 of these files is the route's cache table. */
#define CACHE_HEAD                                                                                 \
    MINIMAL "origins = { api = { servers = { \"127.0.0.1:9000\" } } }\n"                           \
            "routes = {\n"                                                                         \
            "  { path = \"/*\", origin = \"api\",\n"
#define CACHE_CFG(rules) CACHE_HEAD "    cache = " rules " },\n}\n"

/* True when list l holds exactly the n names of want. */
static int list_is(const struct cfg_strlist *l, const char *const *want, size_t n)
{
    if (l->items == NULL || l->n != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (l->items[i] == NULL || strcmp(l->items[i], want[i]) != 0)
            return 0;
    return 1;
}

#define LIST_IS(l, ...)                                                                            \
    list_is((l), (const char *const[]){__VA_ARGS__},                                               \
            sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

static int list_absent(const struct cfg_strlist *l)
{
    return l->items == NULL && l->n == 0;
}

/* A file that must fail with exactly this one line; want has "@FILE" for the path. */
static void check_exact(const char *text, const char *want)
{
    struct loaded l;
    char line[2048];
    load(&l, text);
    snprintf(line, sizeof(line), "%s%s\n", l.path, want + 5);
    CHECK(l.c == NULL);
    CHECK_MSG(strcmp(l.errs, line) == 0, "got:\n%swant:\n%s", l.errs, line);
    done(&l);
}

static void test_cache_rules_accepted(void)
{
    struct loaded l;
    load(&l,
         CACHE_CFG(
             "{\n"
             "      query = { keep = { \"id\", \"page\" }, drop = { \"utm_*\", \"fbclid\" } },\n"
             "      strip_cookies = { \"_ga\", \"_gid\", \"utm_*\" },\n"
             "      bypass = { cookies = { \"session\" }, headers = { \"X-Preview\", "
             "\"Authorization\", \"x-ok\" },\n"
             "                 query = { \"nocache\" } },\n"
             "    }"));
    CHECK_MSG(l.c != NULL, "%s", l.errs);
    if (l.c != NULL && l.c->nroutes == 1 && l.c->routes[0].cache != NULL) {
        const struct cfg_route_cache *rc = l.c->routes[0].cache;
        CHECK(LIST_IS(&rc->query_keep, "id", "page"));
        CHECK(LIST_IS(&rc->query_drop, "utm_*", "fbclid"));
        CHECK(LIST_IS(&rc->strip_cookies, "_ga", "_gid", "utm_*"));
        CHECK(LIST_IS(&rc->bypass_cookies, "session"));
        /* header names are stored lower-cased; the others as written */
        CHECK(LIST_IS(&rc->bypass_headers, "x-preview", "authorization", "x-ok"));
        CHECK(LIST_IS(&rc->bypass_query, "nocache"));
        /* the other keys keep their defaults */
        CHECK_INT(rc->ttl_ms, 0);
        CHECK_INT(rc->stale_if_error_ms, 0);
    } else {
        CHECK(0);
    }
    done(&l);

    /* absent: NULL; present but empty: non-NULL with n == 0 */
    load(&l, MINIMAL
         "origins = { api = { servers = { \"127.0.0.1:9000\" } } }\n"
         "routes = {\n"
         "  { path = \"/a/*\", origin = \"api\", cache = {} },\n"
         "  { path = \"/b/*\", origin = \"api\", cache = { query = {}, bypass = {} } },\n"
         "  { path = \"/c/*\", origin = \"api\", cache = { query = { keep = {} },\n"
         "    strip_cookies = {}, bypass = { cookies = {}, headers = {}, query = {} } } },\n"
         "  { path = \"/d/*\", origin = \"api\", cache = { query = { drop = {} } } },\n"
         "}\n");
    CHECK_MSG(l.c != NULL, "%s", l.errs);
    if (l.c != NULL && l.c->nroutes == 4) {
        for (size_t i = 0; i < 2; i++) {
            const struct cfg_route_cache *rc = l.c->routes[i].cache;
            CHECK(rc != NULL);
            if (rc == NULL)
                continue;
            CHECK(list_absent(&rc->query_keep) && list_absent(&rc->query_drop));
            CHECK(list_absent(&rc->strip_cookies));
            CHECK(list_absent(&rc->bypass_cookies) && list_absent(&rc->bypass_headers) &&
                  list_absent(&rc->bypass_query));
        }
        const struct cfg_route_cache *c2 = l.c->routes[2].cache;
        const struct cfg_route_cache *c3 = l.c->routes[3].cache;
        CHECK(c2 != NULL && c3 != NULL);
        if (c2 != NULL && c3 != NULL) {
            CHECK(c2->query_keep.items != NULL && c2->query_keep.n == 0);
            CHECK(list_absent(&c2->query_drop));
            CHECK(c2->strip_cookies.items != NULL && c2->strip_cookies.n == 0);
            CHECK(c2->bypass_cookies.items != NULL && c2->bypass_cookies.n == 0);
            CHECK(c2->bypass_headers.items != NULL && c2->bypass_headers.n == 0);
            CHECK(c2->bypass_query.items != NULL && c2->bypass_query.n == 0);
            CHECK(list_absent(&c3->query_keep));
            CHECK(c3->query_drop.items != NULL && c3->query_drop.n == 0);
        }
    } else {
        CHECK(0);
    }
    done(&l);

    /* wildcards: a final '*' anywhere it is allowed, "*" alone; bytes the kinds allow */
    load(&l,
         CACHE_CFG("{ query = { keep = { \"*\" }, drop = { \"utm_*\", \"a*\", \"caf\\195\\169\","
                   " \"a+b\", \"a.b[]\", \"?x\" } },\n"
                   "      strip_cookies = { \"*\", \"__Host-*\", \"!#$%&'+-.^_`|~\" },\n"
                   "      bypass = { cookies = { \"wp_*\" }, query = { \"preview_*\", \"*\" },\n"
                   "                 headers = { \"!#$%&'+-.^_`|~09AZaz\" } } }"));
    CHECK_MSG(l.c != NULL, "%s", l.errs);
    if (l.c != NULL && l.c->routes[0].cache != NULL) {
        const struct cfg_route_cache *rc = l.c->routes[0].cache;
        CHECK(LIST_IS(&rc->query_keep, "*"));
        CHECK(LIST_IS(&rc->query_drop, "utm_*", "a*", "caf\xc3\xa9", "a+b", "a.b[]", "?x"));
        CHECK(LIST_IS(&rc->strip_cookies, "*", "__Host-*", "!#$%&'+-.^_`|~"));
        CHECK(LIST_IS(&rc->bypass_cookies, "wp_*"));
        CHECK(LIST_IS(&rc->bypass_query, "preview_*", "*"));
        CHECK(LIST_IS(&rc->bypass_headers, "!#$%&'+-.^_`|~09azaz"));
    }
    done(&l);

    /* limits: 64 names, the longest of 128 bytes, in every list */
    char name[129], text[1024];
    memset(name, 'n', 128);
    name[128] = '\0';
    snprintf(text, sizeof(text),
             "local L = {}\n"
             "for i = 1, 63 do L[i] = \"p\" .. i end\n"
             "L[64] = \"%s\"\n" CACHE_HEAD
             "    cache = { query = { keep = L, drop = L }, strip_cookies = L,\n"
             "      bypass = { cookies = L, headers = L, query = L } } },\n"
             "}\n",
             name);
    load(&l, text);
    CHECK_MSG(l.c != NULL, "%s", l.errs);
    if (l.c != NULL && l.c->routes[0].cache != NULL) {
        const struct cfg_route_cache *rc = l.c->routes[0].cache;
        const struct cfg_strlist *all[] = {&rc->query_keep,     &rc->query_drop,
                                           &rc->strip_cookies,  &rc->bypass_cookies,
                                           &rc->bypass_headers, &rc->bypass_query};
        for (size_t i = 0; i < ARRAY_SIZE(all); i++) {
            CHECK_INT(all[i]->n, 64);
            if (all[i]->n == 64) {
                CHECK(strcmp(all[i]->items[0], "p1") == 0);
                CHECK(strcmp(all[i]->items[63], name) == 0);
            }
        }
    }
    done(&l);
}

static void test_cache_rules_rejected(void)
{
    static const struct {
        const char *rules; /* the cache table, written on line 5 */
        const char *want;  /* the whole error line */
    } cases[] = {
        /* query names: separators, escapes, white space, control bytes */
        {"{ query = { keep = { \"id\", \"page\", \"a&b\" } } }",
         "@FILE:5: routes[1].cache.query.keep[3]: expected a query parameter name like \"page\" "
         "or \"utm_*\", got \"a&b\" ('&' is not allowed: it separates parameters)"},
        {"{ query = { drop = { \"a=b\" } } }",
         "@FILE:5: routes[1].cache.query.drop[1]: expected a query parameter name like \"page\" "
         "or \"utm_*\", got \"a=b\" ('=' is not allowed: it separates a name from its value)"},
        {"{ query = { drop = { \"#x\" } } }",
         "@FILE:5: routes[1].cache.query.drop[1]: expected a query parameter name like \"page\" "
         "or \"utm_*\", got \"#x\" ('#' is not allowed: it starts the fragment)"},
        {"{ query = { keep = { \"utm%5Fsource\" } } }",
         "@FILE:5: routes[1].cache.query.keep[1]: expected a query parameter name like \"page\" "
         "or \"utm_*\", got \"utm%5Fsource\" ('%' is not allowed: names are compared "
         "percent-decoded, write the decoded name)"},
        {"{ query = { keep = { \"a b\" } } }",
         "@FILE:5: routes[1].cache.query.keep[1]: expected a query parameter name like \"page\" "
         "or \"utm_*\", got \"a b\" (white space and control characters are not allowed)"},
        {"{ query = { keep = { \"a\\tb\" } } }",
         "@FILE:5: routes[1].cache.query.keep[1]: expected a query parameter name like \"page\" "
         "or \"utm_*\", got \"a\\9b\" (white space and control characters are not allowed)"},
        {"{ bypass = { query = { \"x\\127\" } } }",
         "@FILE:5: routes[1].cache.bypass.query[1]: expected a query parameter name like \"page\" "
         "or \"utm_*\", got \"x\\127\" (white space and control characters are not allowed)"},
        {"{ bypass = { query = { \"a\\0b\" } } }",
         "@FILE:5: routes[1].cache.bypass.query[1]: expected a query parameter name like \"page\" "
         "or \"utm_*\", got \"a\\0b\" (white space and control characters are not allowed)"},
        /* wildcard placement */
        {"{ query = { drop = { \"*utm\" } } }",
         "@FILE:5: routes[1].cache.query.drop[1]: expected a query parameter name like \"page\" "
         "or \"utm_*\", got \"*utm\" ('*' is only allowed at the end, as a prefix wildcard like "
         "\"utm_*\")"},
        {"{ query = { drop = { \"u*m\" } } }",
         "@FILE:5: routes[1].cache.query.drop[1]: expected a query parameter name like \"page\" "
         "or \"utm_*\", got \"u*m\" ('*' is only allowed at the end, as a prefix wildcard like "
         "\"utm_*\")"},
        {"{ strip_cookies = { \"**\" } }",
         "@FILE:5: routes[1].cache.strip_cookies[1]: expected a cookie name like \"session\" or "
         "\"_ga*\", got \"**\" ('*' is only allowed at the end, as a prefix wildcard like "
         "\"utm_*\")"},
        {"{ bypass = { cookies = { \"a*b\" } } }",
         "@FILE:5: routes[1].cache.bypass.cookies[1]: expected a cookie name like \"session\" or "
         "\"_ga*\", got \"a*b\" ('*' is only allowed at the end, as a prefix wildcard like "
         "\"utm_*\")"},
        {"{ bypass = { headers = { \"x-*\" } } }",
         "@FILE:5: routes[1].cache.bypass.headers[1]: expected a header field name like "
         "\"x-preview\", got \"x-*\" (header field names take no wildcard)"},
        {"{ bypass = { headers = { \"*\" } } }",
         "@FILE:5: routes[1].cache.bypass.headers[1]: expected a header field name like "
         "\"x-preview\", got \"*\" (header field names take no wildcard)"},
        /* tokens */
        {"{ strip_cookies = { \"_ga\", \"a=b\" } }",
         "@FILE:5: routes[1].cache.strip_cookies[2]: expected a cookie name like \"session\" or "
         "\"_ga*\", got \"a=b\" ('=' is not a token character, RFC 9110 5.6.2)"},
        {"{ strip_cookies = { \"a;b\" } }",
         "@FILE:5: routes[1].cache.strip_cookies[1]: expected a cookie name like \"session\" or "
         "\"_ga*\", got \"a;b\" (';' is not a token character, RFC 9110 5.6.2)"},
        {"{ bypass = { cookies = { \"a b\" } } }",
         "@FILE:5: routes[1].cache.bypass.cookies[1]: expected a cookie name like \"session\" or "
         "\"_ga*\", got \"a b\" (byte 0x20 is not a token character, RFC 9110 5.6.2)"},
        {"{ bypass = { cookies = { \"caf\\195\\169\" } } }",
         "@FILE:5: routes[1].cache.bypass.cookies[1]: expected a cookie name like \"session\" or "
         "\"_ga*\", got \"caf\xc3\xa9\" (byte 0xc3 is not a token character, RFC 9110 5.6.2)"},
        {"{ bypass = { headers = { \"x-preview:\" } } }",
         "@FILE:5: routes[1].cache.bypass.headers[1]: expected a header field name like "
         "\"x-preview\", got \"x-preview:\" (':' is not a token character, RFC 9110 5.6.2)"},
        {"{ bypass = { headers = { \"a\\0\" } } }",
         "@FILE:5: routes[1].cache.bypass.headers[1]: expected a header field name like "
         "\"x-preview\", got \"a\\0\" (byte 0x00 is not a token character, RFC 9110 5.6.2)"},
        /* lengths and types of items */
        {"{ query = { keep = { \"\" } } }",
         "@FILE:5: routes[1].cache.query.keep[1]: expected a query parameter name like \"page\" "
         "or \"utm_*\", got \"\""},
        {"{ bypass = { headers = { \"\" } } }",
         "@FILE:5: routes[1].cache.bypass.headers[1]: expected a header field name like "
         "\"x-preview\", got \"\""},
        {"{ strip_cookies = { 5 } }",
         "@FILE:5: routes[1].cache.strip_cookies[1]: expected a cookie name like \"session\" or "
         "\"_ga*\", got 5"},
        {"{ bypass = { headers = { true } } }",
         "@FILE:5: routes[1].cache.bypass.headers[1]: expected a header field name like "
         "\"x-preview\", got true"},
        {"{ query = { keep = { {} } } }",
         "@FILE:5: routes[1].cache.query.keep[1]: expected a query parameter name like \"page\" "
         "or \"utm_*\", got a table"},
        /* shapes of the lists and tables */
        {"{ query = { keep = \"id\" } }",
         "@FILE:5: routes[1].cache.query.keep: expected an array of query parameter names like "
         "{ \"utm_*\", \"fbclid\" }, got \"id\""},
        {"{ strip_cookies = \"_ga\" }",
         "@FILE:5: routes[1].cache.strip_cookies: expected an array of cookie names like "
         "{ \"session\", \"_ga*\" }, got \"_ga\""},
        {"{ bypass = { headers = 1 } }",
         "@FILE:5: routes[1].cache.bypass.headers: expected an array of header field names like "
         "{ \"x-preview\" }, got 1"},
        {"{ query = { keep = { id = true } } }",
         "@FILE:5: routes[1].cache.query.keep.id: unexpected key in an array (expected a list "
         "like { a, b })"},
        {"{ query = { \"id\" } }",
         "@FILE:5: routes[1].cache.query[1]: unexpected item with key 1 (expected name = value "
         "fields)"},
        {"{ query = \"id\" }",
         "@FILE:5: routes[1].cache.query: expected a table like { keep = { \"id\", \"page\" }, "
         "drop = { \"utm_*\", \"fbclid\" } }, got \"id\""},
        {"{ bypass = true }",
         "@FILE:5: routes[1].cache.bypass: expected a table like { cookies = { \"session\" }, "
         "headers = { \"x-preview\" }, query = { \"nocache\" } }, got true"},
        /* unknown keys, with a suggestion */
        {"{ querry = {} }",
         "@FILE:5: routes[1].cache.querry: unknown key (did you mean \"query\"?)"},
        {"{ query = { dorp = {} } }",
         "@FILE:5: routes[1].cache.query.dorp: unknown key (did you mean \"drop\"?)"},
        {"{ query = { keeps = {} } }",
         "@FILE:5: routes[1].cache.query.keeps: unknown key (did you mean \"keep\"?)"},
        {"{ strip_cookie = {} }",
         "@FILE:5: routes[1].cache.strip_cookie: unknown key (did you mean \"strip_cookies\"?)"},
        {"{ bypas = {} }",
         "@FILE:5: routes[1].cache.bypas: unknown key (did you mean \"bypass\"?)"},
        {"{ bypass = { header = {} } }",
         "@FILE:5: routes[1].cache.bypass.header: unknown key (did you mean \"headers\"?)"},
        {"{ bypass = { cookie = {} } }",
         "@FILE:5: routes[1].cache.bypass.cookie: unknown key (did you mean \"cookies\"?)"},
        {"{ bypass = { paths = {} } }", "@FILE:5: routes[1].cache.bypass.paths: unknown key"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char text[2048];
        snprintf(text, sizeof(text), CACHE_HEAD "    cache = %s },\n}\n", cases[i].rules);
        check_exact(text, cases[i].want);
    }

    /* the brief's own example: the second route, the third name, on its own line */
    check_exact(MINIMAL "origins = { api = { servers = { \"127.0.0.1:9000\" } } }\n" /* 1-2 */
                        "routes = {\n"                                               /* 3 */
                        "  { path = \"/a/*\", origin = \"api\" },\n"                 /* 4 */
                        "  { path = \"/*\", origin = \"api\", cache = {\n"           /* 5 */
                        "      query = {\n"                                          /* 6 */
                        "        keep = {\n"                                         /* 7 */
                        "          \"id\",\n"                                        /* 8 */
                        "          \"page\",\n"                                      /* 9 */
                        "          \"sort order\",\n"                                /* 10 */
                        "        },\n"                                               /* 11 */
                        "      } } },\n"                                             /* 12 */
                        "}\n",
                "@FILE:10: routes[2].cache.query.keep[3]: expected a query parameter name like "
                "\"page\" or \"utm_*\", got \"sort order\" (white space and control characters "
                "are not allowed)");

    /* limits: 65 names, a name of 129 bytes */
    check_exact("local L = {}\nfor i = 1, 65 do L[i] = \"p\" .. i end\n" /* 1-2 */
                CACHE_HEAD "    cache = { query = { drop = L } } },\n}\n",
                "@FILE:7: routes[1].cache.query.drop: expected at most 64 query parameter names, "
                "got 65");
    check_exact("local L = {}\nfor i = 1, 65 do L[i] = \"p\" .. i end\n" CACHE_HEAD
                "    cache = { bypass = { headers = L } } },\n}\n",
                "@FILE:7: routes[1].cache.bypass.headers: expected at most 64 header field names, "
                "got 65");
    check_exact("local L = {}\nfor i = 1, 65 do L[i] = \"p\" .. i end\n" CACHE_HEAD
                "    cache = { strip_cookies = L } },\n}\n",
                "@FILE:7: routes[1].cache.strip_cookies: expected at most 64 cookie names, got 65");
    char name[130], text[1024], want[1024];
    memset(name, 'x', 129);
    name[129] = '\0';
    snprintf(text, sizeof(text), CACHE_CFG("{ bypass = { cookies = { \"ok\", \"%s\" } } }"), name);
    snprintf(want, sizeof(want),
             "@FILE:5: routes[1].cache.bypass.cookies[2]: expected a cookie name like \"session\" "
             "or \"_ga*\", got \"%.60s...\" (129 bytes, more than 128)",
             name);
    check_exact(text, want);

    /* every bad item of every list is reported, each on its line */
    struct loaded l;
    load(&l, CACHE_HEAD "    cache = {\n"                                        /* 1-5 */
                        "      query = { keep = { \"a&b\", \"ok\", \"c=d\" },\n" /* 6 */
                        "                drop = { \"x y\" } },\n"                /* 7 */
                        "      strip_cookies = { \"a;b\" },\n"                   /* 8 */
                        "      bypass = {\n"                                     /* 9 */
                        "        cookies = { \"s*s\" },\n"                       /* 10 */
                        "        headers = { \"X-A\", \"x b\" },\n"              /* 11 */
                        "        query = { \"%41\" },\n"                         /* 12 */
                        "      },\n"                                             /* 13 */
                        "    } },\n"                                             /* 14 */
                        "}\n");
    CHECK(l.c == NULL);
    CHECK_MSG(l.nlines == 7, "%s", l.errs);
    CHECK_MSG(has_line(&l, "@FILE:6: routes[1].cache.query.keep[1]:", "got \"a&b\""), "%s", l.errs);
    CHECK_MSG(has_line(&l, "@FILE:6: routes[1].cache.query.keep[3]:", "got \"c=d\""), "%s", l.errs);
    CHECK_MSG(has_line(&l, "@FILE:7: routes[1].cache.query.drop[1]:", "got \"x y\""), "%s", l.errs);
    CHECK_MSG(has_line(&l, "@FILE:8: routes[1].cache.strip_cookies[1]:", "got \"a;b\""), "%s",
              l.errs);
    CHECK_MSG(has_line(&l, "@FILE:10: routes[1].cache.bypass.cookies[1]:", "got \"s*s\""), "%s",
              l.errs);
    CHECK_MSG(has_line(&l, "@FILE:11: routes[1].cache.bypass.headers[2]:", "got \"x b\""), "%s",
              l.errs);
    CHECK_MSG(has_line(&l, "@FILE:12: routes[1].cache.bypass.query[1]:", "got \"%41\""), "%s",
              l.errs);
    done(&l);
}

/* ---- channels ----------------------------------------------------------------- */

static void test_channels_accepted(void)
{
    struct loaded l;
    /* every form, with the brief's example */
    load(&l, MINIMAL "channels = {\n"
                     "  { name = \"app\",    header = { [\"X-Channel\"] = \"app\" } },\n"
                     "  { name = \"mobile\", header = { [\"X-Channel\"] = \"mobile\" } },\n"
                     "  { name = \"web\",    header = { [\"X-Channel\"] = \"web\" } },\n"
                     "  { name = \"mobile\", client_hint_mobile = true },\n"
                     "  { name = \"mobile\", user_agent = \"Android|iPhone|Mobile\" },\n"
                     "  { name = \"beta\",   cookie = { bucket = \"b\" } },\n"
                     "  { name = \"app\",    query = { channel = \"app\" } },\n"
                     "  { name = \"web\" },\n"
                     "}\n");
    CHECK_MSG(l.c != NULL, "%s", l.errs);
    if (l.c != NULL && l.c->nchannels == 8) {
        const struct cfg_channel *ch = l.c->channels;
        CHECK(strcmp(ch[0].name, "app") == 0);
        CHECK_INT(ch[0].kind, CFG_CHANNEL_HEADER);
        CHECK_STRN(ch[0].header.name, ch[0].header.name_len, "X-Channel"); /* as written */
        CHECK_STRN(ch[0].header.value, ch[0].header.value_len, "app");
        CHECK(ch[0].cookie.name == NULL && ch[0].query.name == NULL);
        CHECK(ch[0].user_agent.items == NULL && !ch[0].client_hint_mobile);
        CHECK_INT(ch[3].kind, CFG_CHANNEL_CLIENT_HINT_MOBILE);
        CHECK_INT(ch[3].client_hint_mobile, 1);
        CHECK_INT(ch[4].kind, CFG_CHANNEL_USER_AGENT);
        CHECK(LIST_IS(&ch[4].user_agent, "android", "iphone", "mobile")); /* lower-cased */
        CHECK_INT(ch[5].kind, CFG_CHANNEL_COOKIE);
        CHECK_STRN(ch[5].cookie.name, ch[5].cookie.name_len, "bucket");
        CHECK_STRN(ch[5].cookie.value, ch[5].cookie.value_len, "b");
        CHECK_INT(ch[6].kind, CFG_CHANNEL_QUERY);
        CHECK_STRN(ch[6].query.name, ch[6].query.name_len, "channel");
        CHECK_STRN(ch[6].query.value, ch[6].query.value_len, "app");
        CHECK_INT(ch[7].kind, CFG_CHANNEL_DEFAULT);
        CHECK(strcmp(ch[7].name, "web") == 0);
        /* the distinct names, in order of first use, and each entry's index */
        CHECK(LIST_IS(&l.c->channel_names, "app", "mobile", "web", "beta"));
        CHECK_INT(ch[0].name_idx, 0);
        CHECK_INT(ch[1].name_idx, 1);
        CHECK_INT(ch[2].name_idx, 2);
        CHECK_INT(ch[4].name_idx, 1);
        CHECK_INT(ch[5].name_idx, 3);
        CHECK_INT(ch[6].name_idx, 0);
        CHECK_INT(ch[7].name_idx, 2);
        CHECK(l.c->channel_ua != NULL);
        CHECK(l.c->channel_vary != NULL &&
              strcmp(l.c->channel_vary, "X-Channel, Sec-CH-UA-Mobile, User-Agent, Cookie") == 0);
    } else {
        CHECK(0);
    }
    done(&l);

    /* absent: one default channel "web"; a default alone is fine too */
    load(&l, MINIMAL);
    CHECK_MSG(l.c != NULL, "%s", l.errs);
    if (l.c != NULL) {
        CHECK_INT(l.c->nchannels, 1);
        CHECK(l.c->nchannels == 1 && strcmp(l.c->channels[0].name, "web") == 0);
        CHECK(LIST_IS(&l.c->channel_names, "web"));
        CHECK(l.c->channel_ua == NULL);
        CHECK(l.c->channel_vary != NULL && strcmp(l.c->channel_vary, "") == 0);
    }
    done(&l);
    load(&l, MINIMAL "channels = { { name = \"desktop\" } }\n");
    CHECK_MSG(l.c != NULL, "%s", l.errs);
    if (l.c != NULL)
        CHECK(LIST_IS(&l.c->channel_names, "desktop"));
    done(&l);

    /* bounds: 32 entries; names of 1 and 32 bytes with '-', '_' and digits; 16
     * alternatives, of 1 and 64 bytes, with bytes a User-Agent holds; values of 256
     * bytes; names and values the rules allow */
    char text[8192], a64[65], v256[257];
    memset(a64, 'A', 64);
    a64[64] = '\0';
    memset(v256, 'v', 256);
    v256[256] = '\0';
    int o = snprintf(
        text, sizeof(text),
        MINIMAL
        "channels = {\n"
        "  { name = \"a\", user_agent = \"%s|b|c|d|e|f|g|h|i|j|k|l|m|n|o|p\" },\n"
        "  { name = \"m0-_9\", user_agent = \"Mozilla/5.0 (Linux; U) "
        "Mobile+Safari,x=1 \\195\\169\" },\n"
        "  { name = \"0123456789abcdefghijklmnopqrstuv\", header = { "
        "[\"!#$%%&'+-.^_`|~09AZaz\"] = \"%s\" } },\n"
        "  { name = \"c\", header = { a = \"in side\\tok \\255\" } },\n"
        "  { name = \"c\", cookie = { [\"__Host-x\"] = \"!#$%%&'()*+-./:<=>?@[]^_`{|}~\" } },\n"
        "  { name = \"q\", query = { [\"a+b[]\"] = \"%%41 & = #\\0\" } },\n",
        a64, v256);
    for (int i = 0; i < 25; i++)
        o += snprintf(text + o, sizeof(text) - (size_t)o,
                      "  { name = \"n%d\", query = { p = \"%d\" } },\n", i, i);
    snprintf(text + o, sizeof(text) - (size_t)o, "  { name = \"web\" },\n}\n");
    load(&l, text);
    CHECK_MSG(l.c != NULL, "%s", l.errs);
    if (l.c != NULL && l.c->nchannels == 32) {
        const struct cfg_channel *ch = l.c->channels;
        CHECK_INT(ch[0].user_agent.n, 16);
        CHECK(ch[0].user_agent.n == 16 && strlen(ch[0].user_agent.items[0]) == 64 &&
              ch[0].user_agent.items[0][0] == 'a' && strcmp(ch[0].user_agent.items[15], "p") == 0);
        CHECK(LIST_IS(&ch[1].user_agent, "mozilla/5.0 (linux; u) mobile+safari,x=1 \xc3\xa9"));
        CHECK(strcmp(ch[2].name, "0123456789abcdefghijklmnopqrstuv") == 0);
        CHECK_STRN(ch[2].header.name, ch[2].header.name_len, "!#$%&'+-.^_`|~09AZaz");
        CHECK_INT(ch[2].header.value_len, 256);
        CHECK_STRN(ch[3].header.value, ch[3].header.value_len, "in side\tok \xff");
        CHECK_STRN(ch[4].cookie.value, ch[4].cookie.value_len, "!#$%&'()*+-./:<=>?@[]^_`{|}~");
        CHECK_STRN(ch[5].query.name, ch[5].query.name_len, "a+b[]");
        CHECK_INT(ch[5].query.value_len, 10); /* the decoded form, NUL included */
        CHECK(memcmp(ch[5].query.value, "%41 & = #\0", 10) == 0);
        CHECK_INT(l.c->channel_names.n, 31);
        CHECK_MSG(strcmp(l.c->channel_vary, "User-Agent, !#$%&'+-.^_`|~09AZaz, a, Cookie") == 0,
                  "%s", l.c->channel_vary);
    } else {
        CHECK(0);
    }
    done(&l);
}

static void test_channels_rejected(void)
{
    static const struct {
        const char *entry; /* written on line 3, before the default */
        const char *want;  /* the whole error line */
    } cases[] = {
        /* names */
        {"{ name = \"Mobile\", user_agent = \"x\" }",
         "@FILE:3: channels[1].name: expected a channel name like \"mobile\", got \"Mobile\" "
         "(upper-case letters are not allowed: did you mean \"mobile\"?)"},
        {"{ name = \"-web\", user_agent = \"x\" }",
         "@FILE:3: channels[1].name: expected a channel name like \"mobile\", got \"-web\" (it "
         "must start with a lower-case letter or digit)"},
        {"{ name = \"my channel\", user_agent = \"x\" }",
         "@FILE:3: channels[1].name: expected a channel name like \"mobile\", got \"my channel\" "
         "(byte 0x20 is not allowed: use lower-case letters, digits, '-' and '_')"},
        {"{ name = \"../x\", user_agent = \"x\" }",
         "@FILE:3: channels[1].name: expected a channel name like \"mobile\", got \"../x\" ('.' "
         "is not allowed: use lower-case letters, digits, '-' and '_')"},
        {"{ name = \"\", user_agent = \"x\" }",
         "@FILE:3: channels[1].name: expected a channel name like \"mobile\", got \"\""},
        {"{ name = \"abcdefghijklmnopqrstuvwxyz0123456\", user_agent = \"x\" }",
         "@FILE:3: channels[1].name: expected a channel name like \"mobile\", got "
         "\"abcdefghijklmnopqrstuvwxyz0123456\" (33 bytes, more than 32)"},
        {"{ name = 5, user_agent = \"x\" }",
         "@FILE:3: channels[1].name: expected a channel name like \"mobile\", got 5"},
        {"{ user_agent = \"x\" }", "@FILE:3: channels[1].name: required key is missing"},
        /* unknown keys */
        {"{ name = \"a\", useragent = \"x\" }",
         "@FILE:3: channels[1].useragent: unknown key (did you mean \"user_agent\"?)"},
        {"{ name = \"a\", headers = { a = \"1\" } }",
         "@FILE:3: channels[1].headers: unknown key (did you mean \"header\"?)"},
        {"{ name = \"a\", cookies = { a = \"1\" } }",
         "@FILE:3: channels[1].cookies: unknown key (did you mean \"cookie\"?)"},
        {"{ name = \"a\", client_hint = true }", "@FILE:3: channels[1].client_hint: unknown key"},
        {"{ name = \"a\", \"x\" }",
         "@FILE:3: channels[1][1]: unexpected item with key 1 (expected name = value fields)"},
        /* conditions: several */
        {"{ name = \"a\", header = { a = \"1\" }, user_agent = \"x\" }",
         "@FILE:3: channels[1]: expected at most one condition, got header and user_agent "
         "(write one entry for each)"},
        {"{ name = \"a\", query = { q = \"1\" }, cookie = { c = \"1\" }, client_hint_mobile = "
         "true }",
         "@FILE:3: channels[1]: expected at most one condition, got client_hint_mobile, cookie "
         "and query (write one entry for each)"},
        /* header */
        {"{ name = \"a\", header = \"X-Channel\" }",
         "@FILE:3: channels[1].header: expected a table of one header field like { "
         "[\"X-Channel\"] = \"app\" }, got \"X-Channel\""},
        {"{ name = \"a\", header = {} }",
         "@FILE:3: channels[1].header: expected a table of one header field like { "
         "[\"X-Channel\"] = \"app\" }, got an empty table"},
        {"{ name = \"a\", header = { a = \"1\", b = \"2\" } }",
         "@FILE:3: channels[1].header: expected a table of one header field like { "
         "[\"X-Channel\"] = \"app\" }, got 2 pairs (one entry per condition)"},
        {"{ name = \"a\", header = { \"X-Channel\" } }",
         "@FILE:3: channels[1].header: expected a table of one header field like { "
         "[\"X-Channel\"] = \"app\" }, got an item with the key 1"},
        {"{ name = \"a\", header = { [\"X Channel\"] = \"app\" } }",
         "@FILE:3: channels[1].header: expected a header field name like \"X-Channel\", got \"X "
         "Channel\" (byte 0x20 is not a token character, RFC 9110 5.6.2)"},
        {"{ name = \"a\", header = { [\"X-Channel:\"] = \"app\" } }",
         "@FILE:3: channels[1].header: expected a header field name like \"X-Channel\", got "
         "\"X-Channel:\" (':' is not a token character, RFC 9110 5.6.2)"},
        {"{ name = \"a\", header = { [\"X-*\"] = \"app\" } }",
         "@FILE:3: channels[1].header: expected a header field name like \"X-Channel\", got "
         "\"X-*\" (header field names take no wildcard)"},
        {"{ name = \"a\", header = { [\"\"] = \"app\" } }",
         "@FILE:3: channels[1].header: expected a header field name like \"X-Channel\", got "
         "\"\""},
        {"{ name = \"a\", header = { [\"X-Channel\"] = 5 } }",
         "@FILE:3: channels[1].header[\"X-Channel\"]: expected a header field value like "
         "\"app\", got 5"},
        {"{ name = \"a\", header = { [\"X-Channel\"] = \"\" } }",
         "@FILE:3: channels[1].header[\"X-Channel\"]: expected a header field value like "
         "\"app\", got \"\""},
        {"{ name = \"a\", header = { [\"X-Channel\"] = \" app\" } }",
         "@FILE:3: channels[1].header[\"X-Channel\"]: expected a header field value like "
         "\"app\", got \" app\" (white space at either end is no part of a field value, so it "
         "could never match)"},
        {"{ name = \"a\", header = { [\"X-Channel\"] = \"app\\t\" } }",
         "@FILE:3: channels[1].header[\"X-Channel\"]: expected a header field value like "
         "\"app\", got \"app\\9\" (white space at either end is no part of a field value, so it "
         "could never match)"},
        {"{ name = \"a\", header = { [\"X-Channel\"] = \"a\\nb\" } }",
         "@FILE:3: channels[1].header[\"X-Channel\"]: expected a header field value like "
         "\"app\", got \"a\\10b\" (byte 0x0a is a control character, RFC 9110 5.5)"},
        /* client_hint_mobile */
        {"{ name = \"a\", client_hint_mobile = false }",
         "@FILE:3: channels[1].client_hint_mobile: expected true, got false (leave the key out "
         "for no condition)"},
        {"{ name = \"a\", client_hint_mobile = \"?1\" }",
         "@FILE:3: channels[1].client_hint_mobile: expected true, got \"?1\""},
        /* user_agent */
        {"{ name = \"a\", user_agent = { \"Android\" } }",
         "@FILE:3: channels[1].user_agent: expected literal alternatives like "
         "\"Android|iPhone|Mobile\", got a table"},
        {"{ name = \"a\", user_agent = \"\" }",
         "@FILE:3: channels[1].user_agent: expected literal alternatives like "
         "\"Android|iPhone|Mobile\", got \"\" (alternative 1 is empty)"},
        {"{ name = \"a\", user_agent = \"Android||iPhone\" }",
         "@FILE:3: channels[1].user_agent: expected literal alternatives like "
         "\"Android|iPhone|Mobile\", got \"Android||iPhone\" (alternative 2 is empty)"},
        {"{ name = \"a\", user_agent = \"Android|\" }",
         "@FILE:3: channels[1].user_agent: expected literal alternatives like "
         "\"Android|iPhone|Mobile\", got \"Android|\" (alternative 2 is empty)"},
        {"{ name = \"a\", user_agent = \"a|b|c|d|e|f|g|h|i|j|k|l|m|n|o|p|q\" }",
         "@FILE:3: channels[1].user_agent: expected literal alternatives like "
         "\"Android|iPhone|Mobile\", got \"a|b|c|d|e|f|g|h|i|j|k|l|m|n|o|p|q\" (17 "
         "alternatives, more than 16)"},
        {"{ name = \"a\", user_agent = \"x|0123456789012345678901234567890123456789012345678901"
         "2345678901234\" }",
         "@FILE:3: channels[1].user_agent: expected literal alternatives like "
         "\"Android|iPhone|Mobile\", got "
         "\"x|0123456789012345678901234567890123456789012345678901234567...\" (alternative 2 "
         "is 65 bytes, more than 64)"},
        {"{ name = \"a\", user_agent = \"Android|iPhone.*Mobile\" }",
         "@FILE:3: channels[1].user_agent: expected literal alternatives like "
         "\"Android|iPhone|Mobile\", got \"Android|iPhone.*Mobile\" (alternative 2 holds '*': "
         "alternatives are literal text, not regular expressions)"},
        {"{ name = \"a\", user_agent = \"^Mozilla\" }",
         "@FILE:3: channels[1].user_agent: expected literal alternatives like "
         "\"Android|iPhone|Mobile\", got \"^Mozilla\" (alternative 1 holds '^': alternatives "
         "are literal text, not regular expressions)"},
        {"{ name = \"a\", user_agent = \"Android | iPhone\" }",
         "@FILE:3: channels[1].user_agent: expected literal alternatives like "
         "\"Android|iPhone|Mobile\", got \"Android | iPhone\" (alternative 1 ends with a space, "
         "which would be matched too)"},
        {"{ name = \"a\", user_agent = \"a\\tb\" }",
         "@FILE:3: channels[1].user_agent: expected literal alternatives like "
         "\"Android|iPhone|Mobile\", got \"a\\9b\" (alternative 1 holds the control byte 0x09)"},
        /* cookie */
        {"{ name = \"a\", cookie = { [\"a b\"] = \"1\" } }",
         "@FILE:3: channels[1].cookie: expected a cookie name like \"bucket\", got \"a b\" (byte "
         "0x20 is not a token character, RFC 9110 5.6.2)"},
        {"{ name = \"a\", cookie = { [\"b*\"] = \"1\" } }",
         "@FILE:3: channels[1].cookie: expected a cookie name like \"bucket\", got \"b*\" ('*' "
         "is no wildcard here: name one cookie)"},
        {"{ name = \"a\", cookie = { bucket = \"a;b\" } }",
         "@FILE:3: channels[1].cookie.bucket: expected a cookie value like \"b\", got \"a;b\" "
         "(';' is not a cookie-octet, RFC 6265 4.1.1)"},
        {"{ name = \"a\", cookie = { bucket = \"a b\" } }",
         "@FILE:3: channels[1].cookie.bucket: expected a cookie value like \"b\", got \"a b\" "
         "(byte 0x20 is not a cookie-octet, RFC 6265 4.1.1)"},
        {"{ name = \"a\", cookie = { bucket = true } }",
         "@FILE:3: channels[1].cookie.bucket: expected a cookie value like \"b\", got true"},
        {"{ name = \"a\", cookie = 1 }",
         "@FILE:3: channels[1].cookie: expected a table of one cookie like { bucket = \"b\" }, "
         "got 1"},
        /* query */
        {"{ name = \"a\", query = { [\"a&b\"] = \"1\" } }",
         "@FILE:3: channels[1].query: expected a query parameter name like \"channel\", got "
         "\"a&b\" ('&' is not allowed: it separates parameters)"},
        {"{ name = \"a\", query = { [\"c%41\"] = \"1\" } }",
         "@FILE:3: channels[1].query: expected a query parameter name like \"channel\", got "
         "\"c%41\" ('%' is not allowed: names are compared percent-decoded, write the decoded "
         "name)"},
        {"{ name = \"a\", query = { [\"c*\"] = \"1\" } }",
         "@FILE:3: channels[1].query: expected a query parameter name like \"channel\", got "
         "\"c*\" ('*' is no wildcard here: name one parameter)"},
        {"{ name = \"a\", query = { c = {} } }",
         "@FILE:3: channels[1].query.c: expected a query parameter value like \"app\", got a "
         "table"},
        {"{ name = \"a\", query = { [1] = \"app\" } }",
         "@FILE:3: channels[1].query: expected a table of one query parameter like { channel = "
         "\"app\" }, got an item with the key 1"},
        /* order: an entry with no condition before the last */
        {"{ name = \"a\" }",
         "@FILE:3: channels[1]: only the last channel may have no condition (this one would "
         "hide channels[2])"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char text[2048];
        snprintf(text, sizeof(text), MINIMAL "channels = {\n  %s,\n  { name = \"web\" },\n}\n",
                 cases[i].entry);
        check_exact(text, cases[i].want);
    }

    /* the list itself */
    check_exact(MINIMAL "channels = {}\n",
                "@FILE:2: channels: expected at least 1 item like { { name = \"web\" } }, got a "
                "table");
    check_exact(MINIMAL "channels = \"web\"\n",
                "@FILE:2: channels: expected an array of tables like { { name = \"web\" } }, got "
                "\"web\"");
    check_exact(MINIMAL "channels = { \"web\" }\n",
                "@FILE:2: channels[1]: expected a table like { name = \"web\" }, got \"web\"");
    /* a map where the array belongs: the stray key, and the count it leaves */
    struct loaded l;
    load(&l, MINIMAL "channels = { web = { name = \"web\" } }\n");
    CHECK(l.c == NULL);
    CHECK_MSG(l.nlines == 2, "%s", l.errs);
    CHECK_MSG(has_line(&l,
                       "@FILE:2: channels.web: unexpected key in an array (expected a list like "
                       "{ a, b })",
                       NULL),
              "%s", l.errs);
    CHECK_MSG(has_line(&l,
                       "@FILE:2: channels: expected at least 1 item like { { name = \"web\" } }",
                       NULL),
              "%s", l.errs);
    done(&l);
    check_exact(MINIMAL "chanels = { { name = \"web\" } }\n",
                "@FILE:2: chanels: unknown key (did you mean \"channels\"?)");
    check_exact("local C = {}\nfor i = 1, 32 do C[i] = { name = \"c\" .. i, query = { p = \"\" .. "
                "i } } end\nC[33] = { name = \"web\" }\n" MINIMAL "channels = C\n",
                "@FILE:5: channels: expected at most 32 items, got 33");
    /* the last entry is the default */
    check_exact(MINIMAL "channels = {\n"
                        "  { name = \"app\", header = { [\"X-Channel\"] = \"app\" } },\n"
                        "  { name = \"mobile\", user_agent = \"Android\" },\n"
                        "}\n",
                "@FILE:4: channels[2]: the last channel is the default and takes no condition");
    check_exact(MINIMAL
                "channels = { { name = \"web\", header = { [\"X-Channel\"] = \"app\" } } }\n",
                "@FILE:2: channels[1]: the last channel is the default and takes no condition");
    /* an entry with no condition hides all that follow */
    check_exact(MINIMAL "channels = {\n"
                        "  { name = \"app\", header = { [\"X-Channel\"] = \"app\" } },\n"
                        "  { name = \"mobile\" },\n"
                        "  { name = \"app\", query = { channel = \"app\" } },\n"
                        "  { name = \"web\" },\n"
                        "}\n",
                "@FILE:4: channels[2]: only the last channel may have no condition (this one "
                "would hide channels[3] to channels[4])");
    /* the last entry's own mistake is reported once, without a hidden-entry one */
    check_exact(MINIMAL "channels = {\n"
                        "  { name = \"web\" },\n"
                        "  5,\n"
                        "}\n",
                "@FILE:4: channels[2]: expected a table like { name = \"web\" }, got 5");

    /* every error of every entry, each on its line */
    load(&l, MINIMAL "channels = {\n"                                                  /* 2 */
                     "  { name = \"App\", header = { [\"X-Channel\"] = \"app\" } },\n" /* 3 */
                     "  { name = \"m\",\n"                                             /* 4 */
                     "    user_agent = \"Android||iPhone\" },\n"                       /* 5 */
                     "  { name = \"b\", cookie = { bucket = \"a b\" },\n"              /* 6 */
                     "    query = { q = \"1\" } },\n"                                  /* 7 */
                     "  { name = \"x\", useragent = \"x\" },\n"                        /* 8 */
                     "  { name = \"web\", client_hint_mobile = true },\n"              /* 9 */
                     "}\n");
    CHECK(l.c == NULL);
    CHECK_MSG(l.nlines == 6, "%s", l.errs);
    CHECK_MSG(has_line(&l, "@FILE:3: channels[1].name:", "got \"App\""), "%s", l.errs);
    CHECK_MSG(has_line(&l, "@FILE:5: channels[2].user_agent:", "(alternative 2 is empty)"), "%s",
              l.errs);
    CHECK_MSG(has_line(&l, "@FILE:6: channels[3].cookie.bucket:", "got \"a b\""), "%s", l.errs);
    CHECK_MSG(has_line(&l, "@FILE:6: channels[3]: expected at most one condition", NULL), "%s",
              l.errs);
    CHECK_MSG(has_line(&l, "@FILE:8: channels[4].useragent: unknown key", NULL), "%s", l.errs);
    CHECK_MSG(has_line(&l, "@FILE:9: channels[5]: the last channel is the default", NULL), "%s",
              l.errs);
    done(&l);
}

/* ---- page routes: templates and fragments --------------------------------------- */

/* tests/unit/fixtures/templates, found from __FILE__ like test_demo_files does:
 *   pages/p.html.mustache            uses components/c
 *   components/c.html.mustache       overridden for mobile:
 *   mobile/components/c.html.mustache
 *   app/pages/p.json.mustache        the app channel's page, JSON
 *   pages/bad.html.mustache          an unclosed section at 2:3
 *   pages/nopartial.html.mustache    {{>components/missing}} at 2:1
 *   pages/abs.html.mustache          {{>/etc/passwd}} at 2:1 */
static const char *fixtures(void)
{
    static char dir[1100];
    if (dir[0] == '\0') {
        snprintf(dir, sizeof(dir), "%s", __FILE__);
        char *cut = strstr(dir, "test_cfg.c");
        if (cut != NULL)
            snprintf(cut, sizeof(dir) - (size_t)(cut - dir), "fixtures/templates");
        else
            snprintf(dir, sizeof(dir), "tests/unit/fixtures/templates");
    }
    return dir;
}

/* load() of a printf format; "%1$s" is the fixtures directory. */
__attribute__((format(printf, 2, 3))) static void load_fmt(struct loaded *l, const char *fmt, ...)
{
    char text[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    CHECK(n > 0 && (size_t)n < sizeof(text));
    load(l, text);
}

/* Lines 1-5 of the page files; routes start on line 6. Three channels, in the
 * order app, mobile, web. */
#define PAGE_HEAD                                                                                  \
    MINIMAL "origins = { api = { servers = { \"127.0.0.1:9000\" } } }\n"                           \
            "templates = \"%1$s\"\n"                                                               \
            "channels = { { name = \"app\", header = { [\"X-Channel\"] = \"app\" } },\n"           \
            "  { name = \"mobile\", client_hint_mobile = true }, { name = \"web\" } }\n"
#define CH_APP 0
#define CH_MOBILE 1
#define CH_WEB 2

/* A page route on line 6 with the given keys after path and template. */
#define PAGE_CFG(tmpl, keys)                                                                       \
    PAGE_HEAD "routes = { { path = \"/product/:id\", template = \"" tmpl "\", " keys " } }\n"

static json_t *fallback_of(const struct cfg *c, size_t route, size_t frag)
{
    if (c == NULL || route >= c->nroutes || frag >= c->routes[route].nfragments)
        return NULL;
    return c->routes[route].fragments[frag].fallback;
}

static int json_is(const json_t *v, const char *want)
{
    if (v == NULL)
        return 0;
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    int ok = s != NULL && strcmp(s, want) == 0;
    if (!ok)
        fprintf(stderr, "json: %s, want %s\n", s ? s : "(null)", want);
    free(s);
    return ok;
}

/* Renders t with the JSON data text; returns the output (malloc'd). */
static char *render(const struct tpl *t, const char *data)
{
    json_t *v = json_loads(data, 0, NULL);
    struct evbuffer *out = evbuffer_new();
    struct tpl_error err;
    int rc = tpl_render(t, v, NULL, out, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    size_t n = evbuffer_get_length(out);
    char *s = malloc(n + 1);
    evbuffer_remove(out, s, n);
    s[n] = '\0';
    evbuffer_free(out);
    json_decref(v);
    return s;
}

static void test_pages_accepted(void)
{
    struct loaded l;
    char want[1200];
    /* the brief's example */
    load_fmt(&l,
             PAGE_HEAD "routes = {\n"
                       "  { path = \"/product/:id\", template = \"pages/p\",\n"
                       "    cache = { ttl = \"60s\" },\n"
                       "    fragments = {\n"
                       "      product = { origin = \"api\", path = \"/api/product/:id\", "
                       "timeout = \"200ms\", required = true },\n"
                       "      price   = { origin = \"api\", path = \"/api/price/:id\", timeout = "
                       "\"200ms\", query = { \"lang\" }, headers = { \"Accept-Language\" } },\n"
                       "      reviews = { origin = \"api\", path = \"/api/reviews/:id\", timeout "
                       "= \"150ms\", fallback = { items = {} } },\n"
                       "      nav = { origin = \"api\", path = \"/api/nav\" },\n"
                       "    } },\n"
                       "  { path = \"/api/*\", origin = \"api\", cache = {} },\n"
                       "}\n",
             fixtures());
    CHECK_MSG(l.c != NULL, "%s", l.errs);
    if (l.c == NULL || l.c->nroutes != 2) {
        done(&l);
        return;
    }
    const struct cfg *c = l.c;
    const struct cfg_origin *api = cfg_origin_find(c, "api");
    const struct cfg_route *r = &c->routes[0];
    CHECK(strcmp(r->template, "pages/p") == 0 && r->origin == NULL);
    CHECK(r->cache != NULL && r->cache->ttl_ms == 60000);
    CHECK(strcmp(c->templates, fixtures()) == 0);
    /* fragments, sorted by name */
    CHECK_INT(r->nfragments, 4);
    if (r->nfragments == 4) {
        static const char *const names[] = {"nav", "price", "product", "reviews"};
        for (size_t i = 0; i < 4; i++) {
            const struct cfg_fragment *f = &r->fragments[i];
            CHECK(strcmp(f->name, names[i]) == 0);
            CHECK(f->origin == api);
            /* the hidden route: its origin, follows the origin's caching headers */
            CHECK(f->route != NULL);
            if (f->route == NULL)
                continue;
            snprintf(want, sizeof(want), "fragment:%s", names[i]);
            CHECK(strcmp(f->route->path, want) == 0);
            CHECK(f->route->origin == api && f->route->template == NULL);
            CHECK(f->route->cache != NULL && f->route->cache->ttl_ms == 0);
            CHECK(f->route->cache != NULL && list_absent(&f->route->cache->query_keep));
            CHECK(f->route->nfragments == 0 && f->route->segs == NULL);
            /* the compose spec */
            const struct compose_spec *sp = &r->specs[i];
            CHECK(sp->name == f->name && sp->route == f->route && sp->path == f->path);
            CHECK(sp->timeout_ms == f->timeout_ms && sp->required == f->required);
        }
        const struct cfg_fragment *f = r->fragments;
        CHECK(strcmp(f[0].path, "/api/nav") == 0);
        CHECK_INT(f[0].timeout_ms, 1000); /* the default */
        CHECK_INT(f[0].required, 0);
        CHECK(f[0].fallback == NULL);
        CHECK(list_absent(&f[0].query) && list_absent(&f[0].headers));
        CHECK(r->specs[0].query == NULL && r->specs[0].headers == NULL);
        CHECK(strcmp(f[1].path, "/api/price/:id") == 0);
        CHECK_INT(f[1].timeout_ms, 200);
        CHECK(LIST_IS(&f[1].query, "lang"));
        CHECK(LIST_IS(&f[1].headers, "accept-language")); /* lower-cased */
        CHECK(r->specs[1].query == &f[1].query && r->specs[1].headers == &f[1].headers);
        CHECK_INT(f[2].required, 1);
        CHECK_INT(f[3].timeout_ms, 150);
        CHECK(json_is(f[3].fallback, "{\"items\":{}}"));
    }
    /* the proxy route has no page parts */
    CHECK(c->routes[1].template == NULL && c->routes[1].origin == api);
    CHECK(c->routes[1].nfragments == 0 && c->routes[1].specs == NULL);
    CHECK(c->routes[1].tpls == NULL);

    /* one set per channel; the page per channel, each from the channel's files */
    CHECK(LIST_IS(&c->channel_names, "app", "mobile", "web"));
    CHECK(c->tpl_sets != NULL && r->tpls != NULL);
    if (c->tpl_sets != NULL && r->tpls != NULL) {
        for (size_t ch = 0; ch < 3; ch++) {
            CHECK(c->tpl_sets[ch] != NULL && r->tpls[ch] != NULL);
            CHECK(r->tpls[ch] == tpl_set_get(c->tpl_sets[ch], "pages/p"));
        }
        snprintf(want, sizeof(want), "%s/pages/p.html.mustache", fixtures());
        CHECK(strcmp(tpl_file(r->tpls[CH_WEB]), want) == 0);
        CHECK(strcmp(tpl_file(r->tpls[CH_MOBILE]), want) == 0);
        snprintf(want, sizeof(want), "%s/app/pages/p.json.mustache", fixtures());
        CHECK(strcmp(tpl_file(r->tpls[CH_APP]), want) == 0);
        CHECK(r->tpls[CH_WEB] != r->tpls[CH_MOBILE] && r->tpls[CH_WEB] != r->tpls[CH_APP]);
        /* the component: mobile's override, the shared one elsewhere */
        const struct tpl *cw = tpl_set_get(c->tpl_sets[CH_WEB], "components/c");
        const struct tpl *cm = tpl_set_get(c->tpl_sets[CH_MOBILE], "components/c");
        CHECK(cw != NULL && cm != NULL);
        snprintf(want, sizeof(want), "%s/components/c.html.mustache", fixtures());
        CHECK(cw != NULL && strcmp(tpl_file(cw), want) == 0);
        snprintf(want, sizeof(want), "%s/mobile/components/c.html.mustache", fixtures());
        CHECK(cm != NULL && strcmp(tpl_file(cm), want) == 0);
        CHECK(tpl_set_get(c->tpl_sets[CH_APP], "components/c") == NULL); /* not used there */
        /* and they render so: escaping follows the file name */
        const char *data = "{\"product\":{\"title\":\"A&B \\\"x\\\"\"},\"price\":{\"amount\":3}}";
        char *out = render(r->tpls[CH_WEB], data);
        CHECK_MSG(strcmp(out, "<h1>A&amp;B &quot;x&quot;</h1><span>3</span>\n\n") == 0, "%s", out);
        free(out);
        out = render(r->tpls[CH_MOBILE], data);
        CHECK_MSG(strcmp(out, "<h1>A&amp;B &quot;x&quot;</h1><b>3</b>\n\n") == 0, "%s", out);
        free(out);
        out = render(r->tpls[CH_APP], data);
        CHECK_MSG(strcmp(out, "{\"title\":\"A&B \\\"x\\\"\"}\n") == 0, "%s", out);
        free(out);
    }
    done(&l);

    /* ":*" names what a final "*" captures; a query may follow the path */
    load_fmt(&l,
             PAGE_HEAD "routes = { { path = \"/docs/:section/*\", template = \"pages/p\",\n"
                       "  fragments = { doc = { origin = \"api\", path = "
                       "\"/api/doc/:section/:*.json?v=:section\" } } } }\n",
             fixtures());
    CHECK_MSG(l.c != NULL, "%s", l.errs);
    done(&l);

    /* a page route without fragments, one channel */
    load_fmt(&l,
             MINIMAL "templates = \"%s/\"\n" /* a trailing '/' is not doubled */
                     "routes = { { path = \"/\", template = \"pages/p\" } }\n",
             fixtures());
    CHECK_MSG(l.c != NULL, "%s", l.errs);
    if (l.c != NULL && l.c->nroutes == 1 && l.c->routes[0].tpls != NULL) {
        CHECK(l.c->routes[0].nfragments == 0 && l.c->routes[0].specs == NULL);
        snprintf(want, sizeof(want), "%s/pages/p.html.mustache", fixtures());
        CHECK(l.c->routes[0].tpls[0] != NULL &&
              strcmp(tpl_file(l.c->routes[0].tpls[0]), want) == 0);
    }
    done(&l);
}

/* Without a page route the template directory is never read: it need not exist. */
static void test_pages_no_templates_dir(void)
{
    struct loaded l;
    load(&l, MINIMAL "origins = { api = { servers = { \"127.0.0.1:9000\" } } }\n"
                     "templates = \"/nonexistent/tessera-templates\"\n"
                     "routes = { { path = \"/*\", origin = \"api\" } }\n");
    CHECK_MSG(l.c != NULL, "%s", l.errs);
    CHECK(l.c == NULL || l.c->tpl_sets == NULL);
    done(&l);
    load(&l, MINIMAL); /* the default "templates" is not looked at either */
    CHECK_MSG(l.c != NULL, "%s", l.errs);
    CHECK(l.c == NULL || (strcmp(l.c->templates, "templates") == 0 && l.c->tpl_sets == NULL));
    done(&l);
}

static void test_fallbacks(void)
{
    static const struct {
        const char *lua;  /* the value */
        const char *json; /* compact, keys sorted */
        int type;         /* json_typeof */
    } cases[] = {
        {"{ items = {} }", "{\"items\":{}}", JSON_OBJECT},
        {"{}", "{}", JSON_OBJECT},
        {"{ 1, 2.5, \"x\", true, false }", "[1,2.5,\"x\",true,false]", JSON_ARRAY},
        {"{ b = 1, a = { c = { 1, { d = -3 } } } }", "{\"a\":{\"c\":[1,{\"d\":-3}]},\"b\":1}",
         JSON_OBJECT},
        {"{ [1] = \"a\", [2] = \"b\" }", "[\"a\",\"b\"]", JSON_ARRAY},
        {"{ [\"odd key\"] = 0 }", "{\"odd key\":0}", JSON_OBJECT},
        {"42", "42", JSON_INTEGER},
        {"-7", "-7", JSON_INTEGER},
        {"3.0", "3", JSON_INTEGER}, /* Lua cannot tell 3.0 from 3 */
        {"9007199254740992", "9007199254740992", JSON_INTEGER},
        {"1.5", "1.5", JSON_REAL},
        {"-0.25", "-0.25", JSON_REAL},
        {"\"text\"", "\"text\"", JSON_STRING},
        {"\"caf\\195\\169\"", "\"caf\xc3\xa9\"", JSON_STRING},
        {"\"\"", "\"\"", JSON_STRING},
        {"true", "true", JSON_TRUE},
        {"false", "false", JSON_FALSE}, /* a value, not an absent key */
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct loaded l;
        load_fmt(&l,
                 PAGE_CFG("pages/p", "fragments = { f = { origin = \"api\", path = \"/f\", "
                                     "fallback = %2$s } }"),
                 fixtures(), cases[i].lua);
        CHECK_MSG(l.c != NULL, "%s: %s", cases[i].lua, l.errs);
        json_t *v = fallback_of(l.c, 0, 0);
        CHECK_MSG(v != NULL && (int)json_typeof(v) == cases[i].type, "%s", cases[i].lua);
        if (v != NULL) {
            char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
            CHECK_MSG(s != NULL && strcmp(s, cases[i].json) == 0, "%s: %s", cases[i].lua, s);
            free(s);
        }
        done(&l);
    }
}

static void test_pages_rejected(void)
{
    static const struct {
        const char *route; /* the routes table, on line 6 */
        const char *want;  /* the whole error line; %1$s is the fixtures directory */
    } cases[] = {
        /* origin or template */
        {"{ { path = \"/p\", origin = \"api\", template = \"pages/p\" } }",
         "@FILE:6: routes[1]: expected origin or template, got both for /p (a route forwards to "
         "an origin or renders a page)"},
        {"{ { path = \"/\" } }",
         "@FILE:6: routes[1]: expected origin (forward to an origin) or template (render a "
         "page), got neither for /"},
        {"{ { path = \"/p\", origin = \"api\", fragments = { a = { origin = \"api\", path = "
         "\"/a\" } } } }",
         "@FILE:6: routes[1].fragments: fragments belong to page routes: expected a template "
         "instead of origin"},
        /* template names */
        {"{ { path = \"/p\", template = \"../pages/p\" } }",
         "@FILE:6: routes[1].template: expected a template name like \"pages/product\", got "
         "\"../pages/p\" (\".\" and \"..\" are not allowed: names are relative to the template "
         "directory)"},
        {"{ { path = \"/p\", template = \"/pages/p\" } }",
         "@FILE:6: routes[1].template: expected a template name like \"pages/product\", got "
         "\"/pages/p\" (empty segment: write segments joined by '/', like \"pages/product\")"},
        {"{ { path = \"/p\", template = \"pages/p.html.mustache\" } }",
         "@FILE:6: routes[1].template: expected a template name like \"pages/product\", got "
         "\"pages/p.html.mustache\" (give the name without its extension, like "
         "\"pages/product\": the file is found as NAME.html.mustache, NAME.json.mustache or "
         "NAME.txt.mustache)"},
        {"{ { path = \"/p\", template = \"pages/a b\" } }",
         "@FILE:6: routes[1].template: expected a template name like \"pages/product\", got "
         "\"pages/a b\" (byte 0x20 is not allowed: use letters, digits, '_', '-' and '.')"},
        {"{ { path = \"/p\", template = true } }",
         "@FILE:6: routes[1].template: expected a template name like \"pages/product\", got "
         "true"},
        /* fragment names */
        {"{ { path = \"/p\", template = \"pages/p\", fragments = { [\"bad-name\"] = { origin = "
         "\"api\", path = \"/a\" } } } }",
         "@FILE:6: routes[1].fragments[\"bad-name\"]: bad name: templates refer to a fragment "
         "by its name: use letters, digits and '_', not starting with a digit"},
        {"{ { path = \"/p\", template = \"pages/p\", fragments = { [\"1st\"] = { origin = "
         "\"api\", path = \"/a\" } } } }",
         "@FILE:6: routes[1].fragments[\"1st\"]: bad name: templates refer to a fragment by its "
         "name: use letters, digits and '_', not starting with a digit"},
        {"{ { path = \"/p\", template = \"pages/p\", fragments = { "
         "a123456789b123456789c123456789d123456789e123456789f123456789g1234 = { origin = "
         "\"api\", path = \"/a\" } } } }",
         "@FILE:6: routes[1].fragments.a123456789b123456789c123456789d123456789e123456789f12345"
         "6789g1234: bad name: 65 bytes, more than 64"},
        {"{ { path = \"/p\", template = \"pages/p\", fragments = { \"x\" } } }",
         "@FILE:6: routes[1].fragments[1]: expected NAME = { ... } entries like { product = { "
         "origin = \"api\", path = \"/api/product/:id\" } }, got an item with the key 1"},
        {"{ { path = \"/p\", template = \"pages/p\", fragments = { a = \"/a\" } } }",
         "@FILE:6: routes[1].fragments.a: expected a table like { origin = \"api\", path = "
         "\"/api/product/:id\" }, got \"/a\""},
        /* fragment keys */
        {"{ { path = \"/product/:id\", template = \"pages/p\", fragments = { price = { origin = "
         "\"api\", path = \"/api/price/:sku\" } } } }",
         "@FILE:6: routes[1].fragments.price.path: :sku is not a parameter of /product/:id"},
        {"{ { path = \"/product/:id\", template = \"pages/p\", fragments = { price = { origin = "
         "\"api\", path = \"/api/price/:id?x=:\" } } } }",
         "@FILE:6: routes[1].fragments.price.path: ':' must be followed by a parameter of "
         "/product/:id"},
        {"{ { path = \"/product\", template = \"pages/p\", fragments = { rest = { origin = "
         "\"api\", path = \"/api/:*\" } } } }",
         "@FILE:6: routes[1].fragments.rest.path: :* is not a parameter of /product"},
        {"{ { path = \"/p\", template = \"pages/p\", fragments = { a = { path = \"/a\" } } } }",
         "@FILE:6: routes[1].fragments.a.origin: required key is missing (expected the name of "
         "an origin)"},
        {"{ { path = \"/p\", template = \"pages/p\", fragments = { a = { origin = \"api\" } } } "
         "}",
         "@FILE:6: routes[1].fragments.a.path: required key is missing (expected a request path "
         "like \"/api/product/:id\")"},
        {"{ { path = \"/p\", template = \"pages/p\", fragments = { a = { origin = \"api\", path "
         "= \"api/a\" } } } }",
         "@FILE:6: routes[1].fragments.a.path: expected a request path like "
         "\"/api/product/:id\", got \"api/a\" (a path starts with '/')"},
        {"{ { path = \"/p\", template = \"pages/p\", fragments = { a = { origin = \"api\", path "
         "= \"/a b\" } } } }",
         "@FILE:6: routes[1].fragments.a.path: expected a request path like "
         "\"/api/product/:id\", got \"/a b\" (byte 0x20 is not allowed in a request path "
         "(percent-encode it))"},
        {"{ { path = \"/p\", template = \"pages/p\", fragments = { a = { origin = \"api\", path "
         "= \"/a#top\" } } } }",
         "@FILE:6: routes[1].fragments.a.path: expected a request path like "
         "\"/api/product/:id\", got \"/a#top\" ('#' is not allowed: a request carries no "
         "fragment identifier)"},
        {"{ { path = \"/p\", template = \"pages/p\", fragments = { a = { origin = \"api\", path "
         "= \"/a\", timeout = \"2m\" } } } }",
         "@FILE:6: routes[1].fragments.a.timeout: expected a duration from \"1ms\" to \"1m\", "
         "got \"2m\""},
        {"{ { path = \"/p\", template = \"pages/p\", fragments = { a = { origin = \"api\", path "
         "= \"/a\", required = 1 } } } }",
         "@FILE:6: routes[1].fragments.a.required: expected true or false, got 1"},
        {"{ { path = \"/p\", template = \"pages/p\", fragments = { a = { origin = \"api\", path "
         "= \"/a\", headers = { \"Content-Length\" } } } } }",
         "@FILE:6: routes[1].fragments.a.headers[1]: \"content-length\" cannot be passed on: it "
         "belongs to the page request's own message or connection"},
        {"{ { path = \"/p\", template = \"pages/p\", fragments = { a = { origin = \"api\", path "
         "= \"/a\", query = { \"a&b\" } } } } }",
         "@FILE:6: routes[1].fragments.a.query[1]: expected a query parameter name like "
         "\"page\" or \"utm_*\", got \"a&b\" ('&' is not allowed: it separates parameters)"},
        {"{ { path = \"/p\", template = \"pages/p\", fragments = { a = { origin = \"api\", path "
         "= \"/a\", fallbak = {} } } } }",
         "@FILE:6: routes[1].fragments.a.fallbak: unknown key (did you mean \"fallback\"?)"},
        /* fallbacks */
        {"{ { path = \"/p\", template = \"pages/p\", fragments = { a = { origin = \"api\", path "
         "= \"/a\", fallback = function() end } } } }",
         "@FILE:6: routes[1].fragments.a.fallback: expected a table, a string, a number or a "
         "boolean, got a function (JSON cannot hold it)"},
        {"{ { path = \"/p\", template = \"pages/p\", fragments = { a = { origin = \"api\", path "
         "= \"/a\", fallback = { x = { 1, function() end } } } } } }",
         "@FILE:6: routes[1].fragments.a.fallback.x[2]: expected a table, a string, a number or "
         "a boolean, got a function (JSON cannot hold it)"},
        {"{ { path = \"/p\", template = \"pages/p\", fragments = { a = { origin = \"api\", path "
         "= \"/a\", fallback = { 1, x = 2 } } } } }",
         "@FILE:6: routes[1].fragments.a.fallback: expected an object (string keys) or an array "
         "(items 1..n), got a table with both"},
        {"{ { path = \"/p\", template = \"pages/p\", fragments = { a = { origin = \"api\", path "
         "= \"/a\", fallback = { [1] = 1, [3] = 3 } } } } }",
         "@FILE:6: routes[1].fragments.a.fallback: expected an array with items 1..n, got 2 "
         "items up to [3] (JSON arrays have no holes)"},
        {"{ { path = \"/p\", template = \"pages/p\", fragments = { a = { origin = \"api\", path "
         "= \"/a\", fallback = { [true] = 1 } } } } }",
         "@FILE:6: routes[1].fragments.a.fallback: expected string keys (an object) or items "
         "1..n (an array), got the key true"},
        {"{ { path = \"/p\", template = \"pages/p\", fragments = { a = { origin = \"api\", path "
         "= \"/a\", fallback = { x = 0/0 } } } } }",
         "@FILE:6: routes[1].fragments.a.fallback.x: expected a finite number, got "},
        {"{ { path = \"/p\", template = \"pages/p\", fragments = { a = { origin = \"api\", path "
         "= \"/a\", fallback = \"\\255\" } } } }",
         "@FILE:6: routes[1].fragments.a.fallback: expected UTF-8 text, got \"\xff\" (JSON "
         "strings are UTF-8)"},
        /* templates */
        {"{ { path = \"/p\", template = \"pages/nope\" } }",
         "@FILE:6: routes[1].template: template \"pages/nope\" not found: tried "
         "%1$s/{app,mobile,web}/pages/nope.{html,json,txt}.mustache, "
         "%1$s/pages/nope.{html,json,txt}.mustache"},
        {"{ { path = \"/p\", template = \"pages/bad\" } }",
         "@FILE:6: routes[1].template: %1$s/pages/bad.html.mustache:2:3: unclosed section "
         "\"product\""},
        {"{ { path = \"/p\", template = \"pages/abs\" } }",
         "@FILE:6: routes[1].template: %1$s/pages/abs.html.mustache:2:1: partial \"/etc/passwd\" "
         "could not be loaded (not a template name: empty segment: write segments joined by '/', "
         "like \"pages/product\")"},
        {"{ { path = \"/p\", template = \"pages/nopartial\" } }",
         "@FILE:6: routes[1].template: %1$s/pages/nopartial.html.mustache:2:1: partial "
         "\"components/missing\" not found (tried "
         "%1$s/{app,mobile,web}/components/missing.{html,json,txt}.mustache, "
         "%1$s/components/missing.{html,json,txt}.mustache)"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct loaded l;
        char fmt[4096], line[4096];
        /* PAGE_HEAD's %1$s is for load_fmt: the route is appended, not formatted */
        snprintf(fmt, sizeof(fmt), "%s", PAGE_HEAD "routes = ");
        strncat(fmt, cases[i].route, sizeof(fmt) - strlen(fmt) - 2);
        strcat(fmt, "\n");
        load_fmt(&l, fmt, fixtures());
        CHECK_MSG(l.c == NULL, "%s", cases[i].route);
        snprintf(fmt, sizeof(fmt), "%s%s", l.path, cases[i].want + 5);
        snprintf(line, sizeof(line), fmt, fixtures());
        size_t n = strlen(line);
        CHECK_MSG(l.nlines == 1 && strncmp(l.errs, line, n) == 0 &&
                      (l.errs[n] == '\n' || line[n - 1] == ' '),
                  "got:\n%swant:\n%s\n", l.errs, line);
        done(&l);
    }
}

/* Limits and errors that need a little Lua to write. */
static void test_pages_limits(void)
{
    struct loaded l;
    /* 33 fragments */
    load_fmt(&l,
             PAGE_HEAD "local f = {}\n"
                       "for i = 1, 33 do f[\"f\" .. i] = { origin = \"api\", path = \"/a\" } end\n"
                       "routes = { { path = \"/p\", template = \"pages/p\", fragments = f } }\n",
             fixtures());
    CHECK(l.c == NULL);
    CHECK_MSG(has_line(&l, "routes[1].fragments: expected at most 32 entries, got 33", NULL), "%s",
              l.errs);
    done(&l);
    /* 32 are fine */
    load_fmt(&l,
             PAGE_HEAD "local f = {}\n"
                       "for i = 1, 32 do f[\"f\" .. i] = { origin = \"api\", path = \"/a\" } end\n"
                       "routes = { { path = \"/p\", template = \"pages/p\", fragments = f } }\n",
             fixtures());
    CHECK_MSG(l.c != NULL && l.c->routes[0].nfragments == 32, "%s", l.errs);
    done(&l);
    /* 33 tables deep, and a table that holds itself */
    load_fmt(&l,
             PAGE_HEAD
             "local t = {} local x = t\n"
             "for i = 1, 32 do x.a = {} x = x.a end\n"
             "routes = { { path = \"/p\", template = \"pages/p\",\n"
             "  fragments = { f = { origin = \"api\", path = \"/a\", fallback = t } } } }\n",
             fixtures());
    CHECK(l.c == NULL && l.nlines == 1);
    CHECK_MSG(has_line(&l, "routes[1].fragments.f.fallback.a.a.a",
                       ": expected at most 32 tables inside each other, got more"),
              "%s", l.errs);
    done(&l);
    load_fmt(&l,
             PAGE_HEAD
             "local t = {} local x = t\n"
             "for i = 1, 31 do x.a = {} x = x.a end\n"
             "routes = { { path = \"/p\", template = \"pages/p\",\n"
             "  fragments = { f = { origin = \"api\", path = \"/a\", fallback = t } } } }\n",
             fixtures());
    CHECK_MSG(l.c != NULL, "%s", l.errs); /* 32 levels */
    done(&l);
    load_fmt(&l,
             PAGE_HEAD
             "local t = { x = 1 } t.self = t\n"
             "routes = { { path = \"/p\", template = \"pages/p\",\n"
             "  fragments = { f = { origin = \"api\", path = \"/a\", fallback = t } } } }\n",
             fixtures());
    CHECK(l.c == NULL && l.nlines == 1);
    CHECK_MSG(has_line(&l, "(does a table hold itself?)", NULL), "%s", l.errs);
    done(&l);
    /* 64KB as JSON: { s } is 4 bytes more than s, built to an exact length from
     * doubled strings (the sandbox has no string library) */
    for (int extra = 0; extra < 2; extra++) {
        load_fmt(&l,
                 PAGE_HEAD
                 "local d = { \"x\" } for i = 2, 17 do d[i] = d[i - 1] .. d[i - 1] end\n"
                 "local s, n = \"\", %2$d\n"
                 "for i = 17, 1, -1 do if n >= #d[i] then s = s .. d[i] n = n - #d[i] end "
                 "end\n"
                 "routes = { { path = \"/p\", template = \"pages/p\",\n"
                 "  fragments = { f = { origin = \"api\", path = \"/a\", fallback = { s "
                 "} } } } }\n",
                 fixtures(), 65532 + extra);
        if (extra == 0) {
            CHECK_MSG(l.c != NULL, "%s", l.errs);
        } else {
            CHECK(l.c == NULL && l.nlines == 1);
            CHECK_MSG(has_line(&l,
                               "routes[1].fragments.f.fallback: expected a value of at most "
                               "64KB as JSON, got more",
                               NULL),
                      "%s", l.errs);
        }
        done(&l);
    }
    /* many small values stop early too */
    load_fmt(&l,
             PAGE_HEAD
             "local t = {} for i = 1, 100000 do t[i] = i end\n"
             "routes = { { path = \"/p\", template = \"pages/p\",\n"
             "  fragments = { f = { origin = \"api\", path = \"/a\", fallback = t } } } }\n",
             fixtures());
    CHECK(l.c == NULL && l.nlines == 1);
    CHECK_MSG(has_line(&l, "fallback: expected a value of at most 64KB as JSON", NULL), "%s",
              l.errs);
    done(&l);

    /* the template directory is needed as soon as a route has a template */
    load_fmt(&l, MINIMAL "templates = \"/nonexistent/tessera-templates\"\n"
                         "routes = { { path = \"/\", template = \"pages/p\" } }\n");
    CHECK(l.c == NULL && l.nlines == 1);
    CHECK_MSG(has_line(&l,
                       "@FILE:2: templates: cannot read the template directory "
                       "\"/nonexistent/tessera-templates\": No such file or directory "
                       "(routes[1] has a template)",
                       NULL),
              "%s", l.errs);
    done(&l);
    load_fmt(&l, MINIMAL "templates = \"\"\n");
    CHECK(l.c == NULL);
    CHECK_MSG(has_line(&l,
                       "@FILE:2: templates: expected a directory path like \"templates\", got "
                       "\"\"",
                       NULL),
              "%s", l.errs);
    done(&l);

    /* every error at once: a config error and template errors in one report */
    load_fmt(&l,
             PAGE_HEAD
             "routes = {\n"
             "  { path = \"/a\", template = \"pages/bad\" },\n"
             "  { path = \"/b\", template = \"pages/nope\", cache = { ttl = \"soon\" } },\n"
             "}\n",
             fixtures());
    CHECK(l.c == NULL);
    CHECK_MSG(l.nlines == 3, "%s", l.errs);
    CHECK_MSG(has_line(&l, "@FILE:7: routes[1].template:", "unclosed section"), "%s", l.errs);
    CHECK_MSG(has_line(&l, "@FILE:8: routes[2].template:", "not found"), "%s", l.errs);
    CHECK_MSG(has_line(&l, "@FILE:8: routes[2].cache.ttl:", NULL), "%s", l.errs);
    done(&l);
}

static void test_demo_files(void)
{
    /* __FILE__ is tests/unit/test_cfg.c, absolute under CMake: find conf/ from it */
    char root[1024], path[1100];
    snprintf(root, sizeof(root), "%s", __FILE__);
    char *cut = strstr(root, "tests/unit/test_cfg.c");
    if (cut == NULL)
        return;
    *cut = '\0';
    snprintf(path, sizeof(path), "%sconf/tessera.lua", root);
    char *out = NULL;
    size_t len;
    FILE *err = open_memstream(&out, &len);
    struct cfg *c = cfg_load(path, err);
    fclose(err);
    CHECK_MSG(c != NULL, "%s", out);
    if (c != NULL) {
        CHECK_INT(c->nlisten, 2);
        CHECK_INT(port_of(&c->listen[0].addr), 8080);
        CHECK(c->listen[0].tls == NULL);
        CHECK_INT(port_of(&c->listen[1].addr), 8443);
        CHECK(c->listen[1].tls != NULL && strcmp(c->listen[1].tls->cert, "conf/tls/edge.pem") == 0);
        const struct cfg_origin *api = cfg_origin_find(c, "api");
        CHECK(api != NULL && api->connect_timeout_ms == 100 && api->timeout_ms == 1000);
        /* The api route is the cached pass-through, then the catch-all; page routes (with
         * templates from templates/) come before them */
        CHECK(c->nroutes >= 2);
        if (c->nroutes >= 2) {
            const struct cfg_route *api_route = &c->routes[c->nroutes - 2];
            const struct cfg_route_cache *rc = api_route->cache;
            CHECK(strcmp(api_route->path, "/api/*") == 0);
            CHECK(rc != NULL && c->routes[c->nroutes - 1].cache == NULL);
            if (rc != NULL) {
                CHECK(LIST_IS(&rc->query_drop, "utm_*", "fbclid", "gclid"));
                CHECK(list_absent(&rc->query_keep) && list_absent(&rc->strip_cookies));
            }
        }
        for (size_t i = 0; i < c->nroutes; i++) {
            const struct cfg_route *r = &c->routes[i];
            CHECK((r->origin == NULL) != (r->template == NULL));
            if (r->template == NULL)
                continue;
            CHECK(c->tpl_sets != NULL && r->tpls != NULL);
            for (size_t ch = 0; r->tpls != NULL && ch < c->channel_names.n; ch++)
                CHECK_MSG(r->tpls[ch] != NULL, "%s, channel %s", r->template,
                          c->channel_names.items[ch]);
            for (size_t j = 0; j < r->nfragments; j++)
                CHECK(r->fragments[j].route != NULL && r->specs[j].route == r->fragments[j].route);
        }
        CHECK_INT(c->limits.header_size, 16384);
        CHECK_INT(c->limits.uri_size, 8192);
        CHECK_INT(c->limits.body_size, 100ull << 20);
        CHECK(c->log.access != NULL && strcmp(c->log.access, "-") == 0);
        CHECK_INT(c->log.level, CFG_LOG_INFO);
        /* the demo channels: an X-Channel header wins, then mobile hints */
        CHECK_INT(c->nchannels, 6);
        CHECK(LIST_IS(&c->channel_names, "web", "mobile", "app"));
        if (c->nchannels == 6) {
            CHECK_INT(c->channels[0].kind, CFG_CHANNEL_HEADER);
            CHECK_INT(c->channels[3].kind, CFG_CHANNEL_CLIENT_HINT_MOBILE);
            CHECK(LIST_IS(&c->channels[4].user_agent, "android", "iphone", "mobile"));
            CHECK_INT(c->channels[5].kind, CFG_CHANNEL_DEFAULT);
        }
    }
    cfg_unref(c);
    free(out);

    snprintf(path, sizeof(path), "%sconf/examples/bad-typo.lua", root);
    out = NULL;
    err = open_memstream(&out, &len);
    c = cfg_load(path, err);
    fclose(err);
    CHECK(c == NULL);
    char want[1400];
    snprintf(want, sizeof(want),
             "%s:34: timeouts.keepalve: unknown key (did you mean \"keepalive\"?)\n", path);
    CHECK_MSG(strcmp(out, want) == 0, "%s", out);
    free(out);

    snprintf(path, sizeof(path), "%sconf/examples/bad-cache-rules.lua", root);
    out = NULL;
    err = open_memstream(&out, &len);
    c = cfg_load(path, err);
    fclose(err);
    CHECK(c == NULL);
    snprintf(want, sizeof(want),
             "%s:29: routes[1].cache.query.keep[2]: expected a query parameter name like \"page\" "
             "or \"utm_*\", got \"a&b\" ('&' is not allowed: it separates parameters)\n",
             path);
    CHECK_MSG(strcmp(out, want) == 0, "%s", out);
    free(out);
}

/* ---- listen[i].tls ------------------------------------------------------------ */

/* cfg_load only checks that the files can be read: any content will do here. */
static void make_file(char *path, const char *text)
{
    strcpy(path, "/tmp/tessera-cfg-tls-XXXXXX");
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
}

static void test_tls(void)
{
    char pem[64], key[64], buf[2048];
    struct loaded l;
    make_file(pem, "-----BEGIN CERTIFICATE-----\n");
    make_file(key, "-----BEGIN PRIVATE KEY-----\n");

    /* absent: NULL; present: the defaults */
    snprintf(buf, sizeof(buf),
             "listen = {\n"
             "  { addr = \"127.0.0.1:8080\" },\n"
             "  { addr = \"127.0.0.1:8443\", tls = { cert = \"%s\", key = \"%s\" } },\n"
             "}\n",
             pem, key);
    load(&l, buf);
    CHECK_MSG(l.c != NULL, "%s", l.errs);
    if (l.c != NULL) {
        CHECK_INT(l.c->nlisten, 2);
        CHECK(l.c->listen[0].tls == NULL);
        const struct cfg_tls *t = l.c->listen[1].tls;
        CHECK(t != NULL);
        if (t != NULL) {
            CHECK(strcmp(t->cert, pem) == 0 && strcmp(t->key, key) == 0);
            CHECK_INT(t->ncertificates, 0);
            CHECK(t->certificates == NULL);
            CHECK_INT(t->tickets, 1);
            CHECK_INT(t->ticket_lifetime_ms, 12 * 3600 * 1000ull);
        }
    }
    done(&l);

    /* every key */
    snprintf(
        buf, sizeof(buf),
        "listen = { { addr = \"*:443\", tls = {\n"
        "  cert = \"%s\", key = \"%s\",\n"
        "  certificates = { { cert = \"%s\", key = \"%s\" }, { cert = \"%s\", key = \"%s\" } },\n"
        "  tickets = false, ticket_lifetime = \"1h30m\",\n"
        "} } }\n",
        pem, key, key, pem, pem, pem);
    load(&l, buf);
    CHECK_MSG(l.c != NULL, "%s", l.errs);
    if (l.c != NULL && l.c->listen[0].tls != NULL) {
        const struct cfg_tls *t = l.c->listen[0].tls;
        CHECK_INT(t->ncertificates, 2);
        CHECK(strcmp(t->certificates[0].cert, key) == 0 &&
              strcmp(t->certificates[0].key, pem) == 0);
        CHECK(strcmp(t->certificates[1].cert, pem) == 0);
        CHECK_INT(t->tickets, 0);
        CHECK_INT(t->ticket_lifetime_ms, 90 * 60 * 1000ull);
    }
    done(&l);

    /* unreadable files, named with the key path and line */
    snprintf(
        buf, sizeof(buf),
        "listen = {\n"
        "  { addr = \"127.0.0.1:8080\" },\n"
        "  { addr = \"127.0.0.1:8443\", tls = { cert = \"/nonexistent/x.pem\", key = \"%s\" } },\n"
        "}\n",
        key);
    CHECK_ONE_ERROR(buf,
                    "@FILE:3: listen[2].tls.cert: cannot read \"/nonexistent/x.pem\": No such file "
                    "or directory",
                    NULL);
    snprintf(buf, sizeof(buf),
             "listen = { { addr = \"127.0.0.1:8443\", tls = {\n"
             "  cert = \"%s\", key = \"/tmp\" } } }\n",
             pem);
    CHECK_ONE_ERROR(buf, "@FILE:2: listen[1].tls.key: cannot read \"/tmp\": Is a directory", NULL);
    if (geteuid() != 0) { /* root reads anything */
        chmod(key, 0);
        snprintf(
            buf, sizeof(buf),
            "listen = { { addr = \"127.0.0.1:8443\", tls = { cert = \"%s\", key = \"%s\" } } }\n",
            pem, key);
        CHECK_ONE_ERROR(buf, "listen[1].tls.key: cannot read", "Permission denied");
        chmod(key, 0600);
    }
    snprintf(buf, sizeof(buf),
             "listen = { { addr = \"127.0.0.1:8443\", tls = { cert = \"%s\", key = \"%s\",\n"
             "  certificates = { { cert = \"%s\", key = \"/nonexistent/b.key\" } } } } }\n",
             pem, key, pem);
    CHECK_ONE_ERROR(buf,
                    "@FILE:2: listen[1].tls.certificates[1].key: cannot read "
                    "\"/nonexistent/b.key\": No such file or directory",
                    NULL);

    /* shapes, types, bounds and typos */
    snprintf(buf, sizeof(buf),
             "listen = { { addr = \"127.0.0.1:8443\", tls = { cert = \"%s\" } } }\n", pem);
    CHECK_ONE_ERROR(buf, "listen[1].tls.key: required key is missing",
                    "(expected a file path like \"conf/tls/edge.pem\")");
    snprintf(buf, sizeof(buf),
             "listen = { { addr = \"127.0.0.1:8443\",\n"
             "  tls = { cert = \"%s\", key = \"%s\", tickest = true } } }\n",
             pem, key);
    CHECK_ONE_ERROR(buf, "@FILE:2: listen[1].tls.tickest: unknown key (did you mean \"tickets\"?)",
                    NULL);
    snprintf(buf, sizeof(buf),
             "listen = { { addr = \"127.0.0.1:8443\", tls = { cert = \"%s\", key = \"%s\",\n"
             "  tickets = \"yes\" } } }\n",
             pem, key);
    CHECK_ONE_ERROR(buf, "@FILE:2: listen[1].tls.tickets: expected true or false, got \"yes\"",
                    NULL);
    snprintf(buf, sizeof(buf),
             "listen = { { addr = \"127.0.0.1:8443\", tls = { cert = \"%s\", key = \"%s\",\n"
             "  ticket_lifetime = \"30s\" } } }\n",
             pem, key);
    CHECK_ONE_ERROR(buf,
                    "listen[1].tls.ticket_lifetime: expected a duration from \"1m\" to \"7d\", "
                    "got \"30s\"",
                    NULL);
    CHECK_ONE_ERROR("listen = { { addr = \"127.0.0.1:8443\", tls = true } }\n",
                    "listen[1].tls: expected a table like { cert = \"conf/tls/edge.pem\"",
                    "got true");
    /* both errors of one table are reported */
    load(&l, "listen = { { addr = \"127.0.0.1:8443\", tls = { cert = 5, key = \"\" } } }\n");
    CHECK(l.c == NULL);
    CHECK_MSG(l.nlines == 2, "%s", l.errs);
    CHECK_MSG(has_line(&l, "listen[1].tls.cert: expected a file path like \"conf/tls/edge.pem\"",
                       "got 5"),
              "%s", l.errs);
    CHECK_MSG(has_line(&l, "listen[1].tls.key: expected a file path", "got \"\""), "%s", l.errs);
    done(&l);
    snprintf(buf, sizeof(buf),
             "listen = { { addr = \"127.0.0.1:8443\", tls = { cert = \"%s\", key = \"%s\",\n"
             "  certificates = { \"%s\" } } } }\n",
             pem, key, pem);
    CHECK_ONE_ERROR(buf,
                    "@FILE:2: listen[1].tls.certificates[1]: expected a table like { cert =", NULL);
    /* a typo in a certificate: the unknown key and the missing one */
    snprintf(buf, sizeof(buf),
             "listen = { { addr = \"127.0.0.1:8443\", tls = { cert = \"%s\", key = \"%s\",\n"
             "  certificates = {\n"
             "    { cert = \"%s\", kye = \"%s\" },\n"
             "  } } } }\n",
             pem, key, pem, key);
    load(&l, buf);
    CHECK(l.c == NULL);
    CHECK_MSG(l.nlines == 2, "%s", l.errs);
    CHECK_MSG(has_line(&l,
                       "@FILE:3: listen[1].tls.certificates[1].kye: unknown key (did you mean "
                       "\"key\"?)",
                       NULL),
              "%s", l.errs);
    CHECK_MSG(
        has_line(&l, "@FILE:3: listen[1].tls.certificates[1].key: required key is missing", NULL),
        "%s", l.errs);
    done(&l);

    unlink(pem);
    unlink(key);
}

/* ---- hooks -------------------------------------------------------------------- */

/* tests/unit/fixtures/scripts, from this file's path (ctest runs from the source
 * tree, but the path in messages is the one written in the config). */
static const char *scripts(void)
{
    static char dir[1100];
    if (dir[0] == '\0') {
        snprintf(dir, sizeof(dir), "%s", __FILE__);
        char *cut = strstr(dir, "test_cfg.c");
        if (cut != NULL)
            snprintf(cut, sizeof(dir) - (size_t)(cut - dir), "fixtures/scripts");
        else
            snprintf(dir, sizeof(dir), "tests/unit/fixtures/scripts");
    }
    return dir;
}

#define HOOKS_HEAD MINIMAL "origins = { api = { servers = { \"127.0.0.1:9000\" } } }\n"

/* routes[1] on line 4, with hooks = DIR/NAME and the extra keys. */
static void hooks_cfg(char *buf, size_t cap, const char *name, const char *keys)
{
    snprintf(buf, cap,
             HOOKS_HEAD
             "routes = {\n  { path = \"/*\", origin = \"api\", hooks = \"%s/%s\"%s },\n}\n",
             scripts(), name, keys);
}

static void test_hooks_accepted(void)
{
    char buf[2048], path[1200];
    hooks_cfg(buf, sizeof(buf), "good.lua", "");
    struct loaded l;
    load(&l, buf);
    CHECK_MSG(l.c != NULL, "%s", l.errs);
    if (l.c != NULL && l.c->nroutes == 1) {
        const struct cfg_route *r = &l.c->routes[0];
        snprintf(path, sizeof(path), "%s/good.lua", scripts());
        CHECK(r->hooks != NULL && strcmp(r->hooks, path) == 0);
        CHECK(r->hook_errors_ignore == 0);
        /* the text as read, for the workers to load */
        FILE *f = fopen(path, "rb");
        char text[4096];
        size_t n = f ? fread(text, 1, sizeof(text), f) : 0;
        if (f != NULL)
            fclose(f);
        CHECK(n > 0 && r->hooks_len == n && r->hooks_src != NULL &&
              memcmp(r->hooks_src, text, n) == 0 && r->hooks_src[n] == '\0');
    }
    done(&l);

    hooks_cfg(buf, sizeof(buf), "good.lua", ", hook_errors = \"ignore\"");
    load(&l, buf);
    CHECK_MSG(l.c != NULL && l.c->routes[0].hook_errors_ignore == 1, "%s", l.errs);
    done(&l);

    /* a route without hooks has none */
    load(&l, HOOKS_HEAD "routes = { { path = \"/*\", origin = \"api\" } }\n");
    CHECK_MSG(l.c != NULL && l.c->routes[0].hooks == NULL && l.c->routes[0].hooks_src == NULL, "%s",
              l.errs);
    done(&l);
}

static void test_hooks_rejected(void)
{
    char buf[2048], want[1400];
    hooks_cfg(buf, sizeof(buf), "missing.lua", "");
    snprintf(want, sizeof(want),
             "@FILE:4: routes[1].hooks: cannot read \"%s/missing.lua\": No such file or directory",
             scripts());
    CHECK_ONE_ERROR(buf, want, NULL);

    hooks_cfg(buf, sizeof(buf), "syntax_error.lua", "");
    snprintf(want, sizeof(want),
             "@FILE:4: routes[1].hooks: %s/syntax_error.lua:3: unexpected symbol near '='",
             scripts());
    CHECK_ONE_ERROR(buf, want, NULL);

    hooks_cfg(buf, sizeof(buf), "runtime_error.lua", "");
    snprintf(want, sizeof(want),
             "@FILE:4: routes[1].hooks: %s/runtime_error.lua:2: attempt to index local 'config' "
             "(a nil value)",
             scripts());
    CHECK_ONE_ERROR(buf, want, NULL);

    hooks_cfg(buf, sizeof(buf), "bad_return.lua", "");
    snprintf(want, sizeof(want),
             "@FILE:4: routes[1].hooks: %s/bad_return.lua: the returned table has an unknown key "
             "\"on_reqest\"",
             scripts());
    CHECK_ONE_ERROR(buf, want, NULL);

    /* a directory is not a script */
    snprintf(buf, sizeof(buf),
             HOOKS_HEAD "routes = { { path = \"/*\", origin = \"api\", hooks = \"%s\" } }\n",
             scripts());
    CHECK_ONE_ERROR(buf, "routes[1].hooks: cannot read", "not a regular file");

    /* larger than 1MB */
    char big[64];
    strcpy(big, "/tmp/tessera-hook-XXXXXX");
    int fd = mkstemp(big);
    CHECK(fd >= 0);
    if (fd >= 0) {
        static char chunk[65536];
        memset(chunk, '-', sizeof(chunk));
        for (int i = 0; i < 17; i++)
            CHECK(write(fd, chunk, sizeof(chunk)) == (ssize_t)sizeof(chunk));
        close(fd);
        snprintf(buf, sizeof(buf),
                 HOOKS_HEAD "routes = { { path = \"/*\", origin = \"api\", hooks = \"%s\" } }\n",
                 big);
        snprintf(want, sizeof(want), "routes[1].hooks: \"%s\" is larger than 1MB", big);
        CHECK_ONE_ERROR(buf, want, NULL);
        unlink(big);
    }

    CHECK_ONE_ERROR(HOOKS_HEAD "routes = { { path = \"/*\", origin = \"api\", hooks = 5 } }\n",
                    "routes[1].hooks: expected the path of a Lua script like "
                    "\"scripts/product.lua\", got 5",
                    NULL);
    CHECK_ONE_ERROR(HOOKS_HEAD "routes = { { path = \"/*\", origin = \"api\", hooks = \"\" } }\n",
                    "routes[1].hooks: expected the path of a Lua script", NULL);
    hooks_cfg(buf, sizeof(buf), "good.lua", ", hook_errors = \"maybe\"");
    CHECK_ONE_ERROR(buf, "@FILE:4: routes[1].hook_errors: expected one of \"fail\", \"ignore\"",
                    "got \"maybe\"");
    CHECK_ONE_ERROR(HOOKS_HEAD "routes = {\n  { path = \"/*\", origin = \"api\", hook_errors = "
                               "\"ignore\" },\n}\n",
                    "@FILE:4: routes[1].hook_errors: applies to a route with hooks", NULL);

    /* every broken script is reported, each at its route */
    snprintf(buf, sizeof(buf),
             HOOKS_HEAD
             "routes = {\n"
             "  { path = \"/a\", origin = \"api\", hooks = \"%1$s/syntax_error.lua\" },\n"
             "  { path = \"/b\", origin = \"api\", hooks = \"%1$s/good.lua\" },\n"
             "  { path = \"/c\", origin = \"api\", hooks = \"%1$s/bad_return.lua\" },\n"
             "}\n",
             scripts());
    struct loaded l;
    load(&l, buf);
    CHECK(l.c == NULL);
    CHECK_MSG(l.nlines == 2 && has_line(&l, "@FILE:4: routes[1].hooks:", "syntax_error.lua:3:") &&
                  has_line(&l, "@FILE:6: routes[3].hooks:", "bad_return.lua: the returned table"),
              "%s", l.errs);
    done(&l);
}

/* ---- purge: admin.token_file and purge.allow ----------------------------------- */

/* A file under /tmp holding text; its path is written to path (64 bytes). */
static void secret_file(char *path, const char *text)
{
    strcpy(path, "/tmp/tessera-token-XXXXXX");
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
}

/* Loads admin = { addr, token_file = file } (file NULL: no token_file). */
static void load_admin(struct loaded *l, const char *file)
{
    char text[512];
    if (file != NULL)
        snprintf(text, sizeof(text),
                 MINIMAL "admin = { addr = \"127.0.0.1:9901\", token_file = \"%s\" }\n", file);
    else
        snprintf(text, sizeof(text), MINIMAL "admin = { addr = \"127.0.0.1:9901\" }\n");
    load(l, text);
}

static void test_purge_config(void)
{
    struct loaded l;
    char file[64], missing[80];

    /* a token, white space around it ignored */
    secret_file(file, "  s3cr3t-Token.42\r\n\n");
    load_admin(&l, file);
    CHECK_MSG(l.c != NULL, "%s", l.errs);
    if (l.c != NULL) {
        const struct cfg_secret *t = &l.c->admin->token;
        CHECK(t->value != NULL && strcmp(t->value, "s3cr3t-Token.42") == 0);
        CHECK_INT(t->len, 15);
        CHECK(t->error == NULL && strcmp(t->file, file) == 0);
        CHECK(l.c->purge == NULL); /* no purge table: PURGE refused */
    }
    done(&l);
    /* a missing file is no error of the configuration: purge is disabled, and why */
    snprintf(missing, sizeof(missing), "%s.missing", file);
    load_admin(&l, missing);
    CHECK_MSG(l.c != NULL && l.nlines == 0, "%s", l.errs);
    if (l.c != NULL) {
        const struct cfg_secret *t = &l.c->admin->token;
        CHECK(t->value == NULL && t->len == 0);
        CHECK_MSG(t->error != NULL && strstr(t->error, "cannot read \"") != NULL &&
                      strstr(t->error, ".missing\": No such file or directory") != NULL,
                  "%s", t->error ? t->error : "(null)");
    }
    done(&l);
    static const struct {
        const char *text, *error;
    } bad_files[] = {
        {"", "is empty"},
        {" \n\t\r\n", "is empty"},
        {"two tokens\n", "holds more than one token"},
        {"tok\001en", "bytes that are not visible ASCII"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad_files); i++) {
        FILE *f = fopen(file, "w");
        CHECK(f != NULL);
        if (f == NULL)
            continue;
        fputs(bad_files[i].text, f);
        fclose(f);
        load_admin(&l, file);
        CHECK_MSG(l.c != NULL, "%s", l.errs);
        if (l.c != NULL)
            CHECK_MSG(l.c->admin->token.value == NULL && l.c->admin->token.error != NULL &&
                          strstr(l.c->admin->token.error, bad_files[i].error) != NULL,
                      "case %zu: %s", i,
                      l.c->admin->token.error ? l.c->admin->token.error : "(null)");
        done(&l);
    }
    {
        FILE *f = fopen(file, "w");
        for (int i = 0; f != NULL && i < 4097; i++)
            fputc('x', f);
        if (f != NULL)
            fclose(f);
        load_admin(&l, file);
        CHECK(l.c != NULL && l.c->admin->token.value == NULL &&
              strstr(l.c->admin->token.error, "more than 4096 bytes") != NULL);
        done(&l);
    }
    load_admin(&l, "/tmp");
    CHECK(l.c != NULL && strstr(l.c->admin->token.error, "not a regular file") != NULL);
    done(&l);
    unlink(file);
    /* no token_file: disabled, with no error of its own */
    load_admin(&l, NULL);
    CHECK(l.c != NULL && l.c->admin->token.file == NULL && l.c->admin->token.value == NULL &&
          l.c->admin->token.error == NULL);
    done(&l);
    CHECK_ONE_ERROR(MINIMAL "admin = { addr = \"127.0.0.1:9901\", token_file = 42 }\n",
                    "@FILE:2: admin.token_file: expected a file path like \"conf/admin.token\"",
                    "got 42");
    CHECK_ONE_ERROR(MINIMAL "admin = { addr = \"127.0.0.1:9901\", token_flie = \"x\" }\n",
                    "admin.token_flie: unknown key", "did you mean \"token_file\"?");

    /* purge.allow */
    load(&l, MINIMAL "purge = { allow = { \"127.0.0.1\", \"10.0.0.0/8\", \"::1\", \"fd00::/8\",\n"
                     "                    \"192.168.1.128/25\", \"0.0.0.0/0\" } }\n");
    CHECK_MSG(l.c != NULL, "%s", l.errs);
    if (l.c != NULL) {
        const struct cfg_purge *p = l.c->purge;
        CHECK(p != NULL && p->nallow == 6);
        CHECK(strcmp(p->allow[1].text, "10.0.0.0/8") == 0 && p->allow[1].bits == 8);
        CHECK(p->allow[0].family == AF_INET && p->allow[0].bits == 32);
        CHECK(p->allow[2].family == AF_INET6 && p->allow[2].bits == 128);
        static const struct {
            const char *ip;
            int in;
        } m[] = {
            {"127.0.0.1", 1},
            {"127.0.0.2", 0},
            {"10.255.1.2", 1},
            {"11.0.0.1", 0},
            {"::1", 1},
            {"::2", 0},
            {"fd12:3456::1", 1},
            {"fe80::1", 0},
            {"192.168.1.200", 1},
            {"192.168.1.127", 0},
            {"::ffff:10.1.2.3", 1},
            {"::ffff:11.1.2.3", 0},
            {"not an address", 0},
            {"", 0},
            {"10.0.0.1:80", 0},
        };
        for (size_t i = 0; i < ARRAY_SIZE(m); i++)
            CHECK_MSG(cfg_cidr_match(p->allow, 5, m[i].ip) == m[i].in, "%s", m[i].ip);
        CHECK(cfg_cidr_match(p->allow, 6, "11.0.0.1") == 1); /* 0.0.0.0/0 */
        CHECK(cfg_cidr_match(p->allow, 6, "fe80::1") == 0);
    }
    done(&l);
    static const struct {
        const char *value, *why;
    } bad_cidrs[] = {
        {"\"10.0.0.0/33\"", "the prefix length after '/' must be 0 to 32"},
        {"\"fd00::/129\"", "the prefix length after '/' must be 0 to 128"},
        {"\"10.0.0.0/\"", "the prefix length"},
        {"\"10.0.0.0/8/8\"", "the prefix length"},
        {"\"10.0.0.0/-8\"", "the prefix length"},
        {"\"300.1.1.1\"", "not a numeric IPv4 or IPv6 address"},
        {"\"localhost\"", "no DNS at load time"},
        {"\"10.0.0.1/8\"", "did you mean \"10.0.0.0/8\"?"},
        {"\"fd00::1/8\"", "did you mean \"fd00::/8\"?"},
        {"\"/8\"", "not a numeric"},
        {"10", "expected an address or network like \"10.0.0.0/8\""},
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad_cidrs); i++) {
        char text[256];
        snprintf(text, sizeof(text), MINIMAL "purge = { allow = { \"::1\", %s } }\n",
                 bad_cidrs[i].value);
        CHECK_ONE_ERROR(text, "@FILE:2: purge.allow[2]: expected an address or network",
                        bad_cidrs[i].why);
    }
    CHECK_ONE_ERROR(MINIMAL "purge = { allow = {} }\n",
                    "purge.allow: expected 1 to 256 addresses like", "got 0");
    CHECK_ONE_ERROR(MINIMAL "purge = { allow = \"127.0.0.1\" }\n",
                    "purge.allow: expected an array of addresses", NULL);
    CHECK_ONE_ERROR(MINIMAL "purge = {}\n", "purge.allow: required key is missing", NULL);
    struct cfg_cidr one;
    CHECK(cfg_parse_cidr("10.1.0.0/16", &one) == 0 && one.bits == 16 && one.family == AF_INET);
    CHECK(cfg_parse_cidr("10.1.0.1/16", &one) < 0);
    CHECK(cfg_parse_cidr(NULL, &one) < 0);
}

static void test_help(void)
{
    char *out = NULL;
    size_t len;
    FILE *f = open_memstream(&out, &len);
    cfg_help(f);
    fclose(f);
    static const char *const want[] = {
        "workers ",
        "listen[i].addr ",
        "listen[i].backlog ",
        "listen[i].tls ",
        "listen[i].tls.cert ",
        "listen[i].tls.certificates[j].key ",
        "listen[i].tls.tickets ",
        "listen[i].tls.ticket_lifetime ",
        "optional",
        "default true",
        "duration 1m..7d",
        "path of a readable file",
        "origins.NAME.servers ",
        "origins.NAME.keepalive_timeout ",
        "routes[i].path ",
        "routes[i].origin ",
        "routes[i].cache.query ",
        "routes[i].cache.query.keep ",
        "routes[i].cache.query.drop ",
        "routes[i].cache.strip_cookies ",
        "routes[i].cache.bypass ",
        "routes[i].cache.bypass.cookies ",
        "routes[i].cache.bypass.headers ",
        "routes[i].cache.bypass.query ",
        "routes[i].template                   template name, 1..256 bytes            optional",
        "routes[i].fragments                  table of 0..32 NAME = table            optional",
        "routes[i].fragments.NAME.origin      origin name                            required",
        "routes[i].fragments.NAME.path        request path, 1..1024 bytes            required",
        "routes[i].fragments.NAME.timeout     duration 1ms..1m                       default "
        "\"1s\"",
        "routes[i].fragments.NAME.required    true or false                          default false",
        "routes[i].fragments.NAME.fallback    any Lua value as JSON, up to 64KB      optional",
        "routes[i].fragments.NAME.query ",
        "routes[i].hooks                      Lua script path, 1..1024 bytes         optional",
        "routes[i].hook_errors                \"fail\" | \"ignore\"                      default "
        "\"fail\"",
        "routes[i].fragments.NAME.headers ",
        "templates                            directory path                         default "
        "\"templates\"",
        "channels                             array of 1..32 tables                  default "
        "{ { name = \"web\" } }",
        "channels[i].name                     channel name, 1..32 bytes              required",
        "channels[i].header                   { [\"Field\"] = value of 1..256 bytes }  optional",
        "channels[i].client_hint_mobile       true                                   optional",
        "channels[i].user_agent               \"A|B\": 1..16 texts of 1..64 bytes      optional",
        "channels[i].cookie                   { name = value of 1..256 bytes }       optional",
        "channels[i].query                    { name = value of 1..256 bytes }       optional",
        "array of 0..64 query parameter names",
        "array of 0..64 cookie names",
        "array of 0..64 header field names",
        "timeouts.drain ",
        "limits.header_size ",
        "limits.connections ",
        "log.access ",
        "log.level ",
        "default \"16KB\"",
        "default 511",
        "default false",
        "required",
        "duration 1ms..1h",
        "admin.token_file                     path of a file holding 1..4096 bytes   optional",
        "purge.allow                          array of 1..256 addresses or networks  required",
    };
    for (size_t i = 0; i < ARRAY_SIZE(want); i++)
        CHECK_MSG(strstr(out, want[i]) != NULL, "help lacks %s", want[i]);
    /* the documented scan limit is the one channel.c applies */
    char scan[64];
    snprintf(scan, sizeof(scan), "only the first %d bytes are searched", CHANNEL_UA_SCAN_MAX);
    CHECK_MSG(strstr(out, scan) != NULL, "help lacks %s", scan);
    free(out);
}

/* ---- cache.redis ---------------------------------------------------------------- */

static void test_redis(void)
{
    struct loaded l;
    load(&l, MINIMAL);
    CHECK_MSG(l.c != NULL, "%s", l.errs);
    if (l.c != NULL)
        CHECK(l.c->cache.redis == NULL); /* absent: no L2 */
    done(&l);

    load(&l, MINIMAL "cache = { redis = {} }\n");
    CHECK_MSG(l.c != NULL, "%s", l.errs);
    if (l.c != NULL && l.c->cache.redis != NULL) {
        const struct cfg_redis *r = l.c->cache.redis;
        CHECK(strcmp(r->server.text, "127.0.0.1:6379") == 0);
        CHECK_INT(port_of(&r->server), 6379);
        CHECK(strcmp(r->prefix, "tessera:") == 0);
        CHECK_INT(r->timeout_ms, 5);
        CHECK_INT(r->connect_timeout_ms, 100);
        CHECK_INT(r->ttl_max_ms, 86400000);
        CHECK_INT(r->breaker.failures, 5);
        CHECK_INT(r->breaker.cooldown_ms, 1000);
        CHECK_INT(l.c->cache.memory, 256u << 20);
    }
    done(&l);

    load(&l, MINIMAL "cache = { memory = \"64MB\", redis = { server = \"[::1]:6380\", "
                     "prefix = \"edge-eu:\", timeout = \"20ms\", connect_timeout = \"1s\", "
                     "ttl_max = \"2h\", breaker = { failures = 10, cooldown = \"250ms\" } } }\n");
    CHECK_MSG(l.c != NULL, "%s", l.errs);
    if (l.c != NULL && l.c->cache.redis != NULL) {
        const struct cfg_redis *r = l.c->cache.redis;
        CHECK_INT(port_of(&r->server), 6380);
        CHECK_INT(r->server.sa.ss_family, AF_INET6);
        CHECK(strcmp(r->prefix, "edge-eu:") == 0);
        CHECK_INT(r->timeout_ms, 20);
        CHECK_INT(r->connect_timeout_ms, 1000);
        CHECK_INT(r->ttl_max_ms, 7200000);
        CHECK_INT(r->breaker.failures, 10);
        CHECK_INT(r->breaker.cooldown_ms, 250);
    }
    done(&l);

    /* an empty prefix is allowed: the keys are then the bare hashes */
    load(&l, MINIMAL "cache = { redis = { prefix = \"\" } }\n");
    CHECK_MSG(l.c != NULL, "%s", l.errs);
    if (l.c != NULL && l.c->cache.redis != NULL)
        CHECK(strcmp(l.c->cache.redis->prefix, "") == 0);
    done(&l);

    CHECK_ONE_ERROR(MINIMAL "cache = { redis = { servers = { \"127.0.0.1:6379\" } } }\n",
                    "@FILE:2: cache.redis.servers: not supported yet: one Redis node for now",
                    "(a list of Redis Cluster seeds is a later issue)");
    CHECK_ONE_ERROR(MINIMAL "cache = { redis = { server = \"127.0.0.1:0\" } }\n",
                    "@FILE:2: cache.redis.server: expected the address of a Redis server like "
                    "\"127.0.0.1:6379\", got \"127.0.0.1:0\"",
                    NULL);
    CHECK_ONE_ERROR(MINIMAL "cache = { redis = { server = \"*:6379\" } }\n",
                    "cache.redis.server: expected the address of a Redis server", NULL);
    CHECK_ONE_ERROR(MINIMAL "cache = { redis = { server = \"redis.example:6379\" } }\n",
                    "cache.redis.server: expected an address like", "got \"redis.example:6379\"");
    CHECK_ONE_ERROR(MINIMAL "cache = { redis = { prefix = \"a b\" } }\n",
                    "cache.redis.prefix: expected 0 to 64 visible ASCII characters, got \"a b\"",
                    "(a space, control or non-ASCII byte)");
    CHECK_ONE_ERROR(MINIMAL "cache = { redis = { prefix = "
                            "\"01234567890123456789012345678901234567890123456789012345678901234\" "
                            "} }\n",
                    "cache.redis.prefix: expected 0 to 64 visible ASCII characters", NULL);
    CHECK_ONE_ERROR(MINIMAL "cache = { redis = { prefix = 7 } }\n",
                    "cache.redis.prefix: expected 0 to 64 visible ASCII characters, got 7", NULL);
    CHECK_ONE_ERROR(MINIMAL "cache = { redis = { timeout = \"0ms\" } }\n",
                    "cache.redis.timeout: expected a duration from \"1ms\" to \"10s\"", NULL);
    CHECK_ONE_ERROR(MINIMAL "cache = { redis = { ttl_max = \"500ms\" } }\n",
                    "cache.redis.ttl_max: expected a duration from \"1s\" to \"365d\"", NULL);
    CHECK_ONE_ERROR(MINIMAL "cache = { redis = { breaker = { failures = 0 } } }\n",
                    "@FILE:2: cache.redis.breaker.failures: expected an integer from 1 to 1000, "
                    "got 0",
                    NULL);
    CHECK_ONE_ERROR(MINIMAL "cache = { redis = { breaker = { cooldwn = \"1s\" } } }\n",
                    "cache.redis.breaker.cooldwn: unknown key (did you mean \"cooldown\"?)", NULL);
    CHECK_ONE_ERROR(MINIMAL "cache = { redis = \"127.0.0.1:6379\" }\n",
                    "cache.redis: expected a table like { server = \"127.0.0.1:6379\"", NULL);
    CHECK_ONE_ERROR(MINIMAL "cache = { redis = { sever = \"127.0.0.1:6379\" } }\n",
                    "cache.redis.sever: unknown key (did you mean \"server\"?)", NULL);

    char *out = NULL;
    size_t len;
    FILE *f = open_memstream(&out, &len);
    cfg_help(f);
    fclose(f);
    static const char *const want[] = {
        "cache.redis                          table                                  optional",
        "cache.redis.server                   address                                default "
        "\"127.0.0.1:6379\"",
        "cache.redis.prefix                   text, 0..64 bytes                      default "
        "\"tessera:\"",
        "cache.redis.timeout                  duration 1ms..10s                      default "
        "\"5ms\"",
        "cache.redis.connect_timeout ",
        "cache.redis.ttl_max ",
        "cache.redis.breaker                  table                                  default {}",
        "cache.redis.breaker.failures         integer 1..1000 (failures)             default 5",
        "cache.redis.breaker.cooldown         duration 1ms..1h                       default "
        "\"1s\"",
    };
    for (size_t i = 0; i < ARRAY_SIZE(want); i++)
        CHECK_MSG(strstr(out, want[i]) != NULL, "help lacks %s", want[i]);
    free(out);
}

/* ---- parsers ------------------------------------------------------------------ */

static void test_parse_duration(void)
{
    static const struct {
        const char *in;
        int rc;
        uint64_t ms;
    } cases[] = {
        {"250ms", 0, 250},
        {"30s", 0, 30000},
        {"5m", 0, 300000},
        {"1h", 0, 3600000},
        {"2d", 0, 172800000},
        {"0s", 0, 0},
        {"0ms", 0, 0},
        {"1h30m", 0, 5400000},
        {"1m30s", 0, 90000},
        {"1s500ms", 0, 1500},
        {"007s", 0, 7000},
        {"", -1, 0},
        {"30", -1, 0},
        {"s", -1, 0},
        {"30x", -1, 0},
        {"-1s", -1, 0},
        {"1.5s", -1, 0},
        {"30 s", -1, 0},
        {" 30s", -1, 0},
        {"30s ", -1, 0},
        {"30S", -1, 0},
        {"1s1h", -1, 0},
        {"1s1s", -1, 0},
        {"30sec", -1, 0},
        {"99999999999999999999s", -1, 0},
        {"18446744073709551615d", -1, 0},
        {"213503982335d", -1, 0},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        uint64_t ms = 12345;
        int rc = cfg_parse_duration(cases[i].in, &ms);
        CHECK_MSG(rc == cases[i].rc, "\"%s\": rc %d", cases[i].in, rc);
        if (rc == 0)
            CHECK_MSG(ms == cases[i].ms, "\"%s\": %llu", cases[i].in, (unsigned long long)ms);
    }
    uint64_t ms;
    CHECK_INT(cfg_parse_duration(NULL, &ms), -1);
}

static void test_parse_size(void)
{
    static const struct {
        const char *in;
        int rc;
        uint64_t bytes;
    } cases[] = {
        {"0", 0, 0},
        {"512", 0, 512},
        {"100B", 0, 100},
        {"16KB", 0, 16384},
        {"16kb", 0, 16384},
        {"512MB", 0, 512ull << 20},
        {"1GB", 0, 1ull << 30},
        {"2TB", 0, 2ull << 40},
        {"", -1, 0},
        {"KB", -1, 0},
        {"1.5GB", -1, 0},
        {"-1", -1, 0},
        {"16 KB", -1, 0},
        {"16XB", -1, 0},
        {"16K", -1, 0},
        {"16KiB", -1, 0},
        {"99999999999999999999", -1, 0},
        {"17179869184GB", -1, 0},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        uint64_t b = 12345;
        int rc = cfg_parse_size(cases[i].in, &b);
        CHECK_MSG(rc == cases[i].rc, "\"%s\": rc %d", cases[i].in, rc);
        if (rc == 0)
            CHECK_MSG(b == cases[i].bytes, "\"%s\": %llu", cases[i].in, (unsigned long long)b);
    }
}

static void test_parse_addr(void)
{
    static const struct {
        const char *in;
        int rc;
        int family;
        const char *ip;
        unsigned port;
    } cases[] = {
        {"127.0.0.1:8080", 0, AF_INET, "127.0.0.1", 8080},
        {"0.0.0.0:0", 0, AF_INET, "0.0.0.0", 0},
        {"*:80", 0, AF_INET, "0.0.0.0", 80},
        {"localhost:65535", 0, AF_INET, "127.0.0.1", 65535},
        {"10.1.2.3:1", 0, AF_INET, "10.1.2.3", 1},
        {"[::1]:443", 0, AF_INET6, "::1", 443},
        {"[::]:8080", 0, AF_INET6, "::", 8080},
        {"[2001:db8::7]:9000", 0, AF_INET6, "2001:db8::7", 9000},
        {"127.0.0.1", -1, 0, NULL, 0},
        {"127.0.0.1:", -1, 0, NULL, 0},
        {"127.0.0.1:65536", -1, 0, NULL, 0},
        {"127.0.0.1:-1", -1, 0, NULL, 0},
        {"127.0.0.1:80x", -1, 0, NULL, 0},
        {"127.0.0.1:000080", -1, 0, NULL, 0},
        {"host.example:80", -1, 0, NULL, 0},
        {"::1:80", -1, 0, NULL, 0},
        {"[::1]80", -1, 0, NULL, 0},
        {"[::1]", -1, 0, NULL, 0},
        {"[zz]:80", -1, 0, NULL, 0},
        {"[127.0.0.1]:80", -1, 0, NULL, 0},
        {"1.2.3:80", -1, 0, NULL, 0},
        {"256.0.0.1:80", -1, 0, NULL, 0},
        {":80", -1, 0, NULL, 0},
        {"", -1, 0, NULL, 0},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct cfg_addr a;
        int rc = cfg_parse_addr(cases[i].in, &a);
        CHECK_MSG(rc == cases[i].rc, "\"%s\": rc %d", cases[i].in, rc);
        if (rc != 0)
            continue;
        char ip[64] = "";
        const void *src = a.sa.ss_family == AF_INET6
                              ? (const void *)&((struct sockaddr_in6 *)&a.sa)->sin6_addr
                              : (const void *)&((struct sockaddr_in *)&a.sa)->sin_addr;
        inet_ntop(a.sa.ss_family, src, ip, sizeof(ip));
        CHECK_MSG(a.sa.ss_family == cases[i].family, "\"%s\": family", cases[i].in);
        CHECK_MSG(strcmp(ip, cases[i].ip) == 0, "\"%s\": ip %s", cases[i].in, ip);
        CHECK_MSG(port_of(&a) == cases[i].port, "\"%s\": port %u", cases[i].in, port_of(&a));
        CHECK_INT(a.sa_len, a.sa.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                       : sizeof(struct sockaddr_in));
        CHECK(a.text != NULL && strcmp(a.text, cases[i].in) == 0);
        free(a.text);
    }
}

int main(void)
{
    test_parse_duration();
    test_parse_size();
    test_parse_addr();
    test_full();
    test_defaults();
    test_computed();
    test_unknown_keys();
    test_bad_values();
    test_routes();
    test_listen_required();
    test_lua_errors();
    test_sandbox();
    test_all_errors();
    test_lines();
    test_demo_files();
    test_tls();
    test_cache_rules_accepted();
    test_cache_rules_rejected();
    test_channels_accepted();
    test_channels_rejected();
    test_pages_accepted();
    test_pages_no_templates_dir();
    test_fallbacks();
    test_pages_rejected();
    test_pages_limits();
    test_hooks_accepted();
    test_hooks_rejected();
    test_purge_config();
    test_help();
    test_redis();
    return check_report("test_cfg");
}
