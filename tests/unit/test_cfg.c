/* SPDX-License-Identifier: Apache-2.0
 *
 * test_cfg: the configuration loader (proxy/cfg.c). Each case writes a config to a
 * temporary file, loads it with cfg_load and checks the generation or the error
 * lines. Also table tests for the duration, size and address parsers, and the demo
 * files under conf/.
 */
#include "cfg.h"
#include "route.h"
#include "util.h"

#include "check.h"

#include <arpa/inet.h>
#include <netinet/in.h>
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
    CHECK_ONE_ERROR(buf, "@FILE:4: routes[1].origin: required key is missing",
                    "(expected the name of an origin)");
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
        CHECK_INT(c->nroutes, 2);
        CHECK_INT(c->limits.header_size, 16384);
        CHECK_INT(c->limits.uri_size, 8192);
        CHECK_INT(c->limits.body_size, 100ull << 20);
        CHECK(c->log.access != NULL && strcmp(c->log.access, "-") == 0);
        CHECK_INT(c->log.level, CFG_LOG_INFO);
    }
    cfg_unref(c);
    free(out);

    snprintf(path, sizeof(path), "%sconf/examples/bad-typo.lua", root);
    out = NULL;
    err = open_memstream(&out, &len);
    c = cfg_load(path, err);
    fclose(err);
    CHECK(c == NULL);
    char want[1200];
    snprintf(want, sizeof(want),
             "%s:34: timeouts.keepalve: unknown key (did you mean \"keepalive\"?)\n", path);
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
    test_help();
    return check_report("test_cfg");
}
