/* SPDX-License-Identifier: Apache-2.0
 *
 * cfg: loads a configuration file (see cfg.h) in three steps.
 *   1. Run: the file is a Lua chunk run in an empty sandbox (lua/sandbox.h: no
 *      library at all, not even `error`), interpreted only, under an instruction
 *      budget and a memory cap.
 *      Its globals are the configuration.
 *   2. Walk: the globals are checked against the schema of cfg_schema.h and copied
 *      into a struct cfg (every string and array is our own heap copy). The walk
 *      collects every error instead of stopping at the first one.
 *   3. Pages: when a route has a template, one template set per channel is built
 *      from the template directory (render/tpl.h), every page compiled with the
 *      components it uses; an error there is an error of routes[i].template.
 *      Hooks: each routes[i].hooks script is read and loaded into one scratch hook
 *      VM (lua/hooks.h), so a script that does not compile, fails at its top level
 *      or returns a bad table of hooks is an error of routes[i].hooks; the text
 *      read is kept in the route for the workers.
 *   4. Locate: only when there are errors, the source text is tokenized to find the
 *      line where each key path was written (a best-effort "locator": exact for
 *      declarative files, a parent's line or none when values are computed).
 * The Lua states (the file's, the hook VM's) are closed before cfg_load returns: a
 * generation holds no Lua value.
 * Ownership: the generation owns everything it points to; it is freed by the last
 * cfg_unref. Thread: cfg_load runs on any one thread; the result is read-only.
 */
#include "cfg.h"

#include "cfg_schema.h"
#include "channel.h"
#include "compose.h"
#include "render/tpl.h"
#include "route.h"
#include "util.h"
#include "lua/hooks.h"
#include "lua/sandbox.h"

#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FILE_SIZE (8u << 20) /* a config file is a few KB: larger is a mistake */
#define MAX_LUA_MEMORY ((size_t)64 << 20)
#define MAX_LUA_STEPS 10000000ull /* ~30ms of interpretation */
#define PATH_CAP 512              /* longest key path we render */
#define NO_PATH ((size_t)-1)      /* the locator is inside an unnamed table */
#define CHUNK_NAME "config"       /* Lua writes errors as "config:LINE: ..." */

/* ---- schema ------------------------------------------------------------------- */

enum key_type {
    T_WORKERS,
    T_INT,
    T_UINT,
    T_DURATION,
    T_SIZE,
    T_ADDR,
    T_ADDR_LIST,
    T_PATH,
    T_PATH_OR_OFF,
    T_INPUT_FILE,
    T_DIR,
    T_BOOL,
    T_LOG_FORMAT,
    T_LOG_LEVEL,
    T_ROUTE_PATH,
    T_ORIGIN_REF,
    T_TEMPLATE_NAME,
    T_FRAGMENT_PATH,
    T_JSON,
    T_QUERY_NAMES,
    T_COOKIE_NAMES,
    T_HEADER_NAMES,
    T_CHANNEL_NAME,
    T_HOOK_SCRIPT,
    T_HOOK_ERRORS,
    T_FLAG,
    T_UA_ALTERNATIVES,
    T_HEADER_PAIR,
    T_COOKIE_PAIR,
    T_QUERY_PAIR,
    T_TOKEN_FILE,
    T_CIDR_LIST,
    T_TEXT,
    T_SECTION,
    T_TABLE,
    T_LIST,
    T_MAP,
};

struct section;

struct key {
    const char *name;
    enum key_type type;
    size_t off;       /* of the field in the section's struct */
    size_t count_off; /* T_LIST, T_MAP, T_ADDR_LIST: of the size_t item count */
    uint64_t min, max;
    const char *def; /* as written in a config file; NULL: required */
    const char *unit;
    const char *doc;
    const struct section *sub; /* T_SECTION, T_TABLE, T_LIST, T_MAP */
};

struct section {
    const char *help_path; /* "", "listen[i]", "origins.NAME", "timeouts" */
    const struct key *keys;
    size_t nkeys;
    size_t elem_size;    /* T_LIST/T_MAP items, the T_TABLE struct */
    size_t name_off;     /* T_MAP items: of the char *name */
    const char *example; /* shown when the container itself is wrong */
    /* T_MAP only: why an item name is refused (NULL: it is fine; the text may be
     * written to buf), and an example of one item */
    const char *(*bad_name)(const char *name, char *buf, size_t cap);
    const char *item_example;
};

/* KEY(...) dispatches on the TYPE column, so only containers paste n<field> and
 * sec_<key>; BASE is the struct the current section's fields live in. */
#define KEY(key, type, field, min, max, def, unit, doc)                                            \
    KEY_##type(#key, key, field, min, max, def, unit, doc),
#define KEY_LEAF(t, name, field, min, max, def, unit, doc)                                         \
    {                                                                                              \
        name, t, offsetof(BASE, field), 0, min, max, def, unit, doc, NULL                          \
    }
#define KEY_WORKERS(name, key, ...) KEY_LEAF(T_WORKERS, name, __VA_ARGS__)
#define KEY_INT(name, key, ...) KEY_LEAF(T_INT, name, __VA_ARGS__)
#define KEY_UINT(name, key, ...) KEY_LEAF(T_UINT, name, __VA_ARGS__)
#define KEY_DURATION(name, key, ...) KEY_LEAF(T_DURATION, name, __VA_ARGS__)
#define KEY_SIZE(name, key, ...) KEY_LEAF(T_SIZE, name, __VA_ARGS__)
#define KEY_ADDR(name, key, ...) KEY_LEAF(T_ADDR, name, __VA_ARGS__)
#define KEY_PATH(name, key, ...) KEY_LEAF(T_PATH, name, __VA_ARGS__)
#define KEY_PATH_OR_OFF(name, key, ...) KEY_LEAF(T_PATH_OR_OFF, name, __VA_ARGS__)
#define KEY_INPUT_FILE(name, key, ...) KEY_LEAF(T_INPUT_FILE, name, __VA_ARGS__)
#define KEY_DIR(name, key, ...) KEY_LEAF(T_DIR, name, __VA_ARGS__)
#define KEY_BOOL(name, key, ...) KEY_LEAF(T_BOOL, name, __VA_ARGS__)
#define KEY_LOG_FORMAT(name, key, ...) KEY_LEAF(T_LOG_FORMAT, name, __VA_ARGS__)
#define KEY_LOG_LEVEL(name, key, ...) KEY_LEAF(T_LOG_LEVEL, name, __VA_ARGS__)
#define KEY_ROUTE_PATH(name, key, ...) KEY_LEAF(T_ROUTE_PATH, name, __VA_ARGS__)
#define KEY_ORIGIN_REF(name, key, ...) KEY_LEAF(T_ORIGIN_REF, name, __VA_ARGS__)
#define KEY_TEMPLATE_NAME(name, key, ...) KEY_LEAF(T_TEMPLATE_NAME, name, __VA_ARGS__)
#define KEY_FRAGMENT_PATH(name, key, ...) KEY_LEAF(T_FRAGMENT_PATH, name, __VA_ARGS__)
#define KEY_JSON(name, key, ...) KEY_LEAF(T_JSON, name, __VA_ARGS__)
#define KEY_QUERY_NAMES(name, key, ...) KEY_LEAF(T_QUERY_NAMES, name, __VA_ARGS__)
#define KEY_COOKIE_NAMES(name, key, ...) KEY_LEAF(T_COOKIE_NAMES, name, __VA_ARGS__)
#define KEY_HEADER_NAMES(name, key, ...) KEY_LEAF(T_HEADER_NAMES, name, __VA_ARGS__)
#define KEY_CHANNEL_NAME(name, key, ...) KEY_LEAF(T_CHANNEL_NAME, name, __VA_ARGS__)
#define KEY_HOOK_SCRIPT(name, key, ...) KEY_LEAF(T_HOOK_SCRIPT, name, __VA_ARGS__)
#define KEY_HOOK_ERRORS(name, key, ...) KEY_LEAF(T_HOOK_ERRORS, name, __VA_ARGS__)
#define KEY_FLAG(name, key, ...) KEY_LEAF(T_FLAG, name, __VA_ARGS__)
#define KEY_UA_ALTERNATIVES(name, key, ...) KEY_LEAF(T_UA_ALTERNATIVES, name, __VA_ARGS__)
#define KEY_HEADER_PAIR(name, key, ...) KEY_LEAF(T_HEADER_PAIR, name, __VA_ARGS__)
#define KEY_COOKIE_PAIR(name, key, ...) KEY_LEAF(T_COOKIE_PAIR, name, __VA_ARGS__)
#define KEY_QUERY_PAIR(name, key, ...) KEY_LEAF(T_QUERY_PAIR, name, __VA_ARGS__)
#define KEY_TEXT(name, key, ...) KEY_LEAF(T_TEXT, name, __VA_ARGS__)
#define KEY_TOKEN_FILE(name, key, ...) KEY_LEAF(T_TOKEN_FILE, name, __VA_ARGS__)
#define KEY_CIDR_LIST(name, key, field, min, max, def, unit, doc)                                  \
    {                                                                                              \
        name, T_CIDR_LIST, offsetof(BASE, field), offsetof(BASE, n##field), min, max, def, unit,   \
            doc, NULL                                                                              \
    }
#define KEY_ADDR_LIST(name, key, field, min, max, def, unit, doc)                                  \
    {                                                                                              \
        name, T_ADDR_LIST, offsetof(BASE, field), offsetof(BASE, n##field), min, max, def, unit,   \
            doc, NULL                                                                              \
    }
#define KEY_LIST(name, key, field, min, max, def, unit, doc)                                       \
    {                                                                                              \
        name, T_LIST, offsetof(BASE, field), offsetof(BASE, n##field), min, max, def, unit, doc,   \
            &sec_##key                                                                             \
    }
#define KEY_MAP(name, key, field, min, max, def, unit, doc)                                        \
    {                                                                                              \
        name, T_MAP, offsetof(BASE, field), offsetof(BASE, n##field), min, max, def, unit, doc,    \
            &sec_##key                                                                             \
    }
#define KEY_SECTION(name, key, field, min, max, def, unit, doc)                                    \
    {                                                                                              \
        name, T_SECTION, 0, 0, min, max, def, unit, doc, &sec_##key                                \
    }
#define KEY_TABLE(name, key, field, min, max, def, unit, doc)                                      \
    {                                                                                              \
        name, T_TABLE, offsetof(BASE, field), 0, min, max, def, unit, doc, &sec_##key              \
    }

/* Inner sections first: a key points at its sub-section. */
#define BASE struct cfg_tls_cert
static const struct key certificate_keys[] = {CFG_SCHEMA_CERTIFICATES(KEY)};
#undef BASE
static const struct section sec_certificates = {
    "listen[i].tls.certificates[j]",
    certificate_keys,
    ARRAY_SIZE(certificate_keys),
    sizeof(struct cfg_tls_cert),
    0,
    "{ { cert = \"conf/tls/shop.pem\", key = \"conf/tls/shop.key\" } }",
    NULL,
    NULL};
#define BASE struct cfg_tls
static const struct key tls_keys[] = {CFG_SCHEMA_TLS(KEY)};
#undef BASE
static const struct section sec_tls = {
    "listen[i].tls",
    tls_keys,
    ARRAY_SIZE(tls_keys),
    sizeof(struct cfg_tls),
    0,
    "{ cert = \"conf/tls/edge.pem\", key = \"conf/tls/edge.key\" }",
    NULL,
    NULL};
#define BASE struct cfg_listen
static const struct key listen_keys[] = {CFG_SCHEMA_LISTEN(KEY)};
#undef BASE
#define BASE struct cfg_origin
static const struct key origin_keys[] = {CFG_SCHEMA_ORIGINS(KEY)};
#undef BASE
#define BASE struct cfg_route_cache
static const struct key route_cache_query_keys[] = {CFG_SCHEMA_ROUTE_CACHE_QUERY(KEY)};
static const struct key route_cache_bypass_keys[] = {CFG_SCHEMA_ROUTE_CACHE_BYPASS(KEY)};
#undef BASE
static const struct section sec_route_cache_query = {
    "routes[i].cache.query",
    route_cache_query_keys,
    ARRAY_SIZE(route_cache_query_keys),
    0,
    0,
    "{ keep = { \"id\", \"page\" }, drop = { \"utm_*\", \"fbclid\" } }",
    NULL,
    NULL};
static const struct section sec_route_cache_bypass = {
    "routes[i].cache.bypass",
    route_cache_bypass_keys,
    ARRAY_SIZE(route_cache_bypass_keys),
    0,
    0,
    "{ cookies = { \"session\" }, headers = { \"x-preview\" }, query = { \"nocache\" } }",
    NULL,
    NULL};
/* KEY_SECTION names sec_<key>: these two keys exist only in routes[i].cache. */
#define sec_query sec_route_cache_query
#define sec_bypass sec_route_cache_bypass
#define BASE struct cfg_route_cache
static const struct key route_cache_keys[] = {CFG_SCHEMA_ROUTE_CACHE(KEY)};
#undef BASE
#undef sec_query
#undef sec_bypass
static const struct section sec_route_cache = {"routes[i].cache",
                                               route_cache_keys,
                                               ARRAY_SIZE(route_cache_keys),
                                               sizeof(struct cfg_route_cache),
                                               0,
                                               "{ ttl = \"60s\" }",
                                               NULL,
                                               NULL};
static const char *bad_fragment_name(const char *name, char *buf, size_t cap);
#define BASE struct cfg_fragment
static const struct key fragment_keys[] = {CFG_SCHEMA_FRAGMENTS(KEY)};
#undef BASE
static const struct section sec_fragments = {
    "routes[i].fragments.NAME",
    fragment_keys,
    ARRAY_SIZE(fragment_keys),
    sizeof(struct cfg_fragment),
    offsetof(struct cfg_fragment, name),
    "{ product = { origin = \"api\", path = \"/api/product/:id\" } }",
    bad_fragment_name,
    "{ origin = \"api\", path = \"/api/product/:id\" }"};
/* Two keys are named "cache" (top level and routes[i]): this one means the route's. */
#define sec_cache sec_route_cache
#define BASE struct cfg_route
static const struct key route_keys[] = {CFG_SCHEMA_ROUTES(KEY)};
#undef sec_cache
#undef BASE
#define BASE struct cfg_redis
static const struct key redis_breaker_keys[] = {CFG_SCHEMA_REDIS_BREAKER(KEY)};
#undef BASE
static const struct section sec_redis_breaker = {"cache.redis.breaker",
                                                 redis_breaker_keys,
                                                 ARRAY_SIZE(redis_breaker_keys),
                                                 0,
                                                 0,
                                                 "{ failures = 5, cooldown = \"1s\" }",
                                                 NULL,
                                                 NULL};
#define sec_breaker sec_redis_breaker
#define BASE struct cfg_redis
static const struct key redis_keys[] = {CFG_SCHEMA_REDIS(KEY)};
#undef BASE
#undef sec_breaker
static const struct section sec_redis = {"cache.redis",
                                         redis_keys,
                                         ARRAY_SIZE(redis_keys),
                                         sizeof(struct cfg_redis),
                                         0,
                                         "{ server = \"127.0.0.1:6379\", timeout = \"5ms\" }",
                                         NULL,
                                         NULL};
#define BASE struct cfg
static const struct key timeout_keys[] = {CFG_SCHEMA_TIMEOUTS(KEY)};
static const struct key limit_keys[] = {CFG_SCHEMA_LIMITS(KEY)};
static const struct key log_keys[] = {CFG_SCHEMA_LOG(KEY)};
static const struct key http2_keys[] = {CFG_SCHEMA_HTTP2(KEY)};
static const struct key cache_keys[] = {CFG_SCHEMA_CACHE(KEY)};
#undef BASE
#define BASE struct cfg_admin
static const struct key admin_keys[] = {CFG_SCHEMA_ADMIN(KEY)};
#undef BASE
#define BASE struct cfg_purge
static const struct key purge_keys[] = {CFG_SCHEMA_PURGE(KEY)};
#undef BASE
#define BASE struct cfg_channel
static const struct key channel_keys[] = {CFG_SCHEMA_CHANNELS(KEY)};
#undef BASE
#define BASE struct cfg
#undef BASE

static const struct section sec_listen = {"listen[i]",
                                          listen_keys,
                                          ARRAY_SIZE(listen_keys),
                                          sizeof(struct cfg_listen),
                                          0,
                                          "{ { addr = \"0.0.0.0:8080\" } }",
                                          NULL,
                                          NULL};
static const char *bad_origin_name(const char *name, char *buf, size_t cap);
static const struct section sec_origins = {"origins.NAME",
                                           origin_keys,
                                           ARRAY_SIZE(origin_keys),
                                           sizeof(struct cfg_origin),
                                           offsetof(struct cfg_origin, name),
                                           "{ api = { servers = { \"127.0.0.1:9000\" } } }",
                                           bad_origin_name,
                                           "{ servers = { \"127.0.0.1:9000\" } }"};
static const struct section sec_routes = {"routes[i]",
                                          route_keys,
                                          ARRAY_SIZE(route_keys),
                                          sizeof(struct cfg_route),
                                          0,
                                          "{ { path = \"/*\", origin = \"api\" } }",
                                          NULL,
                                          NULL};
static const struct section sec_timeouts = {
    "timeouts", timeout_keys, ARRAY_SIZE(timeout_keys), 0, 0, "{ header = \"10s\" }", NULL, NULL};
static const struct section sec_limits = {
    "limits", limit_keys, ARRAY_SIZE(limit_keys), 0, 0, "{ header_size = \"16KB\" }", NULL, NULL};
static const struct section sec_admin = {"admin",
                                         admin_keys,
                                         ARRAY_SIZE(admin_keys),
                                         sizeof(struct cfg_admin),
                                         0,
                                         "{ addr = \"127.0.0.1:9901\" }",
                                         NULL,
                                         NULL};
static const struct section sec_purge = {"purge",
                                         purge_keys,
                                         ARRAY_SIZE(purge_keys),
                                         sizeof(struct cfg_purge),
                                         0,
                                         "{ allow = { \"127.0.0.1\", \"10.0.0.0/8\" } }",
                                         NULL,
                                         NULL};
static const struct section sec_cache = {
    "cache", cache_keys, ARRAY_SIZE(cache_keys), 0, 0, "{ memory = \"256MB\" }", NULL, NULL};
static const struct section sec_http2 = {"http2", http2_keys, ARRAY_SIZE(http2_keys),
                                         0,       0,          "{ max_concurrent_streams = 100 }",
                                         NULL,    NULL};
static const struct section sec_log = {
    "log", log_keys, ARRAY_SIZE(log_keys), 0, 0, "{ access = \"-\" }", NULL, NULL};
static const struct section sec_channels = {"channels[i]",
                                            channel_keys,
                                            ARRAY_SIZE(channel_keys),
                                            sizeof(struct cfg_channel),
                                            0,
                                            "{ { name = \"web\" } }",
                                            NULL,
                                            NULL};

#define BASE struct cfg
static const struct key top_keys[] = {CFG_SCHEMA_TOP(KEY)};
#undef BASE
static const struct section sec_top = {"", top_keys, ARRAY_SIZE(top_keys), 0, 0, NULL, NULL, NULL};

static const char *const log_formats[] = {"combined", "json"}; /* enum cfg_log_format */
static const char *const log_levels[] = {"error", "warn", "info", "debug"}; /* cfg_log_level */
static const char *const hook_errors[] = {"fail", "ignore"}; /* cfg_route.hook_errors_ignore */

/* ---- parsers ------------------------------------------------------------------ */

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* Reads a run of decimal digits; fails on none or on overflow. */
static int parse_digits(const char **sp, uint64_t *out)
{
    const char *s = *sp;
    uint64_t v = 0;
    if (!is_digit(*s))
        return -1;
    for (; is_digit(*s); s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *sp = s;
    *out = v;
    return 0;
}

int cfg_parse_duration(const char *s, uint64_t *ms)
{
    static const struct {
        const char *unit;
        uint64_t ms;
    } units[] = {
        {"d", CFG__MS_D}, {"h", CFG__MS_H}, {"ms", 1}, {"m", 60 * CFG__MS_S}, {"s", CFG__MS_S}};
    /* rank: d=4 h=3 m=2 s=1 ms=0; components must strictly decrease ("1h30m"). */
    static const int rank[] = {4, 3, 0, 2, 1};
    if (s == NULL || *s == '\0')
        return -1;
    uint64_t total = 0;
    int last = 5;
    while (*s != '\0') {
        uint64_t v;
        if (parse_digits(&s, &v) < 0)
            return -1;
        size_t u;
        for (u = 0; u < ARRAY_SIZE(units); u++) {
            size_t n = strlen(units[u].unit);
            /* "m" must not swallow the m of "ms", hence "ms" is tried before "m" */
            if (strncmp(s, units[u].unit, n) == 0)
                break;
        }
        if (u == ARRAY_SIZE(units) || rank[u] >= last)
            return -1;
        last = rank[u];
        s += strlen(units[u].unit);
        if (v > (UINT64_MAX - total) / units[u].ms)
            return -1;
        total += v * units[u].ms;
    }
    *ms = total;
    return 0;
}

int cfg_parse_size(const char *s, uint64_t *bytes)
{
    static const struct {
        const char *unit;
        uint64_t mult;
    } units[] = {{"", 1},        {"B", 1}, {"KB", CFG__KB}, {"MB", CFG__MB}, {"GB", CFG__MB * 1024},
                 {"TB", CFG__TB}};
    uint64_t v;
    if (s == NULL || parse_digits(&s, &v) < 0)
        return -1;
    for (size_t u = 0; u < ARRAY_SIZE(units); u++) {
        if (strcasecmp(s, units[u].unit) != 0)
            continue;
        if (v > UINT64_MAX / units[u].mult)
            return -1;
        *bytes = v * units[u].mult;
        return 0;
    }
    return -1;
}

/* cfg_parse_addr with the reason for a failure. On success out->text is a heap copy
 * of s (the caller frees it). */
static int parse_addr(const char *s, struct cfg_addr *out, const char **why)
{
    char host[64];
    const char *port;
    memset(out, 0, sizeof(*out));
    *why = NULL;
    if (s == NULL)
        return -1;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || (size_t)(close - s - 1) >= sizeof(host)) {
            *why = "bad IPv6 address";
            return -1;
        }
        memcpy(host, s + 1, (size_t)(close - s - 1));
        host[close - s - 1] = '\0';
        if (close[1] != ':') {
            *why = "missing \":port\"";
            return -1;
        }
        port = close + 2;
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->sa;
        if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
            *why = "bad IPv6 address";
            return -1;
        }
        sin6->sin6_family = AF_INET6;
        out->sa_len = sizeof(*sin6);
    } else {
        const char *colon = strrchr(s, ':');
        if (colon == NULL) {
            *why = "missing \":port\"";
            return -1;
        }
        if (memchr(s, ':', (size_t)(colon - s)) != NULL) {
            *why = "IPv6 addresses need brackets, as in \"[::1]:8080\"";
            return -1;
        }
        size_t hlen = (size_t)(colon - s);
        if (hlen == 0 || hlen >= sizeof(host)) {
            *why = "missing host: use \"*\" for all addresses";
            return -1;
        }
        memcpy(host, s, hlen);
        host[hlen] = '\0';
        port = colon + 1;
        struct sockaddr_in *sin = (struct sockaddr_in *)&out->sa;
        const char *ip = host;
        if (strcmp(host, "*") == 0)
            ip = "0.0.0.0";
        else if (strcmp(host, "localhost") == 0)
            ip = "127.0.0.1";
        if (inet_pton(AF_INET, ip, &sin->sin_addr) != 1) {
            *why = "the host must be a numeric IP address, \"localhost\" or \"*\": "
                   "no DNS at load time";
            return -1;
        }
        sin->sin_family = AF_INET;
        out->sa_len = sizeof(*sin);
    }
    uint64_t p;
    const char *e = port;
    if (parse_digits(&e, &p) < 0 || *e != '\0' || p > 65535 || e - port > 5) {
        *why = "the port must be a number from 0 to 65535";
        memset(out, 0, sizeof(*out));
        return -1;
    }
    if (out->sa.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&out->sa)->sin6_port = htons((uint16_t)p);
    else
        ((struct sockaddr_in *)&out->sa)->sin_port = htons((uint16_t)p);
    out->text = xstrdup(s);
    return 0;
}

int cfg_parse_addr(const char *s, struct cfg_addr *out)
{
    const char *why;
    return parse_addr(s, out, &why);
}

/* cfg_parse_cidr with the reason for a failure (why may be written to buf). */
static int parse_cidr(const char *s, struct cfg_cidr *out, const char **why, char *buf, size_t cap)
{
    char ip[INET6_ADDRSTRLEN];
    unsigned max;
    memset(out, 0, sizeof(*out));
    *why = NULL;
    const char *slash = strchr(s, '/');
    size_t n = slash != NULL ? (size_t)(slash - s) : strlen(s);
    if (n == 0 || n >= sizeof(ip)) {
        *why = "not a numeric IPv4 or IPv6 address";
        return -1;
    }
    memcpy(ip, s, n);
    ip[n] = '\0';
    if (inet_pton(AF_INET, ip, out->addr) == 1) {
        out->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, ip, out->addr) == 1) {
        out->family = AF_INET6;
        max = 128;
    } else {
        *why = "not a numeric IPv4 or IPv6 address: no DNS at load time";
        return -1;
    }
    out->bits = max;
    if (slash != NULL) {
        uint64_t b;
        const char *e = slash + 1;
        if (parse_digits(&e, &b) < 0 || *e != '\0' || b > max || e - slash - 1 > 3) {
            *why = max == 32 ? "the prefix length after '/' must be 0 to 32"
                             : "the prefix length after '/' must be 0 to 128";
            return -1;
        }
        out->bits = (unsigned)b;
    }
    int stray = 0;
    for (unsigned i = out->bits; i < max; i++) {
        stray |= out->addr[i / 8] & (0x80u >> (i % 8));
        out->addr[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
    }
    if (stray) {
        /* As nginx warns "low address bits are meaningless": a typo, most likely. */
        char net[INET6_ADDRSTRLEN];
        inet_ntop(out->family, out->addr, net, sizeof(net));
        snprintf(buf, cap, "bits are set past the prefix length: did you mean \"%s/%u\"?", net,
                 out->bits);
        *why = buf;
        return -1;
    }
    return 0;
}

int cfg_parse_cidr(const char *s, struct cfg_cidr *out)
{
    const char *why;
    char buf[128];
    return s != NULL ? parse_cidr(s, out, &why, buf, sizeof(buf)) : -1;
}

static bool cidr_has(const struct cfg_cidr *c, int family, const uint8_t *a)
{
    if (c->family != family)
        return false;
    unsigned full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(c->addr, a, full) != 0)
        return false;
    return rest == 0 || ((c->addr[full] ^ a[full]) & (uint8_t)(0xffu << (8 - rest))) == 0;
}

int cfg_cidr_match(const struct cfg_cidr *list, size_t n, const char *ip)
{
    uint8_t a[16];
    int family;
    if (inet_pton(AF_INET, ip, a) == 1)
        family = AF_INET;
    else if (inet_pton(AF_INET6, ip, a) == 1)
        family = AF_INET6;
    else
        return 0;
    /* An IPv4 client on an IPv6 socket is ::ffff:a.b.c.d (RFC 4291 2.5.5.2): the
     * IPv4 entries apply to it too. */
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    int v4mapped = family == AF_INET6 && memcmp(a, mapped, sizeof(mapped)) == 0;
    for (size_t i = 0; i < n; i++)
        if (cidr_has(&list[i], family, a) || (v4mapped && cidr_has(&list[i], AF_INET, a + 12)))
            return 1;
    return 0;
}

static uint16_t addr_port(const struct cfg_addr *a)
{
    if (a->sa.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&a->sa)->sin6_port);
    return ntohs(((const struct sockaddr_in *)&a->sa)->sin_port);
}

static bool addr_is_wildcard(const struct cfg_addr *a)
{
    if (a->sa.ss_family == AF_INET6)
        return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&a->sa)->sin6_addr);
    return ((const struct sockaddr_in *)&a->sa)->sin_addr.s_addr == htonl(INADDR_ANY);
}

/* ---- small text helpers ------------------------------------------------------- */

/* Levenshtein distance, capped: strings longer than 64 bytes count as far apart. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t row[65];
    if (la > 64 || lb > 64)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The closest of `names` within distance 2 of `s`, or NULL. */
static const char *suggest(const char *s, const char *const *names, size_t n)
{
    const char *best = NULL;
    size_t bestd = 3;
    for (size_t i = 0; i < n; i++) {
        size_t d = edit_distance(s, names[i]);
        if (d < bestd && d < strlen(names[i])) {
            bestd = d;
            best = names[i];
        }
    }
    return best;
}

/* Writes s[0..n) quoted for a one-line message: escapes, and cut at 60 bytes. */
static void quote(char *buf, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    assert(cap >= 16);
    buf[o++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (o + 8 >= cap || i == 60) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (ch == '"' || ch == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)ch;
        } else if (ch < 0x20 || ch == 0x7f) {
            o += (size_t)snprintf(buf + o, cap - o, "\\%u", ch);
        } else {
            buf[o++] = (char)ch;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
}

static bool is_ident(const char *s, size_t n)
{
    if (n == 0 || is_digit(s[0]))
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!(is_digit(ch) || ch == '_' || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')))
            return false;
    }
    return true;
}

/* Key paths, shared by the walk and the locator so that both spell a path the same
 * way: `name`, `.name`, `[3]` or `["odd key"]`. They return the new length; a path
 * that would not fit is cut, which only costs its line number. */
static size_t path_add_key(char *buf, size_t len, const char *k, size_t klen)
{
    char tmp[PATH_CAP];
    int n;
    if (is_ident(k, klen)) {
        n = snprintf(buf + len, PATH_CAP - len, "%s%.*s", len ? "." : "", (int)klen, k);
    } else {
        quote(tmp, sizeof(tmp), k, klen);
        n = snprintf(buf + len, PATH_CAP - len, "[%s]", tmp);
    }
    if (n < 0 || (size_t)n >= PATH_CAP - len) {
        buf[len] = '\0';
        return len;
    }
    return len + (size_t)n;
}

static size_t path_add_index(char *buf, size_t len, size_t i)
{
    int n = snprintf(buf + len, PATH_CAP - len, "[%zu]", i);
    if (n < 0 || (size_t)n >= PATH_CAP - len) {
        buf[len] = '\0';
        return len;
    }
    return len + (size_t)n;
}

/* Length of the parent of a path ("routes[2].cache" for "routes[2].cache.ttl"); 0 for
 * a top-level key. */
static size_t path_parent(const char *p, size_t len)
{
    size_t i = 0, last = 0;
    while (i < len) {
        if (p[i] == '.') {
            last = i++;
        } else if (p[i] == '[') {
            last = i++;
            if (i < len && p[i] == '"') {
                for (i++; i < len && p[i] != '"'; i++)
                    if (p[i] == '\\')
                        i++;
            }
            while (i < len && p[i] != ']')
                i++;
            i++;
        } else {
            i++;
        }
    }
    return last;
}

/* ---- errors ------------------------------------------------------------------- */

struct cfg_error {
    char *path; /* key path, or NULL for a Lua error */
    char *msg;
    unsigned line; /* 0: unknown */
    size_t seq;    /* keeps the sort stable */
};

struct loader {
    const char *file;
    const char *src;
    size_t srclen;
    lua_State *L;
    struct cfg *c;
    char path[PATH_CAP];
    size_t plen;
    bool origins_ok; /* origin names are known: routes may be checked against them */
    struct cfg_error *errs;
    size_t nerrs, caperrs;
};

static void add_error(struct loader *ld, const char *path, unsigned line, const char *fmt,
                      va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (ld->nerrs == ld->caperrs) {
        ld->caperrs = ld->caperrs ? 2 * ld->caperrs : 16;
        ld->errs = xrealloc(ld->errs, ld->caperrs * sizeof(*ld->errs));
    }
    struct cfg_error *e = &ld->errs[ld->nerrs];
    e->path = path ? xstrdup(path) : NULL;
    e->msg = xstrdup(msg);
    e->line = line;
    e->seq = ld->nerrs++;
}

/* An error about the key at the current path. */
__attribute__((format(printf, 2, 3))) static void fail(struct loader *ld, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_error(ld, ld->path, 0, fmt, ap);
    va_end(ap);
}

/* An error not tied to a key (file, Lua): line may be 0. */
__attribute__((format(printf, 3, 4))) static void fail_file(struct loader *ld, unsigned line,
                                                            const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_error(ld, NULL, line, fmt, ap);
    va_end(ap);
}

/* ---- Lua values --------------------------------------------------------------- */

/* The string at idx, or NULL when it is not a string or holds a NUL byte (which C
 * would silently cut). Never converts numbers: that would upset lua_next. */
static const char *get_str(lua_State *L, int idx)
{
    size_t n;
    if (lua_type(L, idx) != LUA_TSTRING)
        return NULL;
    const char *s = lua_tolstring(L, idx, &n);
    return strlen(s) == n ? s : NULL;
}

/* An integral number at idx within [min, max]. */
static bool get_uint(lua_State *L, int idx, uint64_t min, uint64_t max, uint64_t *out)
{
    if (lua_type(L, idx) != LUA_TNUMBER)
        return false;
    double d = lua_tonumber(L, idx);
    if (!(d >= (double)min && d <= (double)max && d < 18446744073709551616.0))
        return false;
    uint64_t v = (uint64_t)d;
    if ((double)v != d)
        return false;
    *out = v;
    return true;
}

/* "got ..." text for the value at idx. */
static void describe(lua_State *L, int idx, char *buf, size_t cap)
{
    size_t n;
    switch (lua_type(L, idx)) {
    case LUA_TNIL: snprintf(buf, cap, "nothing"); break;
    case LUA_TBOOLEAN: snprintf(buf, cap, "%s", lua_toboolean(L, idx) ? "true" : "false"); break;
    case LUA_TNUMBER: {
        double d = lua_tonumber(L, idx);
        if (d > -1e15 && d < 1e15 && d == (double)(long long)d) /* range first: no UB */
            snprintf(buf, cap, "%lld", (long long)d);
        else
            snprintf(buf, cap, "%.14g", d);
        break;
    }
    case LUA_TSTRING: {
        const char *s = lua_tolstring(L, idx, &n);
        quote(buf, cap, s, n);
        break;
    }
    case LUA_TTABLE: snprintf(buf, cap, "a table"); break;
    default: snprintf(buf, cap, "a %s", lua_typename(L, lua_type(L, idx))); break;
    }
}

/* `expected <what>, got <value at idx> (<why>)` against the current path; why may
 * be NULL. */
__attribute__((format(printf, 4, 5))) static void expected(struct loader *ld, int idx,
                                                           const char *why, const char *fmt, ...)
{
    char what[512], got[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    describe(ld->L, idx, got, sizeof(got));
    if (why != NULL)
        fail(ld, "expected %s, got %s (%s)", what, got, why);
    else
        fail(ld, "expected %s, got %s", what, got);
}

/* Writes a duration or size bound compactly: 3600000 ms is "1h", 1048576 B "1MB". */
static void fmt_duration(char *buf, size_t cap, uint64_t ms)
{
    static const struct {
        const char *unit;
        uint64_t ms;
    } units[] = {{"d", CFG__MS_D}, {"h", CFG__MS_H}, {"m", 60000}, {"s", 1000}};
    for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
        if (ms != 0 && ms % units[i].ms == 0) {
            snprintf(buf, cap, "%llu%s", (unsigned long long)(ms / units[i].ms), units[i].unit);
            return;
        }
    }
    snprintf(buf, cap, "%llums", (unsigned long long)ms);
}

static void fmt_size(char *buf, size_t cap, uint64_t b)
{
    static const char *const units[] = {"TB", "GB", "MB", "KB"};
    for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
        uint64_t m = CFG__TB >> (10 * i);
        if (b != 0 && b % m == 0) {
            snprintf(buf, cap, "%llu%s", (unsigned long long)(b / m), units[i]);
            return;
        }
    }
    snprintf(buf, cap, "%lluB", (unsigned long long)b);
}

static unsigned online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1u : n > 256 ? 256u : (unsigned)n;
}

/* ---- the walk ----------------------------------------------------------------- */

static void load_table(struct loader *ld, const struct section *sec, char *base, int idx);

static size_t push_key(struct loader *ld, const char *k, size_t klen)
{
    size_t old = ld->plen;
    ld->plen = path_add_key(ld->path, ld->plen, k, klen);
    return old;
}

static size_t push_index(struct loader *ld, size_t i)
{
    size_t old = ld->plen;
    ld->plen = path_add_index(ld->path, ld->plen, i);
    return old;
}

static void pop_path(struct loader *ld, size_t old)
{
    ld->plen = old;
    ld->path[old] = '\0';
}

/* Checks that the table at idx is a plain array, reporting keys that are not 1..n.
 * Returns n. */
static size_t array_len(struct loader *ld, int idx)
{
    lua_State *L = ld->L;
    size_t n = lua_objlen(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        uint64_t i;
        if (lua_type(L, -2) == LUA_TSTRING) {
            size_t klen;
            const char *k = lua_tolstring(L, -2, &klen);
            size_t old = push_key(ld, k, klen);
            fail(ld, "unexpected key in an array (expected a list like { a, b })");
            pop_path(ld, old);
        } else if (!get_uint(L, -2, 1, n, &i)) {
            char got[128];
            describe(L, -2, got, sizeof(got));
            fail(ld, "array index %s is out of sequence (expected a list like { a, b })", got);
        }
        lua_pop(L, 1);
    }
    return n;
}

static void load_enum(struct loader *ld, int idx, int *out, const char *const *names, size_t n)
{
    const char *s = get_str(ld->L, idx);
    char list[256];
    size_t o = 0;
    for (size_t i = 0; s != NULL && i < n; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (int)i;
            return;
        }
    }
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(list + o, sizeof(list) - o, "%s\"%s\"", i ? ", " : "", names[i]);
    const char *hint = s ? suggest(s, names, n) : NULL;
    char why[96];
    if (hint != NULL)
        snprintf(why, sizeof(why), "did you mean \"%s\"?", hint);
    expected(ld, idx, hint ? why : NULL, "one of %s", list);
}

static void load_addr(struct loader *ld, int idx, struct cfg_addr *a, bool listen)
{
    const char *why = NULL;
    const char *s = get_str(ld->L, idx);
    const char *example =
        listen ? "\"127.0.0.1:8080\" or \"[::1]:8080\"" : "\"127.0.0.1:9000\" or \"[::1]:9000\"";
    if (s == NULL || parse_addr(s, a, &why) < 0) {
        expected(ld, idx, why, "an address like %s", example);
        return;
    }
    if (!listen && (addr_port(a) == 0 || addr_is_wildcard(a))) {
        expected(ld, idx,
                 addr_port(a) == 0 ? "port 0 is only allowed in listen"
                                   : "the wildcard address is only allowed in listen",
                 "an address like %s", example);
        free(a->text);
        memset(a, 0, sizeof(*a));
    }
}

static void load_origin_ref(struct loader *ld, int idx, const struct cfg_origin **out)
{
    const struct cfg *c = ld->c;
    const char *s = get_str(ld->L, idx);
    if (s == NULL) {
        expected(ld, idx, NULL, "the name of an origin");
        return;
    }
    *out = cfg_origin_find(c, s);
    if (*out != NULL || !ld->origins_ok)
        return; /* when origins itself is broken that error is enough */
    const char *best = NULL;
    size_t bestd = 3;
    for (size_t i = 0; i < c->norigins; i++) {
        size_t d = edit_distance(s, c->origins[i].name);
        if (d < bestd && d < strlen(c->origins[i].name)) {
            bestd = d;
            best = c->origins[i].name;
        }
    }
    char q[128];
    quote(q, sizeof(q), s, strlen(s));
    if (best != NULL)
        fail(ld, "no origin named %s (did you mean \"%s\"?)", q, best);
    else if (c->norigins == 0)
        fail(ld, "no origin named %s (origins is empty)", q);
    else
        fail(ld, "no origin named %s", q);
}

static void load_list(struct loader *ld, const struct key *k, char *base, int idx)
{
    lua_State *L = ld->L;
    const struct section *sub = k->sub;
    if (lua_type(L, idx) != LUA_TTABLE) {
        expected(ld, idx, NULL, "an array of tables like %s", sub->example);
        return;
    }
    size_t n = array_len(ld, idx);
    if (n < k->min) {
        expected(ld, idx, NULL, "at least %llu item%s like %s", (unsigned long long)k->min,
                 k->min == 1 ? "" : "s", sub->example);
        return;
    }
    if (n > k->max) {
        fail(ld, "expected at most %llu items, got %zu", (unsigned long long)k->max, n);
        return;
    }
    /* Linked into the generation before it is filled, so a failure anywhere below
     * leaves nothing unreachable. */
    char *items = n ? xcalloc(n, sub->elem_size) : NULL;
    *(void **)(base + k->off) = items;
    *(size_t *)(base + k->count_off) = n;
    for (size_t i = 0; i < n; i++) {
        size_t old = push_index(ld, i + 1);
        lua_rawgeti(L, idx, (int)(i + 1));
        if (lua_type(L, -1) == LUA_TTABLE)
            load_table(ld, sub, items + i * sub->elem_size, lua_gettop(L));
        else
            expected(ld, -1, NULL, "a table like %.*s", (int)strlen(sub->example) - 4,
                     sub->example + 2);
        lua_pop(L, 1);
        pop_path(ld, old);
    }
}

/* The name lists of routes[i].cache. What one item may hold depends on where the
 * name is matched at run time (proxy/rcache.c), so each kind has its own rules. */
static const struct name_kind {
    const char *what;    /* one item, after "expected " */
    const char *example; /* the whole list */
    const char *plural;  /* for the count error */
    bool token;          /* RFC 9110 5.6.2 token characters only */
    bool wildcard;       /* a final '*' is a prefix wildcard */
    bool lower;          /* stored lower-cased */
    const char *no_star; /* why a '*' is refused, when it is no wildcard */
} name_kinds[] = {
    [T_QUERY_NAMES - T_QUERY_NAMES] = {"a query parameter name like \"page\" or \"utm_*\"",
                                       "{ \"utm_*\", \"fbclid\" }", "query parameter names", false,
                                       true, false, NULL},
    [T_COOKIE_NAMES - T_QUERY_NAMES] = {"a cookie name like \"session\" or \"_ga*\"",
                                        "{ \"session\", \"_ga*\" }", "cookie names", true, true,
                                        false, NULL},
    [T_HEADER_NAMES - T_QUERY_NAMES] = {"a header field name like \"x-preview\"",
                                        "{ \"x-preview\" }", "header field names", true, false,
                                        true, "header field names take no wildcard"},
};

static const struct name_kind *name_kind_of(enum key_type t)
{
    assert(t >= T_QUERY_NAMES && t <= T_HEADER_NAMES);
    return &name_kinds[t - T_QUERY_NAMES];
}

/* tchar of RFC 9110 5.6.2; a cookie-name (RFC 6265 4.1.1) is such a token too. */
static bool is_tchar(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || is_digit((char)ch) ||
           (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* Why s[0..len) is not a valid name of kind nk, or NULL when it is; the text may be
 * written to buf. A query name is written decoded, so a '%' in it would be
 * ambiguous; and in a request's normal form (cache/key.c) a name never holds a raw
 * '&', '=' or '#' (separators, or kept encoded), white space or a control byte
 * (always encoded). Such an entry could never match: it is refused here rather
 * than silently ignored. */
static const char *bad_name(const struct name_kind *nk, const char *s, size_t len, char *buf,
                            size_t cap)
{
    if (len > CFG_NAME_MAX) {
        snprintf(buf, cap, "%zu bytes, more than %d", len, CFG_NAME_MAX);
        return buf;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '*') {
            if (!nk->wildcard)
                return nk->no_star;
            if (i + 1 < len)
                return "'*' is only allowed at the end, as a prefix wildcard like \"utm_*\"";
        } else if (nk->token) {
            if (is_tchar(ch))
                continue;
            if (ch > 0x20 && ch < 0x7f)
                snprintf(buf, cap, "'%c' is not a token character, RFC 9110 5.6.2", ch);
            else
                snprintf(buf, cap, "byte 0x%02x is not a token character, RFC 9110 5.6.2", ch);
            return buf;
        } else if (ch <= 0x20 || ch == 0x7f) {
            return "white space and control characters are not allowed";
        } else if (ch == '%') {
            return "'%' is not allowed: names are compared percent-decoded, write the decoded "
                   "name";
        } else if (ch == '&' || ch == '=' || ch == '#') {
            snprintf(buf, cap, "'%c' is not allowed: it %s", ch,
                     ch == '&'   ? "separates parameters"
                     : ch == '=' ? "separates a name from its value"
                                 : "starts the fragment");
            return buf;
        }
    }
    return NULL;
}

/* QUERY_NAMES, COOKIE_NAMES, HEADER_NAMES: an array of names into a cfg_strlist. */
static void load_names(struct loader *ld, const struct key *k, struct cfg_strlist *out, int idx)
{
    lua_State *L = ld->L;
    const struct name_kind *nk = name_kind_of(k->type);
    if (lua_type(L, idx) != LUA_TTABLE) {
        expected(ld, idx, NULL, "an array of %s like %s", nk->plural, nk->example);
        return;
    }
    size_t n = array_len(ld, idx);
    if (n < k->min || n > k->max) {
        if (k->min == 0)
            fail(ld, "expected at most %llu %s, got %zu", (unsigned long long)k->max, nk->plural,
                 n);
        else
            fail(ld, "expected %llu to %llu %s, got %zu", (unsigned long long)k->min,
                 (unsigned long long)k->max, nk->plural, n);
        return;
    }
    /* Never NULL once the key is present, even for {}: cfg.h's contract. Linked
     * before it is filled; an item that fails stays NULL (and the load fails). */
    out->items = xcalloc(n ? n : 1, sizeof(*out->items));
    out->n = n;
    for (size_t i = 0; i < n; i++) {
        size_t old = push_index(ld, i + 1);
        lua_rawgeti(L, idx, (int)(i + 1));
        size_t len = 0;
        const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
        char buf[128];
        const char *why = s != NULL ? bad_name(nk, s, len, buf, sizeof(buf)) : NULL;
        if (s == NULL || len == 0 || why != NULL) {
            expected(ld, -1, why, "%s", nk->what);
        } else {
            char *copy = xstrndup(s, len);
            for (char *p = copy; nk->lower && *p; p++)
                if (*p >= 'A' && *p <= 'Z')
                    *p = (char)(*p - 'A' + 'a');
            out->items[i] = copy;
        }
        lua_pop(L, 1);
        pop_path(ld, old);
    }
}

/* ---- channels ----------------------------------------------------------------- */

/* Why a header condition's value could never equal a field value as the request
 * parsers hand it over (RFC 9110 5.5: no control byte but HTAB, no white space at
 * either end, which they trim), or NULL. */
static const char *bad_header_value(const char *s, size_t len, char *buf, size_t cap)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
            snprintf(buf, cap, "byte 0x%02x is a control character, RFC 9110 5.5", ch);
            return buf;
        }
    }
    if (s[0] == ' ' || s[0] == '\t' || s[len - 1] == ' ' || s[len - 1] == '\t')
        return "white space at either end is no part of a field value, so it could never match";
    return NULL;
}

/* cookie-octet of RFC 6265 4.1.1; a value in DQUOTEs matches without them. */
static const char *bad_cookie_value(const char *s, size_t len, char *buf, size_t cap)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch > 0x20 && ch < 0x7f && ch != '"' && ch != ',' && ch != ';' && ch != '\\')
            continue;
        if (ch > 0x20 && ch < 0x7f)
            snprintf(buf, cap, "'%c' is not a cookie-octet, RFC 6265 4.1.1", ch);
        else
            snprintf(buf, cap, "byte 0x%02x is not a cookie-octet, RFC 6265 4.1.1", ch);
        return buf;
    }
    return NULL;
}

/* channels[i].header, .cookie and .query: a table of one NAME = VALUE pair. Names
 * follow the rules of the route lists (bad_name) but name one field, cookie or
 * parameter: '*' is no wildcard. A query value is the decoded form: any bytes. */
static const struct pair_kind {
    struct name_kind name; /* the key */
    const char *table;     /* the whole table, after "expected " */
    const char *value;     /* the value, after "expected " */
    const char *(*bad_value)(const char *s, size_t len, char *buf, size_t cap); /* or NULL */
} pair_kinds[] = {
    [T_HEADER_PAIR - T_HEADER_PAIR] = {{"a header field name like \"X-Channel\"", NULL, NULL, true,
                                        false, false, "header field names take no wildcard"},
                                       "a table of one header field like { [\"X-Channel\"] = "
                                       "\"app\" }",
                                       "a header field value like \"app\"",
                                       bad_header_value},
    [T_COOKIE_PAIR - T_HEADER_PAIR] = {{"a cookie name like \"bucket\"", NULL, NULL, true, false,
                                        false, "'*' is no wildcard here: name one cookie"},
                                       "a table of one cookie like { bucket = \"b\" }",
                                       "a cookie value like \"b\"",
                                       bad_cookie_value},
    [T_QUERY_PAIR - T_HEADER_PAIR] = {{"a query parameter name like \"channel\"", NULL, NULL, false,
                                       false, false, "'*' is no wildcard here: name one parameter"},
                                      "a table of one query parameter like { channel = \"app\" }",
                                      "a query parameter value like \"app\"",
                                      NULL},
};

static void load_pair(struct loader *ld, const struct key *k, struct cfg_channel_pair *out, int idx)
{
    lua_State *L = ld->L;
    const struct pair_kind *pk = &pair_kinds[k->type - T_HEADER_PAIR];
    char buf[128], got[128];
    if (lua_type(L, idx) != LUA_TTABLE) {
        expected(ld, idx, NULL, "%s", pk->table);
        return;
    }
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        n++;
        lua_pop(L, 1);
    }
    if (n != 1) {
        if (n == 0)
            fail(ld, "expected %s, got an empty table", pk->table);
        else
            fail(ld, "expected %s, got %zu pairs (one entry per condition)", pk->table, n);
        return;
    }
    lua_pushnil(L);
    lua_next(L, idx); /* key at -2, value at -1 */
    size_t nlen = 0, vlen = 0;
    const char *name = get_str(L, -2);
    const char *why = NULL;
    if (name != NULL) {
        nlen = strlen(name);
        why = bad_name(&pk->name, name, nlen, buf, sizeof(buf));
    }
    if (name == NULL) {
        describe(L, -2, got, sizeof(got));
        fail(ld, "expected %s, got an item with the key %s", pk->table, got);
    } else if (nlen == 0 || why != NULL) {
        expected(ld, -2, why, "%s", pk->name.what);
    } else {
        size_t old = push_key(ld, name, nlen);
        const char *v = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &vlen) : NULL;
        why = NULL;
        if (v != NULL && vlen > k->max) {
            snprintf(buf, sizeof(buf), "%zu bytes, more than %llu", vlen,
                     (unsigned long long)k->max);
            why = buf;
        } else if (v != NULL && vlen >= k->min && pk->bad_value != NULL) {
            why = pk->bad_value(v, vlen, buf, sizeof(buf));
        }
        if (v == NULL || vlen < k->min || why != NULL) {
            expected(ld, -1, why, "%s", pk->value);
        } else {
            out->name = xstrndup(name, nlen);
            out->name_len = nlen;
            out->value = xmalloc(vlen + 1); /* a decoded query value may hold a NUL */
            memcpy(out->value, v, vlen);
            out->value[vlen] = '\0';
            out->value_len = vlen;
        }
        pop_path(ld, old);
    }
    lua_pop(L, 2);
}

#define UA_WHAT "literal alternatives like \"Android|iPhone|Mobile\""

/* Why s[0..len) is not a valid user_agent, or NULL. The alternatives are matched
 * as literal text: characters that only make sense in a regular expression are
 * refused, so that "iPhone.*Mobile" or "^Mozilla" is not silently never matched
 * ('.', '(', ')' and '+' are common in User-Agents and stay literal). */
static const char *bad_ua(const struct key *k, const char *s, size_t len, char *buf, size_t cap)
{
    size_t count = 1;
    for (size_t i = 0; i < len; i++)
        count += s[i] == '|';
    if (count > CFG__UA_ALTERNATIVES) {
        snprintf(buf, cap, "%zu alternatives, more than %d", count, CFG__UA_ALTERNATIVES);
        return buf;
    }
    const char *p = s, *end = s + len;
    for (size_t a = 1;; a++) {
        const char *bar = memchr(p, '|', (size_t)(end - p));
        const char *e = bar ? bar : end;
        size_t alen = (size_t)(e - p);
        if (alen == 0) {
            snprintf(buf, cap, "alternative %zu is empty", a);
            return buf;
        }
        if (alen < k->min || alen > k->max) {
            snprintf(buf, cap, "alternative %zu is %zu bytes, more than %llu", a, alen,
                     (unsigned long long)k->max);
            return buf;
        }
        for (const char *q = p; q < e; q++) {
            unsigned char ch = (unsigned char)*q;
            if (ch < 0x20 || ch == 0x7f) {
                snprintf(buf, cap, "alternative %zu holds the control byte 0x%02x", a, ch);
                return buf;
            }
            if (strchr("*?^$\\[]{}", ch) != NULL) {
                snprintf(buf, cap,
                         "alternative %zu holds '%c': alternatives are literal text, not "
                         "regular expressions",
                         a, ch);
                return buf;
            }
        }
        if (p[0] == ' ' || e[-1] == ' ') {
            snprintf(buf, cap, "alternative %zu %s with a space, which would be matched too", a,
                     p[0] == ' ' ? "begins" : "ends");
            return buf;
        }
        if (bar == NULL)
            return NULL;
        p = bar + 1;
    }
}

/* UA_ALTERNATIVES: "A|B|C" into a cfg_strlist of ASCII lower-cased alternatives. */
static void load_ua(struct loader *ld, const struct key *k, struct cfg_strlist *out, int idx)
{
    lua_State *L = ld->L;
    size_t len = 0;
    const char *s = lua_type(L, idx) == LUA_TSTRING ? lua_tolstring(L, idx, &len) : NULL;
    char buf[160];
    const char *why = s != NULL ? bad_ua(k, s, len, buf, sizeof(buf)) : NULL;
    if (s == NULL || why != NULL) {
        expected(ld, idx, why, UA_WHAT);
        return;
    }
    size_t n = 1;
    for (size_t i = 0; i < len; i++)
        n += s[i] == '|';
    out->items = xcalloc(n, sizeof(*out->items));
    out->n = n;
    const char *p = s;
    for (size_t i = 0; i < n; i++) {
        const char *bar = memchr(p, '|', (size_t)(s + len - p));
        size_t alen = (size_t)((bar ? bar : s + len) - p);
        char *alt = xstrndup(p, alen);
        for (char *c = alt; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        out->items[i] = alt;
        p += alen + 1;
    }
}

/* CHANNEL_NAME: it names a template folder (templates/<channel>/), a cache key part
 * and a log field, hence the small alphabet. */
static const char *bad_channel_name(const struct key *k, const char *s, size_t len, char *buf,
                                    size_t cap)
{
    bool upper = false;
    if (len > k->max) {
        snprintf(buf, cap, "%zu bytes, more than %llu", len, (unsigned long long)k->max);
        return buf;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 'A' && ch <= 'Z')
            upper = true;
        else if ((ch == '-' || ch == '_') && i == 0)
            return "it must start with a lower-case letter or digit";
        else if (!((ch >= 'a' && ch <= 'z') || is_digit((char)ch) || ch == '-' || ch == '_')) {
            if (ch > 0x20 && ch < 0x7f)
                snprintf(buf, cap,
                         "'%c' is not allowed: use lower-case letters, digits, '-' "
                         "and '_'",
                         ch);
            else
                snprintf(buf, cap,
                         "byte 0x%02x is not allowed: use lower-case letters, digits, "
                         "'-' and '_'",
                         ch);
            return buf;
        }
    }
    if (upper) {
        int o = snprintf(buf, cap, "upper-case letters are not allowed: did you mean \"");
        for (size_t i = 0; i < len && (size_t)o + 3 < cap; i++)
            buf[o++] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
        snprintf(buf + o, cap - (size_t)o, "\"?");
        return buf;
    }
    return NULL;
}

static void load_channel_name(struct loader *ld, const struct key *k, char **out, int idx)
{
    char buf[128];
    const char *s = get_str(ld->L, idx);
    size_t len = s != NULL ? strlen(s) : 0;
    const char *why = s != NULL ? bad_channel_name(k, s, len, buf, sizeof(buf)) : NULL;
    if (s == NULL || len < k->min || why != NULL)
        expected(ld, idx, why, "a channel name like \"mobile\"");
    else
        *out = xstrdup(s);
}

/* The rules about the order of channels, checked on the Lua table at idx (the
 * array already loaded into c->channels): at most one condition per entry, none on
 * the last, a condition on every other. A key counts as written even when its
 * value was refused, so one mistake gives one error; for the same reason an entry
 * with an unknown key (a misspelt condition, most likely) or a last entry that is
 * not a table is not said to hide anything. Then each entry's kind, and the
 * distinct names. */
static void check_channels(struct loader *ld, struct cfg *c, int idx)
{
    lua_State *L = ld->L;
    size_t n = c->nchannels;
    if (lua_type(L, idx) != LUA_TTABLE || c->channels == NULL)
        return; /* reported by load_list */
    lua_rawgeti(L, idx, (int)n);
    bool last_ok = lua_type(L, -1) == LUA_TTABLE;
    lua_pop(L, 1);
    for (size_t i = 0; i < n; i++) {
        const char *set[ARRAY_SIZE(channel_keys)];
        bool written[ARRAY_SIZE(channel_keys)] = {false};
        size_t nset = 0;
        bool unknown = false;
        lua_rawgeti(L, idx, (int)(i + 1));
        if (lua_type(L, -1) != LUA_TTABLE) {
            lua_pop(L, 1);
            continue; /* reported by load_list */
        }
        lua_pushnil(L);
        while (lua_next(L, -2) != 0) {
            const char *key = get_str(L, -2);
            size_t j = 0;
            while (j < ARRAY_SIZE(channel_keys) &&
                   (key == NULL || strcmp(key, channel_keys[j].name) != 0))
                j++;
            if (j == ARRAY_SIZE(channel_keys))
                unknown = true;
            else
                written[j] = true;
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
        /* named in schema order, whatever order the table iterates in */
        for (size_t j = 0; j < ARRAY_SIZE(channel_keys); j++)
            if (written[j] && channel_keys[j].type != T_CHANNEL_NAME)
                set[nset++] = channel_keys[j].name;
        if (nset == 0 && (unknown || !last_ok))
            continue;
        size_t old = push_index(ld, i + 1);
        if (nset > 1) {
            char list[160];
            size_t o = 0;
            for (size_t j = 0; j < nset && o < sizeof(list); j++)
                o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s",
                                      j == 0          ? ""
                                      : j + 1 == nset ? " and "
                                                      : ", ",
                                      set[j]);
            fail(ld, "expected at most one condition, got %s (write one entry for each)", list);
        } else if (nset == 1 && i + 1 == n) {
            fail(ld, "the last channel is the default and takes no condition");
        } else if (nset == 0 && i + 2 == n) {
            fail(ld,
                 "only the last channel may have no condition (this one would hide "
                 "channels[%zu])",
                 n);
        } else if (nset == 0 && i + 1 < n) {
            fail(ld,
                 "only the last channel may have no condition (this one would hide "
                 "channels[%zu] to channels[%zu])",
                 i + 2, n);
        }
        pop_path(ld, old);
    }

    c->channel_names.items = xcalloc(n, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        struct cfg_channel *ch = &c->channels[i];
        ch->kind = ch->header.name != NULL        ? CFG_CHANNEL_HEADER
                   : ch->client_hint_mobile       ? CFG_CHANNEL_CLIENT_HINT_MOBILE
                   : ch->user_agent.items != NULL ? CFG_CHANNEL_USER_AGENT
                   : ch->cookie.name != NULL      ? CFG_CHANNEL_COOKIE
                   : ch->query.name != NULL       ? CFG_CHANNEL_QUERY
                                                  : CFG_CHANNEL_DEFAULT;
        if (ch->name == NULL)
            continue; /* its error is reported */
        size_t j;
        for (j = 0; j < c->channel_names.n; j++)
            if (strcmp(c->channel_names.items[j], ch->name) == 0)
                break;
        if (j == c->channel_names.n)
            c->channel_names.items[c->channel_names.n++] = xstrdup(ch->name);
        ch->name_idx = j;
    }
}

static bool is_origin_name(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if (!(is_ident(s, 1) || is_digit(*s) || *s == '-' || *s == '.'))
            return false;
    return true;
}

static const char *bad_origin_name(const char *name, char *buf, size_t cap)
{
    (void)buf;
    (void)cap;
    return is_origin_name(name) ? NULL : "use letters, digits, '_', '-' and '.'";
}

/* Templates name a fragment's data in tags ({{product.title}}), where a dot would
 * split the name: hence identifiers. */
static const char *bad_fragment_name(const char *name, char *buf, size_t cap)
{
    size_t n = strlen(name);
    if (n > CFG__FRAGMENT_NAME_MAX) {
        snprintf(buf, cap, "%zu bytes, more than %d", n, CFG__FRAGMENT_NAME_MAX);
        return buf;
    }
    if (!is_ident(name, n))
        return "templates refer to a fragment by its name: use letters, digits and '_', not "
               "starting with a digit";
    return NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void load_map(struct loader *ld, const struct key *k, char *base, int idx)
{
    lua_State *L = ld->L;
    const struct section *sub = k->sub;
    if (lua_type(L, idx) != LUA_TTABLE) {
        expected(ld, idx, NULL, "a table of named tables like %s", sub->example);
        return;
    }
    /* Items are kept sorted by name: stable order, and cfg_origin_find bisects. */
    size_t n = 0, cap = 8;
    const char **names = xmalloc(cap * sizeof(*names));
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        const char *name = get_str(L, -2);
        uint64_t ix;
        char buf[128];
        const char *why = name != NULL ? sub->bad_name(name, buf, sizeof(buf)) : NULL;
        if (why != NULL) {
            size_t old = push_key(ld, name, strlen(name));
            fail(ld, "bad name: %s", why);
            pop_path(ld, old);
        } else if (name == NULL) {
            char got[128];
            size_t old = ld->plen;
            if (get_uint(L, -2, 1, UINT32_MAX, &ix))
                push_index(ld, (size_t)ix);
            describe(L, -2, got, sizeof(got));
            fail(ld, "expected NAME = { ... } entries like %s, got an item with the key %s",
                 sub->example, got);
            pop_path(ld, old);
        } else {
            if (n == cap)
                names = xrealloc(names, (cap *= 2) * sizeof(*names));
            names[n++] = name; /* anchored by the table, which outlives this call */
        }
        lua_pop(L, 1);
    }
    if (n > k->max) {
        fail(ld, "expected at most %llu entries, got %zu", (unsigned long long)k->max, n);
        free(names);
        return;
    }
    qsort(names, n, sizeof(*names), cmp_str);
    char *items = n ? xcalloc(n, sub->elem_size) : NULL;
    *(void **)(base + k->off) = items;
    *(size_t *)(base + k->count_off) = n;
    for (size_t i = 0; i < n; i++)
        *(char **)(items + i * sub->elem_size + sub->name_off) = xstrdup(names[i]);
    for (size_t i = 0; i < n; i++) {
        size_t old = push_key(ld, names[i], strlen(names[i]));
        lua_pushstring(L, names[i]);
        lua_rawget(L, idx);
        if (lua_type(L, -1) == LUA_TTABLE)
            load_table(ld, sub, items + i * sub->elem_size, lua_gettop(L));
        else
            expected(ld, -1, NULL, "a table like %s", sub->item_example);
        lua_pop(L, 1);
        pop_path(ld, old);
    }
    free(names);
}

/* An INPUT_FILE must be readable now: a certificate that cannot be read would
 * otherwise only fail when the server starts. stat and access, not open: the path
 * is the file's to choose, and opening a device can have effects. */
static void check_readable(struct loader *ld, const char *path)
{
    struct stat st;
    int e = 0;
    if (stat(path, &st) < 0)
        e = errno;
    else if (S_ISDIR(st.st_mode))
        e = EISDIR;
    else if (access(path, R_OK) < 0)
        e = errno;
    if (e != 0) {
        char q[128];
        quote(q, sizeof(q), path, strlen(path));
        fail(ld, "cannot read %s: %s", q, strerror(e));
    }
}

/* TOKEN_FILE: the secret is read now, so that `tessera -t` and a reload see the
 * file as it is. A file that cannot give a secret is no error of the
 * configuration (purge is then disabled, and says why when asked); a bad path
 * value is. */
static void load_secret(struct loader *ld, const struct key *k, struct cfg_secret *out, int idx)
{
    const char *s = get_str(ld->L, idx);
    if (s == NULL || *s == '\0') {
        expected(ld, idx, NULL, "a file path like \"conf/admin.token\"");
        return;
    }
    out->file = xstrdup(s);
    char q[128], msg[256], buf[4096 + 256];
    quote(q, sizeof(q), s, strlen(s));
    struct stat st;
    size_t n = 0;
    int fd = -1, err = 0;
    msg[0] = '\0';
    if (stat(s, &st) < 0)
        err = errno;
    else if (!S_ISREG(st.st_mode))
        err = -1; /* a FIFO or a device could block the load, or have effects */
    else if ((fd = open(s, O_RDONLY | O_CLOEXEC)) < 0)
        err = errno;
    if (err != 0) {
        snprintf(msg, sizeof(msg), "cannot read %s: %s", q,
                 err < 0 ? "not a regular file" : strerror(err));
    } else {
        ssize_t got;
        while (n < sizeof(buf) && (got = read(fd, buf + n, sizeof(buf) - n)) != 0) {
            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0) {
                snprintf(msg, sizeof(msg), "cannot read %s: %s", q, strerror(errno));
                break;
            }
            n += (size_t)got;
        }
        close(fd);
    }
    size_t b = 0, e = n;
    while (b < e && strchr(" \t\r\n", buf[b]) != NULL)
        b++;
    while (e > b && strchr(" \t\r\n", buf[e - 1]) != NULL)
        e--;
    for (size_t i = b; msg[0] == '\0' && i < e; i++)
        if ((unsigned char)buf[i] <= 0x20 || (unsigned char)buf[i] >= 0x7f)
            snprintf(msg, sizeof(msg),
                     "%s holds more than one token, or bytes that are not visible ASCII", q);
    if (msg[0] == '\0' && e - b < k->min)
        snprintf(msg, sizeof(msg), "%s is empty", q);
    else if (msg[0] == '\0' && e - b > k->max)
        snprintf(msg, sizeof(msg), "%s holds more than %llu bytes", q, (unsigned long long)k->max);
    if (msg[0] != '\0') {
        out->error = xstrdup(msg);
    } else {
        out->value = xstrndup(buf + b, e - b);
        out->len = e - b;
    }
    explicit_bzero(buf, sizeof(buf));
}

/* CIDR_LIST: an array of addresses or networks. */
static void load_cidrs(struct loader *ld, const struct key *k, char *base, int idx)
{
    static const char example[] = "{ \"127.0.0.1\", \"10.0.0.0/8\", \"::1\" }";
    lua_State *L = ld->L;
    if (lua_type(L, idx) != LUA_TTABLE) {
        expected(ld, idx, NULL, "an array of addresses like %s", example);
        return;
    }
    size_t n = array_len(ld, idx);
    if (n < k->min || n > k->max) {
        fail(ld, "expected %llu to %llu addresses like %s, got %zu", (unsigned long long)k->min,
             (unsigned long long)k->max, example, n);
        return;
    }
    struct cfg_cidr *a = xcalloc(n, sizeof(*a));
    *(struct cfg_cidr **)(base + k->off) = a;
    *(size_t *)(base + k->count_off) = n;
    for (size_t i = 0; i < n; i++) {
        size_t old = push_index(ld, i + 1);
        lua_rawgeti(L, idx, (int)(i + 1));
        const char *s = get_str(L, -1);
        const char *why = NULL;
        char buf[128];
        if (s == NULL || parse_cidr(s, &a[i], &why, buf, sizeof(buf)) < 0)
            expected(ld, -1, why, "an address or network like \"10.0.0.0/8\" or \"::1\"");
        else
            a[i].text = xstrdup(s);
        lua_pop(L, 1);
        pop_path(ld, old);
    }
}

/* ---- page routes -------------------------------------------------------------- */

/* TEMPLATE_NAME: the name becomes part of file paths (build_pages), so it is kept
 * to plain segments: no absolute path, no "..", nothing the shell would quote. */
static const char *bad_template_name(const struct key *k, const char *s, size_t len, char *buf,
                                     size_t cap)
{
    if (len < k->min || len > k->max) {
        snprintf(buf, cap, "%zu bytes, expected %llu to %llu", len, (unsigned long long)k->min,
                 (unsigned long long)k->max);
        return buf;
    }
    const char *p = s, *end = s + len;
    for (;;) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *e = slash ? slash : end;
        if (e == p)
            return "empty segment: write segments joined by '/', like \"pages/product\"";
        if ((e - p == 1 && p[0] == '.') || (e - p == 2 && p[0] == '.' && p[1] == '.'))
            return "\".\" and \"..\" are not allowed: names are relative to the template "
                   "directory";
        for (const char *q = p; q < e; q++) {
            unsigned char ch = (unsigned char)*q;
            if (is_ident(q, 1) || is_digit((char)ch) || ch == '-' || ch == '.')
                continue;
            if (ch > 0x20 && ch < 0x7f)
                snprintf(buf, cap, "'%c' is not allowed: use letters, digits, '_', '-' and '.'",
                         ch);
            else
                snprintf(buf, cap,
                         "byte 0x%02x is not allowed: use letters, digits, '_', '-' and '.'", ch);
            return buf;
        }
        if (slash == NULL)
            break;
        p = slash + 1;
    }
    static const char ext[] = ".mustache";
    if (len >= sizeof(ext) - 1 && memcmp(s + len - (sizeof(ext) - 1), ext, sizeof(ext) - 1) == 0)
        return "give the name without its extension, like \"pages/product\": the file is "
               "found as NAME.html.mustache, NAME.json.mustache or NAME.txt.mustache";
    return NULL;
}

/* FRAGMENT_PATH: what compose.c writes as the fragment's request-target once the
 * parameters are in place, so bytes a request line cannot carry (RFC 9112 3.2:
 * VCHARs) are refused; '#' would start a fragment identifier. The ":name"
 * references are checked against the route's pattern by check_routes. */
static const char *bad_fragment_path(const struct key *k, const char *s, size_t len, char *buf,
                                     size_t cap)
{
    if (len < k->min || len > k->max) {
        snprintf(buf, cap, "%zu bytes, expected %llu to %llu", len, (unsigned long long)k->min,
                 (unsigned long long)k->max);
        return buf;
    }
    if (s[0] != '/')
        return "a path starts with '/'";
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch <= 0x20 || ch >= 0x7f) {
            snprintf(buf, cap, "byte 0x%02x is not allowed in a request path (percent-encode it)",
                     ch);
            return buf;
        }
        if (ch == '#')
            return "'#' is not allowed: a request carries no fragment identifier";
    }
    return NULL;
}

/* JSON: a Lua value converted with jansson. conv.size adds up a lower bound of the
 * compact encoding's length as the value is walked, so that a huge table stops
 * early; the exact length is measured once the value is built. */
struct json_conv {
    struct loader *ld;
    size_t size, max;
    bool over; /* larger than max: reported once, by load_json */
};

static json_t *lua_to_json(struct json_conv *jc, int idx, unsigned depth);

/* The string keys of an object, sorted: a generation does not depend on the order
 * Lua iterates a table in. */
static json_t *object_to_json(struct json_conv *jc, int idx, unsigned depth, size_t n)
{
    lua_State *L = jc->ld->L;
    const char **keys = xmalloc(n * sizeof(*keys));
    size_t nk = 0;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        if (nk < n)
            keys[nk++] = lua_tostring(L, -2); /* strings, anchored by the table */
        lua_pop(L, 1);
    }
    qsort(keys, nk, sizeof(*keys), cmp_str);
    json_t *obj = json_object();
    bool ok = true;
    for (size_t i = 0; i < nk && !jc->over; i++) {
        size_t klen = strlen(keys[i]);
        size_t old = push_key(jc->ld, keys[i], klen);
        jc->size += klen + 3 + (i > 0); /* "k": and a comma before all but the first */
        lua_pushstring(L, keys[i]);
        lua_rawget(L, idx);
        json_t *v = lua_to_json(jc, lua_gettop(L), depth);
        lua_pop(L, 1);
        if (v == NULL) {
            ok = false;
        } else if (json_object_set_new(obj, keys[i], v) < 0) {
            fail(jc->ld, "expected UTF-8 text in a key (JSON strings are UTF-8)");
            ok = false;
        }
        pop_path(jc->ld, old);
    }
    free(keys);
    if (!ok || jc->over) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

/* A table: { a, b } (keys 1..n only) is an array, { k = v } an object, and {} the
 * empty object (Lua cannot tell it from an empty array; `fallback = { items = {} }`
 * reads as an object, and templates treat both alike: falsey in a section). */
static json_t *table_to_json(struct json_conv *jc, int idx, unsigned depth)
{
    struct loader *ld = jc->ld;
    lua_State *L = ld->L;
    char got[128];
    if (depth >= CFG__JSON_DEPTH) {
        fail(ld,
             "expected at most %d tables inside each other, got more (does a table hold "
             "itself?)",
             CFG__JSON_DEPTH);
        return NULL;
    }
    lua_checkstack(L, 8);
    size_t n = 0, nstr = 0, nint = 0;
    uint64_t top = 0;
    bool ok = true;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        uint64_t ix;
        n++;
        if (get_str(L, -2) != NULL) {
            nstr++;
        } else if (get_uint(L, -2, 1, UINT32_MAX, &ix)) {
            nint++;
            top = ix > top ? ix : top;
        } else {
            describe(L, -2, got, sizeof(got));
            fail(ld, "expected string keys (an object) or items 1..n (an array), got the key %s",
                 got);
            ok = false;
        }
        lua_pop(L, 1);
    }
    if (!ok)
        return NULL;
    jc->size += 2;
    if (nstr > 0 && nint > 0) {
        fail(ld, "expected an object (string keys) or an array (items 1..n), got a table with "
                 "both");
        return NULL;
    }
    if (nstr > 0 || n == 0)
        return object_to_json(jc, idx, depth + 1, n);
    if (top != n) {
        fail(ld,
             "expected an array with items 1..n, got %zu items up to [%llu] (JSON arrays "
             "have no holes)",
             n, (unsigned long long)top);
        return NULL;
    }
    json_t *arr = json_array();
    for (size_t i = 1; i <= n && !jc->over; i++) {
        size_t old = push_index(ld, i);
        jc->size += i > 1; /* the comma */
        lua_rawgeti(L, idx, (int)i);
        json_t *v = lua_to_json(jc, lua_gettop(L), depth + 1);
        lua_pop(L, 1);
        pop_path(ld, old);
        if (v == NULL)
            ok = false;
        else
            json_array_append_new(arr, v);
    }
    if (!ok || jc->over) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

/* The value at idx (absolute) as JSON: a new reference, or NULL after an error was
 * reported at its path (or jc->over set). */
static json_t *lua_to_json(struct json_conv *jc, int idx, unsigned depth)
{
    struct loader *ld = jc->ld;
    lua_State *L = ld->L;
    json_t *v = NULL;
    switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN:
        jc->size += 4;
        v = json_boolean(lua_toboolean(L, idx));
        break;
    case LUA_TNUMBER: {
        /* Lua numbers are doubles: an integral one within 2^53 (exact) is written
         * as a JSON integer, so `count = 3` renders "3", not "3.0". */
        double d = lua_tonumber(L, idx);
        jc->size += 1;
        if (!isfinite(d))
            expected(ld, idx, "JSON has no NaN or infinity", "a finite number");
        else if (d >= -9007199254740992.0 && d <= 9007199254740992.0 && d == floor(d))
            v = json_integer((json_int_t)d);
        else
            v = json_real(d);
        break;
    }
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        jc->size += len + 2;
        if (jc->size > jc->max)
            break;
        v = json_stringn(s, len);
        if (v == NULL)
            expected(ld, idx, "JSON strings are UTF-8", "UTF-8 text");
        break;
    }
    case LUA_TTABLE: v = table_to_json(jc, idx, depth); break;
    default:
        expected(ld, idx, "JSON cannot hold it", "a table, a string, a number or a boolean");
        break;
    }
    if (jc->size > jc->max) {
        jc->over = true;
        json_decref(v);
        return NULL;
    }
    return v;
}

static void load_json(struct loader *ld, const struct key *k, json_t **out, int idx)
{
    struct json_conv jc = {ld, 0, k->max, false};
    json_t *v = lua_to_json(&jc, idx, 0);
    /* JSON_ENCODE_ANY: a string or a number is a fallback too */
    if (v != NULL && json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY) > k->max) {
        json_decref(v);
        v = NULL;
        jc.over = true;
    }
    if (jc.over) {
        char max[32];
        fmt_size(max, sizeof(max), k->max);
        fail(ld, "expected a value of at most %s as JSON, got more", max);
    }
    *out = v;
}

/* True when the table at idx has a value under key. */
static bool has_key(lua_State *L, int idx, const char *key)
{
    lua_pushstring(L, key);
    lua_rawget(L, idx);
    bool set = !lua_isnil(L, -1);
    lua_pop(L, 1);
    return set;
}

/* Fields a page request must not hand to a fragment request: they frame the page
 * request or concern its own connection (RFC 9110 7.6.1, RFC 9112 6), and compose
 * writes Host itself. */
static const char *const unpassable_fields[] = {
    "connection", "content-length", "host",    "keep-alive",       "proxy-connection",
    "te",         "trailer",        "upgrade", "transfer-encoding"};

/* Checks every ":name" of a fragment path against the parameters of route r, the
 * way compose.c reads them (a name runs to '/', '?', '.' or the end; ":*" is the
 * rest a final "*" captures). Reports the first one missing. */
static void check_fragment_params(struct loader *ld, const struct cfg_route *r, const char *path)
{
    for (const char *p = strchr(path, ':'); p != NULL; p = strchr(p, ':')) {
        const char *s = ++p;
        while (*p != '\0' && *p != '/' && *p != '?' && *p != '.')
            p++;
        size_t n = (size_t)(p - s);
        if (n == 0) {
            fail(ld, "':' must be followed by a parameter of %s", r->path);
            return;
        }
        bool found = false;
        for (size_t i = 0; i < r->nsegs && !found; i++) {
            const struct cfg_seg *g = &r->segs[i];
            found = (g->kind == CFG_SEG_PARAM && g->len == n && memcmp(g->text, s, n) == 0) ||
                    (g->kind == CFG_SEG_REST && n == 1 && s[0] == '*');
        }
        if (!found) {
            fail(ld, ":%.*s is not a parameter of %s", (int)n, s, r->path);
            return;
        }
    }
}

/* The rules that tie a route's keys together, checked on the Lua table at idx (the
 * array already loaded into c->routes): exactly one of origin and template, and
 * fragments only with a template; a key counts as written even when its value was
 * refused, so one mistake gives one error. Then, for each fragment, its parameters
 * and passed fields, its hidden route and its compose spec. */
static void check_routes(struct loader *ld, struct cfg *c, int idx)
{
    lua_State *L = ld->L;
    if (lua_type(L, idx) != LUA_TTABLE || c->routes == NULL)
        return; /* reported by load_list */
    for (size_t i = 0; i < c->nroutes; i++) {
        struct cfg_route *r = &c->routes[i];
        lua_rawgeti(L, idx, (int)(i + 1));
        if (lua_type(L, -1) != LUA_TTABLE) {
            lua_pop(L, 1);
            continue; /* reported by load_list */
        }
        int t = lua_gettop(L);
        bool origin = has_key(L, t, "origin"), tmpl = has_key(L, t, "template"),
             frags = has_key(L, t, "fragments"), hooks = has_key(L, t, "hooks"),
             hook_errs = has_key(L, t, "hook_errors");
        lua_pop(L, 1);
        size_t old = push_index(ld, i + 1);
        char what[96] = "";
        if (r->path != NULL)
            snprintf(what, sizeof(what), " for %s", r->path);
        if (origin && tmpl) {
            fail(ld,
                 "expected origin or template, got both%s (a route forwards to an origin "
                 "or renders a page)",
                 what);
        } else if (!origin && !tmpl) {
            fail(ld,
                 "expected origin (forward to an origin) or template (render a page), got "
                 "neither%s",
                 what);
        } else if (frags && !tmpl) {
            push_key(ld, "fragments", 9);
            fail(ld, "fragments belong to page routes: expected a template instead of origin");
        }
        pop_path(ld, old);
        if (hook_errs && !hooks) {
            push_index(ld, i + 1);
            push_key(ld, "hook_errors", 11);
            fail(ld, "applies to a route with hooks: set hooks too, or leave hook_errors out");
            pop_path(ld, old);
        }

        for (size_t j = 0; j < r->nfragments; j++) {
            struct cfg_fragment *fr = &r->fragments[j];
            old = push_index(ld, i + 1);
            push_key(ld, "fragments", 9);
            push_key(ld, fr->name, strlen(fr->name));
            size_t fpath = ld->plen;
            if (fr->path != NULL && r->path != NULL) {
                push_key(ld, "path", 4);
                check_fragment_params(ld, r, fr->path);
                pop_path(ld, fpath);
            }
            for (size_t h = 0; fr->headers.items != NULL && h < fr->headers.n; h++) {
                const char *f = fr->headers.items[h];
                for (size_t u = 0; f != NULL && u < ARRAY_SIZE(unpassable_fields); u++) {
                    if (strcmp(f, unpassable_fields[u]) != 0)
                        continue;
                    push_key(ld, "headers", 7);
                    push_index(ld, h + 1);
                    fail(ld,
                         "\"%s\" cannot be passed on: it belongs to the page request's own "
                         "message or connection",
                         f);
                    pop_path(ld, fpath);
                }
            }
            pop_path(ld, old);

            struct cfg_route *h = xcalloc(1, sizeof(*h));
            fr->route = h;
            size_t n = strlen(fr->name);
            h->path = xmalloc(sizeof("fragment:") + n);
            memcpy(h->path, "fragment:", sizeof("fragment:") - 1);
            memcpy(h->path + sizeof("fragment:") - 1, fr->name, n + 1);
            h->origin = fr->origin;
            h->cache = xcalloc(1, sizeof(*h->cache));            /* the origin's headers decide */
            h->cache->stale_if_error_ms = fr->stale_if_error_ms; /* last good copy */
        }
        if (r->nfragments > 0) {
            r->specs = xcalloc(r->nfragments, sizeof(*r->specs));
            for (size_t j = 0; j < r->nfragments; j++) {
                struct cfg_fragment *fr = &r->fragments[j];
                struct compose_spec *sp = &r->specs[j];
                sp->name = fr->name;
                sp->route = fr->route;
                sp->path = fr->path;
                sp->timeout_ms = fr->timeout_ms;
                sp->required = fr->required;
                sp->query = fr->query.items != NULL ? &fr->query : NULL;
                sp->headers = fr->headers.items != NULL ? &fr->headers : NULL;
            }
        }
    }
}

/* Checks and stores the value at idx (absolute) for key k of the struct at base. */
static void load_value(struct loader *ld, const struct key *k, char *base, int idx)
{
    lua_State *L = ld->L;
    char *field = base + k->off;
    const char *s;
    uint64_t v;
    char lo[32], hi[32];

    switch (k->type) {
    case T_WORKERS:
        s = get_str(L, idx);
        if (s != NULL && strcmp(s, "auto") == 0)
            *(unsigned *)field = online_cpus();
        else if (get_uint(L, idx, k->min, k->max, &v))
            *(unsigned *)field = (unsigned)v;
        else
            expected(ld, idx, NULL, "\"auto\" or an integer from %llu to %llu",
                     (unsigned long long)k->min, (unsigned long long)k->max);
        break;
    case T_INT:
    case T_UINT:
        if (!get_uint(L, idx, k->min, k->max, &v)) {
            expected(ld, idx, NULL, "an integer from %llu to %llu", (unsigned long long)k->min,
                     (unsigned long long)k->max);
        } else if (k->type == T_INT) {
            *(int *)field = (int)v;
        } else {
            *(unsigned *)field = (unsigned)v;
        }
        break;
    case T_DURATION:
        s = get_str(L, idx);
        if (s == NULL || cfg_parse_duration(s, &v) < 0) {
            expected(ld, idx, NULL, "a duration like \"30s\" (units ms, s, m, h, d)");
        } else if (v < k->min || v > k->max) {
            fmt_duration(lo, sizeof(lo), k->min);
            fmt_duration(hi, sizeof(hi), k->max);
            expected(ld, idx, NULL, "a duration from \"%s\" to \"%s\"", lo, hi);
        } else {
            *(uint64_t *)field = v;
        }
        break;
    case T_SIZE:
        s = get_str(L, idx);
        if (s != NULL ? cfg_parse_size(s, &v) < 0 : !get_uint(L, idx, 0, UINT64_MAX, &v)) {
            expected(ld, idx, NULL,
                     "a size like \"16KB\" (units B, KB, MB, GB, TB) or a number "
                     "of bytes");
        } else if (v < k->min || v > k->max) {
            fmt_size(lo, sizeof(lo), k->min);
            fmt_size(hi, sizeof(hi), k->max);
            expected(ld, idx, NULL, "a size from \"%s\" to \"%s\"", lo, hi);
        } else {
            *(uint64_t *)field = v;
        }
        break;
    case T_ADDR: load_addr(ld, idx, (struct cfg_addr *)field, true); break;
    case T_ADDR_LIST: {
        if (lua_type(L, idx) != LUA_TTABLE) {
            expected(ld, idx, NULL, "an array of addresses like { \"127.0.0.1:9000\" }");
            break;
        }
        size_t n = array_len(ld, idx);
        if (n < k->min || n > k->max) {
            fail(ld, "expected %llu to %llu addresses like { \"127.0.0.1:9000\" }, got %zu",
                 (unsigned long long)k->min, (unsigned long long)k->max, n);
            break;
        }
        struct cfg_addr *a = xcalloc(n, sizeof(*a));
        *(struct cfg_addr **)field = a;
        *(size_t *)(base + k->count_off) = n;
        for (size_t i = 0; i < n; i++) {
            size_t old = push_index(ld, i + 1);
            lua_rawgeti(L, idx, (int)(i + 1));
            load_addr(ld, lua_gettop(L), &a[i], false);
            lua_pop(L, 1);
            pop_path(ld, old);
        }
        break;
    }
    case T_PATH:
    case T_PATH_OR_OFF:
        s = get_str(L, idx);
        if (k->type == T_PATH_OR_OFF && lua_type(L, idx) == LUA_TBOOLEAN && !lua_toboolean(L, idx))
            *(char **)field = NULL;
        else if (s != NULL && *s != '\0')
            *(char **)field = xstrdup(s);
        else if (k->type == T_PATH_OR_OFF)
            expected(ld, idx, NULL, "a file path, \"-\" for stdout, or false for none");
        else
            expected(ld, idx, NULL, "a file path, or \"-\" for stderr");
        break;
    case T_INPUT_FILE:
        s = get_str(L, idx);
        if (s == NULL || *s == '\0') {
            expected(ld, idx, NULL, "a file path like \"conf/tls/edge.pem\"");
            break;
        }
        *(char **)field = xstrdup(s);
        check_readable(ld, s);
        break;
    case T_DIR:
        /* checked where it is used: build_pages, only when a route has a template */
        s = get_str(L, idx);
        if (s != NULL && *s != '\0')
            *(char **)field = xstrdup(s);
        else
            expected(ld, idx, NULL, "a directory path like \"templates\"");
        break;
    case T_BOOL:
        if (lua_type(L, idx) == LUA_TBOOLEAN)
            *(int *)field = lua_toboolean(L, idx);
        else
            expected(ld, idx, NULL, "true or false");
        break;
    case T_LOG_FORMAT:
        load_enum(ld, idx, (int *)field, log_formats, ARRAY_SIZE(log_formats));
        break;
    case T_LOG_LEVEL: load_enum(ld, idx, (int *)field, log_levels, ARRAY_SIZE(log_levels)); break;
    case T_ROUTE_PATH: {
        /* The only ROUTE_PATH key is routes[i].path: base is the route. */
        struct cfg_route *r = (struct cfg_route *)base;
        const char *why = NULL;
        s = get_str(L, idx);
        if (s == NULL) {
            expected(ld, idx, NULL, "a path pattern like \"/api/*\"");
        } else if (route_compile(s, r, &why) < 0) {
            expected(ld, idx, why, "a path pattern like \"/api/*\" or \"/product/:id\"");
        } else {
            r->path = xstrdup(s);
        }
        break;
    }
    case T_ORIGIN_REF: load_origin_ref(ld, idx, (const struct cfg_origin **)field); break;
    case T_TEMPLATE_NAME:
    case T_FRAGMENT_PATH: {
        char buf[160];
        size_t len = 0;
        s = lua_type(L, idx) == LUA_TSTRING ? lua_tolstring(L, idx, &len) : NULL;
        const char *why = s == NULL ? NULL
                          : k->type == T_TEMPLATE_NAME
                              ? bad_template_name(k, s, len, buf, sizeof(buf))
                              : bad_fragment_path(k, s, len, buf, sizeof(buf));
        if (s == NULL || why != NULL)
            expected(ld, idx, why, "%s",
                     k->type == T_TEMPLATE_NAME ? "a template name like \"pages/product\""
                                                : "a request path like \"/api/product/:id\"");
        else
            *(char **)field = xstrndup(s, len);
        break;
    }
    case T_JSON: load_json(ld, k, (json_t **)field, idx); break;
    case T_HOOK_SCRIPT: {
        /* read and checked after the walk: build_hooks */
        size_t len = 0;
        s = get_str(L, idx);
        if (s != NULL)
            len = strlen(s);
        if (s == NULL || len < k->min || len > k->max)
            expected(ld, idx, NULL, "the path of a Lua script like \"scripts/product.lua\"");
        else
            *(char **)field = xstrdup(s);
        break;
    }
    case T_HOOK_ERRORS:
        load_enum(ld, idx, (int *)field, hook_errors, ARRAY_SIZE(hook_errors));
        break;
    case T_QUERY_NAMES:
    case T_COOKIE_NAMES:
    case T_HEADER_NAMES: load_names(ld, k, (struct cfg_strlist *)field, idx); break;
    case T_CHANNEL_NAME: load_channel_name(ld, k, (char **)field, idx); break;
    case T_FLAG:
        if (lua_type(L, idx) == LUA_TBOOLEAN && lua_toboolean(L, idx))
            *(int *)field = 1;
        else
            expected(ld, idx,
                     lua_type(L, idx) == LUA_TBOOLEAN ? "leave the key out for no condition" : NULL,
                     "true");
        break;
    case T_UA_ALTERNATIVES: load_ua(ld, k, (struct cfg_strlist *)field, idx); break;
    case T_HEADER_PAIR:
    case T_COOKIE_PAIR:
    case T_QUERY_PAIR: load_pair(ld, k, (struct cfg_channel_pair *)field, idx); break;
    case T_TEXT: {
        size_t len = 0, good = 0; /* bytes before the first that is not visible ASCII */
        s = lua_type(L, idx) == LUA_TSTRING ? lua_tolstring(L, idx, &len) : NULL;
        while (s != NULL && good < len && s[good] > ' ' && s[good] < 0x7f)
            good++;
        if (s == NULL || good < len || len < k->min || len > k->max)
            expected(ld, idx, s != NULL && good < len ? "a space, control or non-ASCII byte" : NULL,
                     "%llu to %llu visible ASCII characters", (unsigned long long)k->min,
                     (unsigned long long)k->max);
        else
            *(char **)field = xstrndup(s, len);
        break;
    }
    case T_TOKEN_FILE: load_secret(ld, k, (struct cfg_secret *)field, idx); break;
    case T_CIDR_LIST: load_cidrs(ld, k, base, idx); break;
    case T_SECTION:
        if (lua_type(L, idx) == LUA_TTABLE)
            load_table(ld, k->sub, base, idx);
        else
            expected(ld, idx, NULL, "a table like %s", k->sub->example);
        break;
    case T_TABLE:
        if (lua_type(L, idx) == LUA_TTABLE) {
            /* linked before it is filled, like load_list's items */
            char *item = xcalloc(1, k->sub->elem_size);
            *(char **)field = item;
            load_table(ld, k->sub, item, idx);
        } else {
            expected(ld, idx, NULL, "a table like %s", k->sub->example);
        }
        break;
    case T_LIST:
        load_list(ld, k, base, idx);
        if (k->sub == &sec_channels)
            check_channels(ld, (struct cfg *)base, idx);
        else if (k->sub == &sec_routes)
            check_routes(ld, (struct cfg *)base, idx);
        break;
    case T_MAP:
        load_map(ld, k, base, idx);
        if (k->sub == &sec_origins && lua_type(L, idx) == LUA_TTABLE)
            ld->origins_ok = true;
        break;
    }
}

/* Pushes a key's default, as the file would have written it. */
static void push_default(lua_State *L, const struct key *k)
{
    switch (k->type) {
    case T_INT:
    case T_UINT: lua_pushnumber(L, strtod(k->def, NULL)); break;
    case T_PATH_OR_OFF:
        if (strcmp(k->def, "false") == 0)
            lua_pushboolean(L, 0);
        else
            lua_pushstring(L, k->def);
        break;
    case T_BOOL: lua_pushboolean(L, strcmp(k->def, "true") == 0); break;
    case T_SECTION:
    case T_LIST:
    case T_MAP:
        if (strcmp(k->def, "{}") == 0) {
            lua_newtable(L);
        } else {
            /* A table with contents (channels) is evaluated as the file would write
             * it: constants only, so it cannot fail, and the walk runs unhooked. */
            char chunk[256];
            snprintf(chunk, sizeof(chunk), "return %s", k->def);
            int status = luaL_loadbuffer(L, chunk, strlen(chunk), "=default");
            if (status == 0)
                status = lua_pcall(L, 0, 1, 0);
            assert(status == 0);
            (void)status;
        }
        break;
    default: lua_pushstring(L, k->def); break;
    }
}

static const char *container_what(const struct key *k)
{
    switch (k->type) {
    case T_LIST: return "an array of tables like ";
    case T_MAP:
    case T_SECTION:
    case T_TABLE: return "a table like ";
    default: return NULL;
    }
}

/* What to write for a required key that is missing. */
static void missing(struct loader *ld, const struct key *k)
{
    switch (k->type) {
    case T_LIST:
    case T_MAP:
    case T_SECTION:
        fail(ld, "required key is missing (expected %s%s)", container_what(k), k->sub->example);
        break;
    case T_ADDR:
        fail(ld, "required key is missing (expected an address like \"0.0.0.0:8080\")");
        break;
    case T_ADDR_LIST:
        fail(ld, "required key is missing (expected an array of addresses like "
                 "{ \"127.0.0.1:9000\" })");
        break;
    case T_ROUTE_PATH:
        fail(ld, "required key is missing (expected a path pattern like \"/api/*\")");
        break;
    case T_ORIGIN_REF: fail(ld, "required key is missing (expected the name of an origin)"); break;
    case T_FRAGMENT_PATH:
        fail(ld, "required key is missing (expected a request path like \"/api/product/:id\")");
        break;
    case T_INPUT_FILE:
        fail(ld, "required key is missing (expected a file path like \"conf/tls/edge.pem\")");
        break;
    case T_CIDR_LIST:
        fail(ld, "required key is missing (expected an array of addresses like "
                 "{ \"127.0.0.1\", \"10.0.0.0/8\" })");
        break;
    default: fail(ld, "required key is missing"); break;
    }
}

static void check_unknown_keys(struct loader *ld, const struct section *sec, int idx)
{
    lua_State *L = ld->L;
    const char *names[32];
    assert(sec->nkeys <= ARRAY_SIZE(names));
    for (size_t i = 0; i < sec->nkeys; i++)
        names[i] = sec->keys[i].name;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        const char *k = get_str(L, -2);
        size_t i = 0;
        if (k != NULL) {
            for (i = 0; i < sec->nkeys; i++)
                if (strcmp(k, names[i]) == 0)
                    break;
        }
        if (k == NULL || i == sec->nkeys) {
            size_t old = ld->plen;
            uint64_t ix;
            if (k != NULL)
                ld->plen = path_add_key(ld->path, ld->plen, k, strlen(k));
            else if (get_uint(L, -2, 1, UINT32_MAX, &ix))
                ld->plen = path_add_index(ld->path, ld->plen, (size_t)ix);
            const char *hint = k ? suggest(k, names, sec->nkeys) : NULL;
            if (sec == &sec_redis && k != NULL && strcmp(k, "servers") == 0) {
                fail(ld, "not supported yet: one Redis node for now, as server = \"ip:port\" "
                         "(a list of Redis Cluster seeds is a later issue)");
            } else if (hint != NULL) {
                fail(ld, "unknown key (did you mean \"%s\"?)", hint);
            } else if (k == NULL) {
                char got[128];
                describe(L, -2, got, sizeof(got));
                fail(ld, "unexpected item with key %s (expected name = value fields)", got);
            } else if (sec == &sec_top) {
                fail(ld, "unknown key (helper variables must be declared local)");
            } else {
                fail(ld, "unknown key");
            }
            pop_path(ld, old);
        }
        lua_pop(L, 1);
    }
}

/* Loads every key of `sec` from the table at idx into base, applying defaults, then
 * reports the keys the schema does not know. */
static void load_table(struct loader *ld, const struct section *sec, char *base, int idx)
{
    lua_State *L = ld->L;
    lua_checkstack(L, 8);
    for (size_t i = 0; i < sec->nkeys; i++) {
        const struct key *k = &sec->keys[i];
        size_t old = push_key(ld, k->name, strlen(k->name));
        lua_pushstring(L, k->name);
        lua_rawget(L, idx);
        if (!lua_isnil(L, -1)) {
            load_value(ld, k, base, lua_gettop(L));
        } else if (k->def != NULL && strcmp(k->def, "nil") == 0) {
            /* optional without a value: the field stays zero */
        } else if (k->def != NULL) {
            size_t before = ld->nerrs;
            lua_pop(L, 1);
            push_default(L, k);
            load_value(ld, k, base, lua_gettop(L));
            assert(ld->nerrs == before); /* a default that fails its own check */
            (void)before;
        } else {
            missing(ld, k);
        }
        lua_pop(L, 1);
        pop_path(ld, old);
    }
    check_unknown_keys(ld, sec, idx);
}

/* Checks that involve more than one key. */
static void cross_checks(struct loader *ld)
{
    struct cfg *c = ld->c;
    /* cache.redis.server is an ADDR like a listener's, but one we connect to */
    const struct cfg_redis *rd = c->cache.redis;
    if (rd != NULL && rd->server.text != NULL &&
        (addr_port(&rd->server) == 0 || addr_is_wildcard(&rd->server))) {
        size_t old = push_key(ld, "cache", 5);
        push_key(ld, "redis", 5);
        push_key(ld, "server", 6);
        fail(ld, "expected the address of a Redis server like \"127.0.0.1:6379\", got \"%s\"",
             rd->server.text);
        pop_path(ld, old);
    }
    /* 0 is below both minimums: it means the key had its own error already */
    if (c->limits.header_size != 0 && c->limits.uri_size > c->limits.header_size) {
        char a[32], b[32];
        fmt_size(a, sizeof(a), c->limits.uri_size);
        fmt_size(b, sizeof(b), c->limits.header_size);
        size_t old = push_key(ld, "limits", 6);
        push_key(ld, "uri_size", 8);
        fail(ld, "expected at most limits.header_size (\"%s\"), got \"%s\"", b, a);
        pop_path(ld, old);
    }
    for (size_t i = 0; i < c->nlisten; i++) {
        const struct cfg_addr *a = &c->listen[i].addr;
        if (a->text == NULL || addr_port(a) == 0)
            continue;
        for (size_t j = 0; j < i; j++) {
            const struct cfg_addr *b = &c->listen[j].addr;
            if (b->text != NULL && a->sa_len == b->sa_len &&
                memcmp(&a->sa, &b->sa, a->sa_len) == 0) {
                size_t old = push_key(ld, "listen", 6);
                push_index(ld, i + 1);
                push_key(ld, "addr", 4);
                fail(ld, "\"%s\" is already used by listen[%zu]", a->text, j + 1);
                pop_path(ld, old);
                break;
            }
        }
    }
}

/* lua_cpcall body: any Lua error inside (there should be none: the memory cap is
 * lifted before) unwinds to cfg_load, and everything allocated so far is already
 * linked into the generation or the loader. */
static int walk(lua_State *L)
{
    struct loader *ld = lua_touserdata(L, 1);
    lua_pushvalue(L, LUA_GLOBALSINDEX);
    load_table(ld, &sec_top, (char *)ld->c, lua_gettop(L));
    cross_checks(ld);
    return 0;
}

/* ---- the sandbox -------------------------------------------------------------- */

/* The file runs in a bare sandbox (lua/sandbox.h): no library opened, so not even
 * `error` or `string` exists, under a memory cap and an instruction budget. */

/* Reports a Lua error message. Lua writes "config:LINE: text" (CHUNK_NAME): we
 * re-prefix it with the real path. We name the chunk "=config" rather than "@path"
 * because Lua cuts chunk names to 60 bytes ("...long/path"), which would give an
 * error line a file name that is not the one the user passed. */
static void lua_failure(struct loader *ld, int status, const struct sandbox *sb)
{
    lua_State *L = ld->L;
    const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    int where = 0;
    sandbox_where(sb, &where);
    if (status == LUA_ERRMEM || sandbox_tripped(sb) == SANDBOX_MEMORY) {
        fail_file(ld, 0, "the configuration uses more than %zuMB of memory", MAX_LUA_MEMORY >> 20);
        return;
    }
    if (sandbox_tripped(sb) == SANDBOX_BUDGET) {
        fail_file(ld, (unsigned)where,
                  "still running after %llu Lua instructions (an endless loop?)",
                  (unsigned long long)MAX_LUA_STEPS);
        return;
    }
    if (msg == NULL) {
        fail_file(ld, 0, "the configuration raised a non-string error");
        return;
    }
    unsigned line = 0;
    size_t pre = strlen(CHUNK_NAME);
    if (strncmp(msg, CHUNK_NAME ":", pre + 1) == 0 && is_digit(msg[pre + 1])) {
        const char *p = msg + pre + 1;
        uint64_t v;
        if (parse_digits(&p, &v) == 0 && *p == ':' && v < 1000000000) {
            line = (unsigned)v;
            msg = p + 1 + (p[1] == ' ');
        }
    }
    char clean[1024];
    size_t o = 0;
    for (; *msg && o + 3 < sizeof(clean); msg++) {
        /* one error, one line */
        if (*msg == '\n') {
            clean[o++] = '\\';
            clean[o++] = 'n';
        } else {
            clean[o++] = (unsigned char)*msg < 0x20 ? ' ' : *msg;
        }
    }
    clean[o] = '\0';
    fail_file(ld, line, "%s", clean);
}

/* ---- the locator -------------------------------------------------------------- */

enum tok_kind { TK_EOF, TK_NAME, TK_STRING, TK_NUMBER, TK_SYM };

struct token {
    enum tok_kind kind;
    const char *s; /* for TK_STRING: the contents */
    size_t len;
    unsigned line;
    bool plain; /* TK_STRING: quoted, no escapes, so s..len is the value */
};

struct lexer {
    const char *p, *end;
    unsigned line;
};

struct loc {
    char *path;
    unsigned line;
};

struct locator {
    struct lexer lx;
    struct token tok;
    char path[PATH_CAP];
    struct loc *v;
    size_t n, cap;
    int nest;
};

/* p at '[': returns the level of a long bracket "[==[" or -1. */
static int long_level(const char *p, const char *end)
{
    const char *q = p + 1;
    while (q < end && *q == '=')
        q++;
    return q < end && *q == '[' ? (int)(q - p - 1) : -1;
}

/* Skips past the closing "]==]" of the given level; p after the opening bracket. */
static void skip_long(struct lexer *lx, int level)
{
    while (lx->p < lx->end) {
        char ch = *lx->p++;
        if (ch == '\n') {
            lx->line++;
        } else if (ch == ']') {
            const char *q = lx->p;
            while (q < lx->end && *q == '=')
                q++;
            if (q < lx->end && *q == ']' && q - lx->p == level) {
                lx->p = q + 1;
                return;
            }
        }
    }
}

static void lex(struct lexer *lx, struct token *t)
{
    for (;;) {
        while (lx->p < lx->end && strchr(" \t\r\n\f\v", *lx->p) != NULL) {
            if (*lx->p == '\n')
                lx->line++;
            lx->p++;
        }
        if (lx->end - lx->p >= 2 && lx->p[0] == '-' && lx->p[1] == '-') {
            lx->p += 2;
            int level = lx->p < lx->end && *lx->p == '[' ? long_level(lx->p, lx->end) : -1;
            if (level >= 0) {
                lx->p += level + 2;
                skip_long(lx, level);
            } else {
                while (lx->p < lx->end && *lx->p != '\n')
                    lx->p++;
            }
            continue;
        }
        break;
    }
    t->line = lx->line;
    t->s = lx->p;
    t->len = 0;
    t->plain = false;
    if (lx->p >= lx->end) {
        t->kind = TK_EOF;
        return;
    }
    char ch = *lx->p;
    if (ch == '"' || ch == '\'') {
        t->kind = TK_STRING;
        t->s = ++lx->p;
        t->plain = true;
        while (lx->p < lx->end && *lx->p != ch && *lx->p != '\n') {
            if (*lx->p == '\\') {
                t->plain = false;
                if (++lx->p < lx->end && *lx->p == '\n') {
                    lx->line++;
                } else if (lx->p < lx->end && *lx->p == 'z') {
                    /* "\z" skips the white space after it, newlines included
                     * (Lua 5.2, LuaJIT): regression input in tests/fuzz/config. */
                    lx->p++;
                    while (lx->p < lx->end && strchr(" \t\r\n\f\v", *lx->p) != NULL) {
                        if (*lx->p == '\n')
                            lx->line++;
                        lx->p++;
                    }
                    continue;
                }
            }
            if (lx->p < lx->end)
                lx->p++;
        }
        t->len = (size_t)(lx->p - t->s);
        if (lx->p < lx->end)
            lx->p++;
        return;
    }
    if (ch == '[') {
        int level = long_level(lx->p, lx->end);
        if (level >= 0) {
            t->kind = TK_STRING;
            lx->p += level + 2;
            t->s = lx->p;
            skip_long(lx, level);
            t->len = 0;
            return;
        }
    }
    if (is_digit(ch) || (ch == '.' && lx->p + 1 < lx->end && is_digit(lx->p[1]))) {
        t->kind = TK_NUMBER;
        while (lx->p < lx->end) {
            char c2 = *lx->p;
            if ((c2 == '+' || c2 == '-') && strchr("eEpP", lx->p[-1]) != NULL)
                lx->p++;
            else if (is_ident(&c2, 1) || is_digit(c2) || c2 == '.')
                lx->p++;
            else
                break;
        }
        t->len = (size_t)(lx->p - t->s);
        return;
    }
    if (is_ident(&ch, 1)) {
        t->kind = TK_NAME;
        while (lx->p < lx->end && (is_ident(lx->p, 1) || is_digit(*lx->p)))
            lx->p++;
        t->len = (size_t)(lx->p - t->s);
        return;
    }
    t->kind = TK_SYM;
    static const char *const two[] = {"...", "==", "~=", "<=", ">=", "..", "::"};
    for (size_t i = 0; i < ARRAY_SIZE(two); i++) {
        size_t n = strlen(two[i]);
        if ((size_t)(lx->end - lx->p) >= n && memcmp(lx->p, two[i], n) == 0) {
            lx->p += n;
            t->len = n;
            return;
        }
    }
    lx->p++;
    t->len = 1;
}

static bool tok_is(const struct token *t, enum tok_kind kind, const char *s)
{
    return t->kind == kind && t->len == strlen(s) && memcmp(t->s, s, t->len) == 0;
}

static bool is_keyword(const struct token *t)
{
    static const char *const kw[] = {"and",   "break", "do",       "else", "elseif", "end",
                                     "false", "for",   "function", "goto", "if",     "in",
                                     "local", "nil",   "not",      "or",   "repeat", "return",
                                     "then",  "true",  "until",    "while"};
    if (t->kind != TK_NAME)
        return false;
    for (size_t i = 0; i < ARRAY_SIZE(kw); i++)
        if (tok_is(t, TK_NAME, kw[i]))
            return true;
    return false;
}

static void advance(struct locator *lc)
{
    lex(&lc->lx, &lc->tok);
}

/* The token k places after the current one. */
static struct token peek(const struct locator *lc, int k)
{
    struct lexer lx = lc->lx;
    struct token t = lc->tok;
    while (k-- > 0)
        lex(&lx, &t);
    return t;
}

static void record(struct locator *lc, size_t plen, unsigned line)
{
    if (plen == NO_PATH || plen == 0)
        return;
    if (lc->n == lc->cap) {
        lc->cap = lc->cap ? 2 * lc->cap : 64;
        lc->v = xrealloc(lc->v, lc->cap * sizeof(*lc->v));
    }
    lc->v[lc->n].path = xstrndup(lc->path, plen);
    lc->v[lc->n].line = line;
    lc->n++;
}

static void loc_table(struct locator *lc, size_t plen);

/* Skips a function body: current token is `function`. */
static void loc_function(struct locator *lc)
{
    int depth = 1;
    advance(lc);
    while (lc->tok.kind != TK_EOF) {
        const struct token *t = &lc->tok;
        if (tok_is(t, TK_NAME, "function") || tok_is(t, TK_NAME, "if") ||
            tok_is(t, TK_NAME, "do") || tok_is(t, TK_NAME, "repeat")) {
            depth++;
        } else if (tok_is(t, TK_NAME, "end") || tok_is(t, TK_NAME, "until")) {
            if (--depth == 0) {
                advance(lc);
                return;
            }
        }
        advance(lc);
    }
}

/* One field value inside a table: up to the next ',' ';' or '}' at this level. */
static void loc_value(struct locator *lc, size_t plen)
{
    bool first = true;
    int depth = 0;
    for (;;) {
        const struct token *t = &lc->tok;
        if (t->kind == TK_EOF || tok_is(t, TK_SYM, "}"))
            return;
        if (depth == 0 && (tok_is(t, TK_SYM, ",") || tok_is(t, TK_SYM, ";")))
            return;
        if (tok_is(t, TK_SYM, "{")) {
            loc_table(lc, first ? plen : NO_PATH);
        } else if (tok_is(t, TK_NAME, "function")) {
            loc_function(lc);
        } else {
            if (tok_is(t, TK_SYM, "(") || tok_is(t, TK_SYM, "["))
                depth++;
            else if (tok_is(t, TK_SYM, ")") || tok_is(t, TK_SYM, "]"))
                if (depth-- == 0)
                    return;
            advance(lc);
        }
        first = false;
    }
}

/* A table constructor; current token is '{'. plen is its path, or NO_PATH. */
static void loc_table(struct locator *lc, size_t plen)
{
    size_t idx = 0;
    if (lc->nest >= 64) {
        /* Deeper than any configuration needs: skip to the matching brace without
         * recursing, so hostile nesting cannot exhaust the stack (fuzz_config). */
        long depth = 0;
        do {
            if (tok_is(&lc->tok, TK_SYM, "{"))
                depth++;
            else if (tok_is(&lc->tok, TK_SYM, "}"))
                depth--;
            advance(lc);
        } while (depth > 0 && lc->tok.kind != TK_EOF);
        return;
    }
    lc->nest++;
    advance(lc);
    for (;;) {
        const struct token *t = &lc->tok;
        if (t->kind == TK_EOF)
            break;
        if (tok_is(t, TK_SYM, "}")) {
            advance(lc);
            break;
        }
        struct token p1 = peek(lc, 1);
        if (t->kind == TK_NAME && !is_keyword(t) && tok_is(&p1, TK_SYM, "=")) {
            size_t np = plen == NO_PATH ? NO_PATH : path_add_key(lc->path, plen, t->s, t->len);
            record(lc, np, t->line);
            advance(lc);
            advance(lc);
            loc_value(lc, np);
        } else if (tok_is(t, TK_SYM, "[")) {
            struct token p2 = peek(lc, 2), p3 = peek(lc, 3);
            if (p1.kind == TK_STRING && p1.plain && tok_is(&p2, TK_SYM, "]") &&
                tok_is(&p3, TK_SYM, "=")) {
                size_t np = plen == NO_PATH ? NO_PATH : path_add_key(lc->path, plen, p1.s, p1.len);
                record(lc, np, t->line);
                for (int i = 0; i < 4; i++)
                    advance(lc);
                loc_value(lc, np);
            } else {
                /* [expr] = value: skip the key, then the value, unnamed */
                int depth = 0;
                do {
                    if (tok_is(&lc->tok, TK_SYM, "["))
                        depth++;
                    else if (tok_is(&lc->tok, TK_SYM, "]"))
                        depth--;
                    advance(lc);
                } while (depth > 0 && lc->tok.kind != TK_EOF);
                if (tok_is(&lc->tok, TK_SYM, "="))
                    advance(lc);
                loc_value(lc, NO_PATH);
            }
        } else {
            idx++;
            size_t np = plen == NO_PATH ? NO_PATH : path_add_index(lc->path, plen, idx);
            record(lc, np, t->line);
            loc_value(lc, np);
        }
        if (tok_is(&lc->tok, TK_SYM, ",") || tok_is(&lc->tok, TK_SYM, ";"))
            advance(lc);
        else if (!tok_is(&lc->tok, TK_SYM, "}") && lc->tok.kind != TK_EOF)
            advance(lc); /* malformed: make progress */
    }
    lc->nest--;
}

/* Top level: `name = value` and `a.b.c = value` statements; everything else is
 * scanned through, and tables that belong to no named key are walked unnamed. */
static void loc_chunk(struct locator *lc)
{
    advance(lc);
    while (lc->tok.kind != TK_EOF) {
        const struct token *t = &lc->tok;
        if (t->kind == TK_NAME && !is_keyword(t)) {
            unsigned line = t->line;
            size_t np = path_add_key(lc->path, 0, t->s, t->len);
            advance(lc);
            while (tok_is(&lc->tok, TK_SYM, ".")) {
                struct token p1 = peek(lc, 1);
                if (p1.kind != TK_NAME)
                    break;
                advance(lc);
                np = path_add_key(lc->path, np, lc->tok.s, lc->tok.len);
                advance(lc);
            }
            if (tok_is(&lc->tok, TK_SYM, "=")) {
                record(lc, np, line);
                advance(lc);
                if (tok_is(&lc->tok, TK_SYM, "{"))
                    loc_table(lc, np);
            }
        } else if (tok_is(t, TK_SYM, "{")) {
            loc_table(lc, NO_PATH);
        } else if (tok_is(t, TK_NAME, "function")) {
            loc_function(lc);
        } else {
            advance(lc);
        }
    }
}

/* The line where `path` (or its nearest recorded parent) was written, or 0. */
static unsigned locate(const struct locator *lc, const char *path)
{
    size_t len = strlen(path);
    while (len > 0) {
        for (size_t i = lc->n; i-- > 0;) {
            if (strlen(lc->v[i].path) == len && memcmp(lc->v[i].path, path, len) == 0)
                return lc->v[i].line;
        }
        len = path_parent(path, len);
    }
    return 0;
}

static int cmp_error(const void *a, const void *b)
{
    const struct cfg_error *x = a, *y = b;
    /* errors without a line go last; otherwise by line, then in order found */
    unsigned lx = x->line ? x->line : UINT32_MAX, ly = y->line ? y->line : UINT32_MAX;
    if (lx != ly)
        return lx < ly ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void report(struct loader *ld, FILE *err)
{
    struct locator lc;
    memset(&lc, 0, sizeof(lc));
    lc.lx.p = ld->src;
    lc.lx.end = ld->src + ld->srclen;
    lc.lx.line = 1;
    bool need = false;
    for (size_t i = 0; i < ld->nerrs; i++)
        need |= ld->errs[i].path != NULL;
    if (need && ld->src != NULL)
        loc_chunk(&lc);
    for (size_t i = 0; i < ld->nerrs; i++) {
        if (ld->errs[i].path != NULL && ld->errs[i].line == 0)
            ld->errs[i].line = locate(&lc, ld->errs[i].path);
    }
    qsort(ld->errs, ld->nerrs, sizeof(*ld->errs), cmp_error);
    for (size_t i = 0; err != NULL && i < ld->nerrs; i++) {
        const struct cfg_error *e = &ld->errs[i];
        char line[16] = "";
        if (e->line != 0)
            snprintf(line, sizeof(line), ":%u", e->line);
        if (e->path != NULL)
            fprintf(err, "%s%s: %s: %s\n", ld->file, line, e->path, e->msg);
        else
            fprintf(err, "%s%s: %s\n", ld->file, line, e->msg);
    }
    if (err != NULL)
        fflush(err);
    for (size_t i = 0; i < lc.n; i++)
        free(lc.v[i].path);
    free(lc.v);
}

/* ---- load / free -------------------------------------------------------------- */

static char *read_file(struct loader *ld, size_t *len)
{
    FILE *f = fopen(ld->file, "rb");
    if (f == NULL) {
        fail_file(ld, 0, "cannot open: %s", strerror(errno));
        return NULL;
    }
    size_t cap = 8192, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (n == cap) {
            if (cap >= MAX_FILE_SIZE) {
                fail_file(ld, 0, "too large (more than %uMB)", MAX_FILE_SIZE >> 20);
                goto fail;
            }
            buf = xrealloc(buf, cap *= 2);
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            if (ferror(f)) {
                fail_file(ld, 0, "cannot read: %s", strerror(errno));
                goto fail;
            }
            break;
        }
    }
    fclose(f);
    *len = n;
    return buf;
fail:
    fclose(f);
    free(buf);
    return NULL;
}

/* ---- page templates ----------------------------------------------------------- */

#define TEMPLATE_FILE_MAX (1u << 20) /* bytes of one template file */

/* In the order tried: the first that exists is the template (render/tpl.h derives
 * its escaping from the name). */
static const char *const template_exts[] = {".html.mustache", ".json.mustache", ".txt.mustache"};
#define TEMPLATE_EXTS "{html,json,txt}"

/* The loader of one channel's set: NAME is DIR/<channel>/NAME.<ext>, else
 * DIR/NAME.<ext>. Lives only while the sets are built (build_pages): the sets are
 * complete then, and render/ never calls a loader at render time. */
struct tpl_files {
    const char *dir;
    const char *channel;
    char *text; /* the last file read, handed to the set until the next call */
    size_t cap;
    char file[PATH_MAX];     /* its path, as found */
    char missing[257];       /* the last name not found */
    char why[PATH_MAX + 64]; /* why the last file could not be read */
};

/* DIR joined with the rest, without doubling a '/' the directory ends with. */
static int template_path(char *buf, size_t cap, const char *dir, const char *channel,
                         const char *name, size_t len, const char *ext)
{
    size_t dl = strlen(dir);
    const char *sep = dl > 0 && dir[dl - 1] == '/' ? "" : "/";
    int n = channel != NULL
                ? snprintf(buf, cap, "%s%s%s/%.*s%s", dir, sep, channel, (int)len, name, ext)
                : snprintf(buf, cap, "%s%s%.*s%s", dir, sep, (int)len, name, ext);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* Reads tf->file into tf->text. Returns 0, 1 when there is no such file, or -1
 * with tf->why set. */
static int read_template(struct tpl_files *tf, size_t *len)
{
    int fd = open(tf->file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 1;
        snprintf(tf->why, sizeof(tf->why), "%s: %s", tf->file, strerror(errno));
        return -1;
    }
    struct stat st;
    size_t n = 0;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(tf->why, sizeof(tf->why), "%s: not a regular file", tf->file);
        goto fail;
    }
    if (tf->cap < TEMPLATE_FILE_MAX + 1) {
        /* sized by the file, and one more byte to see one that grows past the cap */
        size_t want =
            st.st_size < TEMPLATE_FILE_MAX ? (size_t)st.st_size + 1 : TEMPLATE_FILE_MAX + 1;
        if (want > tf->cap) {
            tf->text = xrealloc(tf->text, want);
            tf->cap = want;
        }
    }
    for (;;) {
        if (n == tf->cap) {
            if (tf->cap > TEMPLATE_FILE_MAX) {
                snprintf(tf->why, sizeof(tf->why), "%s: larger than %uMB", tf->file,
                         TEMPLATE_FILE_MAX >> 20);
                goto fail;
            }
            tf->cap = tf->cap * 2 > TEMPLATE_FILE_MAX + 1 ? TEMPLATE_FILE_MAX + 1 : tf->cap * 2;
            tf->text = xrealloc(tf->text, tf->cap);
        }
        ssize_t r = read(fd, tf->text + n, tf->cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(tf->why, sizeof(tf->why), "%s: %s", tf->file, strerror(errno));
            goto fail;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    *len = n;
    return 0;
fail:
    close(fd);
    return -1;
}

/* tpl_load_cb. Partial names come from template files: the rule of
 * routes[i].template (its key, for the bounds) keeps them inside the directory. */
static int template_load(void *arg, const char *name, size_t len, struct tpl_source *src)
{
    const struct key *k = route_keys;
    while (k->type != T_TEMPLATE_NAME)
        k++;
    struct tpl_files *tf = arg;
    char buf[160];
    const char *why = bad_template_name(k, name, len, buf, sizeof(buf));
    tf->why[0] = '\0';
    if (why != NULL) {
        snprintf(tf->why, sizeof(tf->why), "not a template name: %s", why);
        return TPL_E_LOAD;
    }
    for (int shared = 0; shared < 2; shared++) {
        for (size_t i = 0; i < ARRAY_SIZE(template_exts); i++) {
            size_t n = 0;
            if (template_path(tf->file, sizeof(tf->file), tf->dir, shared ? NULL : tf->channel,
                              name, len, template_exts[i]) < 0) {
                snprintf(tf->why, sizeof(tf->why), "the path of \"%.*s\" is too long", (int)len,
                         name);
                return TPL_E_LOAD;
            }
            int rc = read_template(tf, &n);
            if (rc < 0)
                return TPL_E_LOAD;
            if (rc > 0)
                continue;
            int esc = tpl_escape_for_file(tf->file);
            src->text = tf->text;
            src->len = n;
            src->file = tf->file;
            src->escape = esc < 0 ? TPL_ESCAPE_NONE : (enum tpl_escape)esc;
            return 0;
        }
    }
    snprintf(tf->missing, sizeof(tf->missing), "%.*s", (int)len, name);
    return TPL_E_NOT_FOUND;
}

/* One distinct failure of a page's template, with the channels it happened for. */
struct page_error {
    struct tpl_error err;
    char missing[257];
    char why[PATH_MAX + 64];
    uint64_t channels; /* bit i: channel_names.items[i] (at most 32 names) */
};

/* `DIR/{web,app}/NAME.{html,json,txt}.mustache, DIR/NAME.{...}.mustache`: the
 * files looked for, shell-brace style, for the channels in mask. */
static void tried_paths(char *buf, size_t cap, const struct cfg *c, uint64_t mask, const char *name)
{
    char chans[512];
    size_t o = 0, k = 0;
    chans[0] = '\0';
    for (size_t i = 0; i < c->channel_names.n && o < sizeof(chans); i++)
        if (mask & (1ull << i))
            o += (size_t)snprintf(chans + o, sizeof(chans) - o, "%s%s", k++ ? "," : "",
                                  c->channel_names.items[i]);
    char a[480] = "?", b[480] = "?"; /* a longer path is cut: the message stays one line */
    if (k > 1) {
        char braced[520];
        snprintf(braced, sizeof(braced), "{%s}", chans);
        template_path(a, sizeof(a), c->templates, braced, name, strlen(name),
                      "." TEMPLATE_EXTS ".mustache");
    } else {
        template_path(a, sizeof(a), c->templates, chans, name, strlen(name),
                      "." TEMPLATE_EXTS ".mustache");
    }
    template_path(b, sizeof(b), c->templates, NULL, name, strlen(name),
                  "." TEMPLATE_EXTS ".mustache");
    snprintf(buf, cap, "%s, %s", a, b);
}

/* Compiles route r's template in every channel's set, then reports each distinct
 * failure once (a shared file fails alike for every channel) at routes[i].template. */
static void build_page(struct loader *ld, struct tpl_files *tfs, size_t ri)
{
    struct cfg *c = ld->c;
    struct cfg_route *r = &c->routes[ri];
    size_t nch = c->channel_names.n;
    struct page_error *pe = xcalloc(nch, sizeof(*pe));
    size_t npe = 0;
    r->tpls = xcalloc(nch, sizeof(*r->tpls));
    for (size_t ch = 0; ch < nch; ch++) {
        struct tpl_error err;
        memset(&err, 0, sizeof(err));
        tfs[ch].missing[0] = '\0';
        if (tpl_set_add(c->tpl_sets[ch], r->template, &r->tpls[ch], &err) == 0)
            continue;
        size_t e;
        for (e = 0; e < npe; e++)
            if (pe[e].err.code == err.code && strcmp(pe[e].err.msg, err.msg) == 0 &&
                strcmp(pe[e].why, tfs[ch].why) == 0)
                break;
        if (e == npe) {
            pe[npe].err = err;
            snprintf(pe[npe].missing, sizeof(pe[npe].missing), "%s", tfs[ch].missing);
            snprintf(pe[npe].why, sizeof(pe[npe].why), "%s", tfs[ch].why);
            npe++;
        }
        pe[e].channels |= 1ull << ch;
    }
    size_t old = push_key(ld, "routes", 6);
    push_index(ld, ri + 1);
    push_key(ld, "template", 8);
    for (size_t e = 0; e < npe; e++) {
        char tried[1024];
        const struct page_error *p = &pe[e];
        if (p->err.code == TPL_E_NOT_FOUND && p->missing[0] != '\0') {
            tried_paths(tried, sizeof(tried), c, p->channels, p->missing);
            if (strcmp(p->missing, r->template) == 0)
                fail(ld, "template \"%s\" not found: tried %s", r->template, tried);
            else
                fail(ld, "%s (tried %s)", p->err.msg, tried);
        } else if (p->err.code == TPL_E_LOAD && p->why[0] != '\0') {
            fail(ld, "%s (%s)", p->err.msg, p->why);
        } else {
            fail(ld, "%s", p->err.msg);
        }
    }
    pop_path(ld, old);
    free(pe);
}

/* Step 3: the template sets, when a route has a template. Runs after the walk,
 * whatever it found, so that template errors are reported with the others; what it
 * builds hangs off the generation, which frees it on failure too. */
static void build_pages(struct loader *ld)
{
    struct cfg *c = ld->c;
    size_t first = SIZE_MAX;
    for (size_t i = 0; c->routes != NULL && i < c->nroutes && first == SIZE_MAX; i++)
        if (c->routes[i].template != NULL)
            first = i;
    size_t nch = c->channel_names.n;
    if (first == SIZE_MAX || c->templates == NULL || nch == 0)
        return;
    struct stat st;
    int e = stat(c->templates, &st) < 0 ? errno : !S_ISDIR(st.st_mode) ? ENOTDIR : 0;
    if (e != 0) {
        char q[128];
        quote(q, sizeof(q), c->templates, strlen(c->templates));
        size_t old = push_key(ld, "templates", 9);
        fail(ld, "cannot read the template directory %s: %s (routes[%zu] has a template)", q,
             strerror(e), first + 1);
        pop_path(ld, old);
        return;
    }
    assert(nch <= 64); /* channels holds at most 32 entries */
    struct tpl_files *tfs = xcalloc(nch, sizeof(*tfs));
    c->tpl_sets = xcalloc(nch, sizeof(*c->tpl_sets));
    for (size_t ch = 0; ch < nch; ch++) {
        tfs[ch].dir = c->templates;
        tfs[ch].channel = c->channel_names.items[ch];
        struct tpl_set_opts opts = {template_load, &tfs[ch], 0, 0};
        c->tpl_sets[ch] = tpl_set_new(&opts);
    }
    for (size_t i = first; i < c->nroutes; i++)
        if (c->routes[i].template != NULL)
            build_page(ld, tfs, i);
    for (size_t ch = 0; ch < nch; ch++)
        free(tfs[ch].text);
    free(tfs);
}

/* ---- hook scripts ------------------------------------------------------------- */

/* Reads a hook script into a NUL-terminated buffer of at most CFG__HOOK_SCRIPT_MAX
 * bytes. Returns it, or NULL with why set. */
static char *read_script(const char *path, size_t *len, char *why, size_t cap)
{
    char q[512];
    quote(q, sizeof(q), path, strlen(path));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, cap, "cannot read %s: %s", q, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, cap, "cannot read %s: not a regular file", q);
        close(fd);
        return NULL;
    }
    /* one byte more than the cap: a file that grew past it is seen */
    char *buf = xmalloc(CFG__HOOK_SCRIPT_MAX + 2);
    size_t n = 0;
    while (n <= CFG__HOOK_SCRIPT_MAX) {
        ssize_t r = read(fd, buf + n, CFG__HOOK_SCRIPT_MAX + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(why, cap, "cannot read %s: %s", q, strerror(errno));
            goto fail;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (n > CFG__HOOK_SCRIPT_MAX) {
        snprintf(why, cap, "%s is larger than %uMB", q, CFG__HOOK_SCRIPT_MAX >> 20);
        goto fail;
    }
    close(fd);
    buf[n] = '\0';
    *len = n;
    return xrealloc(buf, n + 1);
fail:
    close(fd);
    free(buf);
    return NULL;
}

/* Step 3b: each routes[i].hooks script is read and loaded into one scratch hook VM
 * (the default limits, all scripts together, as a worker loads them): it compiles,
 * its top level runs, and it returns a valid table of hooks. Errors read
 * `routes[i].hooks: scripts/x.lua:LINE: message`. The text is kept in the route,
 * so that workers load what was checked, not what the file holds later. */
static void build_hooks(struct loader *ld)
{
    struct cfg *c = ld->c;
    struct hook_vm *vm = NULL;
    char err[1024];
    for (size_t i = 0; c->routes != NULL && i < c->nroutes; i++) {
        struct cfg_route *r = &c->routes[i];
        if (r->hooks == NULL)
            continue;
        size_t old = push_key(ld, "routes", 6);
        push_index(ld, i + 1);
        push_key(ld, "hooks", 5);
        r->hooks_src = read_script(r->hooks, &r->hooks_len, err, sizeof(err));
        if (r->hooks_src == NULL) {
            fail(ld, "%s", err);
        } else {
            int id;
            if (vm == NULL)
                vm = hook_vm_new(NULL, err, sizeof(err));
            if (vm == NULL)
                fail(ld, "%s", err);
            else if (hook_vm_load(vm, r->hooks, r->hooks_src, r->hooks_len, &id, err,
                                  sizeof(err)) != 0)
                fail(ld, "%s", err);
        }
        pop_path(ld, old);
    }
    hook_vm_free(vm);
}

/* What build_pages and check_routes add to a generation (the rest is the schema's,
 * freed by free_table). */
static void free_pages(struct cfg *c)
{
    for (size_t i = 0; c->routes != NULL && i < c->nroutes; i++) {
        struct cfg_route *r = &c->routes[i];
        for (size_t j = 0; r->fragments != NULL && j < r->nfragments; j++) {
            struct cfg_route *h = r->fragments[j].route;
            if (h == NULL)
                continue;
            free(h->path);
            free(h->cache);
            free(h);
        }
        free(r->specs);
        free(r->tpls);
    }
    for (size_t i = 0; c->tpl_sets != NULL && i < c->channel_names.n; i++)
        tpl_set_free(c->tpl_sets[i]);
    free(c->tpl_sets);
}

static void free_table(const struct section *sec, char *base)
{
    for (size_t i = 0; i < sec->nkeys; i++) {
        const struct key *k = &sec->keys[i];
        char *field = base + k->off;
        switch (k->type) {
        case T_ADDR: free(((struct cfg_addr *)field)->text); break;
        case T_ADDR_LIST: {
            struct cfg_addr *a = *(struct cfg_addr **)field;
            size_t n = *(size_t *)(base + k->count_off);
            for (size_t j = 0; a != NULL && j < n; j++)
                free(a[j].text);
            free(a);
            break;
        }
        case T_PATH:
        case T_PATH_OR_OFF:
        case T_INPUT_FILE:
        case T_DIR:
        case T_TEMPLATE_NAME:
        case T_FRAGMENT_PATH:
        case T_TEXT: free(*(char **)field); break;
        case T_HOOK_SCRIPT:
            free(*(char **)field);
            free(((struct cfg_route *)base)->hooks_src); /* the only HOOK_SCRIPT key */
            break;
        case T_JSON: json_decref(*(json_t **)field); break;
        case T_ROUTE_PATH:
            free(((struct cfg_route *)base)->path);
            free(((struct cfg_route *)base)->segs);
            break;
        case T_QUERY_NAMES:
        case T_COOKIE_NAMES:
        case T_HEADER_NAMES: {
            struct cfg_strlist *l = (struct cfg_strlist *)field;
            for (size_t j = 0; l->items != NULL && j < l->n; j++)
                free(l->items[j]);
            free(l->items);
            break;
        }
        case T_CHANNEL_NAME: free(*(char **)field); break;
        case T_UA_ALTERNATIVES: {
            struct cfg_strlist *l = (struct cfg_strlist *)field;
            for (size_t j = 0; l->items != NULL && j < l->n; j++)
                free(l->items[j]);
            free(l->items);
            break;
        }
        case T_HEADER_PAIR:
        case T_COOKIE_PAIR:
        case T_QUERY_PAIR:
            free(((struct cfg_channel_pair *)field)->name);
            free(((struct cfg_channel_pair *)field)->value);
            break;
        case T_TOKEN_FILE: {
            struct cfg_secret *secret = (struct cfg_secret *)field;
            if (secret->value != NULL)
                explicit_bzero(secret->value, secret->len);
            free(secret->value);
            free(secret->file);
            free(secret->error);
            break;
        }
        case T_CIDR_LIST: {
            struct cfg_cidr *a = *(struct cfg_cidr **)field;
            size_t n = *(size_t *)(base + k->count_off);
            for (size_t j = 0; a != NULL && j < n; j++)
                free(a[j].text);
            free(a);
            break;
        }
        case T_SECTION: free_table(k->sub, base); break;
        case T_TABLE: {
            char *item = *(char **)field;
            if (item != NULL)
                free_table(k->sub, item);
            free(item);
            break;
        }
        case T_LIST:
        case T_MAP: {
            char *items = *(char **)field;
            size_t n = *(size_t *)(base + k->count_off);
            for (size_t j = 0; items != NULL && j < n; j++) {
                char *item = items + j * k->sub->elem_size;
                free_table(k->sub, item);
                if (k->type == T_MAP)
                    free(*(char **)(item + k->sub->name_off));
            }
            free(items);
            break;
        }
        default: break;
        }
    }
}

static void cfg_free(struct cfg *c)
{
    channel__cfg_fini(c);
    free_pages(c);
    for (size_t i = 0; c->channel_names.items != NULL && i < c->channel_names.n; i++)
        free(c->channel_names.items[i]);
    free(c->channel_names.items);
    free_table(&sec_top, (char *)c);
    free(c->file);
    c->magic = 0;
    free(c);
}

struct cfg *cfg_load(const char *path, FILE *err)
{
    struct loader ld;
    struct sandbox *sb = NULL;
    memset(&ld, 0, sizeof(ld));
    ld.file = path;
    ld.c = xcalloc(1, sizeof(*ld.c));
    ld.c->magic = CFG_MAGIC;
    ld.c->refs = 1;
    ld.c->file = xstrdup(path);

    char *src = read_file(&ld, &ld.srclen);
    if (src == NULL)
        goto done;
    ld.src = src;

    sb = sandbox_new(MAX_LUA_MEMORY, MAX_LUA_STEPS);
    if (sb == NULL) {
        fail_file(&ld, 0, "cannot create a Lua state");
        goto done;
    }
    ld.L = sandbox_state(sb);
    if (ld.srclen > 0 && src[0] == '\033') {
        /* LuaJIT bytecode is not verified, and a crafted one can crash the loader;
         * mode "t" below refuses it too, with a vaguer message. */
        fail_file(&ld, 0, "precompiled Lua is not accepted: give the source file");
        goto done;
    }
    /* A UTF-8 byte order mark is not Lua; editors on some systems add one. */
    size_t skip = ld.srclen >= 3 && memcmp(src, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    sandbox_arm(sb);
    int status = luaL_loadbufferx(ld.L, src + skip, ld.srclen - skip, "=" CHUNK_NAME, "t");
    if (status == 0)
        status = lua_pcall(ld.L, 0, 0, 0);
    /* The file's part is over: the walk's own small allocations must not fail. */
    sandbox_disarm(sb);
    if (status != 0) {
        lua_failure(&ld, status, sb);
        goto done;
    }
    status = lua_cpcall(ld.L, walk, &ld);
    if (status != 0) {
        fail_file(&ld, 0, "internal error while checking: %s",
                  lua_type(ld.L, -1) == LUA_TSTRING ? lua_tostring(ld.L, -1) : "?");
        goto done;
    }
    build_pages(&ld);
    build_hooks(&ld);
    if (ld.nerrs == 0)
        channel__cfg_init(ld.c); /* what classification needs, from the checked rules */

done:
    sandbox_free(sb);
    if (ld.nerrs > 0)
        report(&ld, err);
    for (size_t i = 0; i < ld.nerrs; i++) {
        free(ld.errs[i].path);
        free(ld.errs[i].msg);
    }
    free(ld.errs);
    free(src);
    if (ld.nerrs > 0) {
        cfg_free(ld.c);
        return NULL;
    }
    return ld.c;
}

struct cfg *cfg_ref(struct cfg *c)
{
    assert(c->magic == CFG_MAGIC);
    __atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
    return c;
}

void cfg_unref(struct cfg *c)
{
    if (c == NULL)
        return;
    assert(c->magic == CFG_MAGIC);
    /* acq_rel: the freeing thread must see every other thread's last reads done */
    if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0)
        cfg_free(c);
}

static int cmp_origin_name(const void *key, const void *item)
{
    return strcmp(key, ((const struct cfg_origin *)item)->name);
}

const struct cfg_origin *cfg_origin_find(const struct cfg *c, const char *name)
{
    if (c == NULL || name == NULL || c->norigins == 0)
        return NULL;
    return bsearch(name, c->origins, c->norigins, sizeof(*c->origins), cmp_origin_name);
}

/* ---- --help-config ------------------------------------------------------------ */

/* "LABEL, MIN..MAX bytes": the help text of a key whose value is text. */
static void bytes_range(char *buf, size_t cap, const char *label, const struct key *k)
{
    snprintf(buf, cap, "%s, %llu..%llu bytes", label, (unsigned long long)k->min,
             (unsigned long long)k->max);
}

static void help_type(const struct key *k, char *buf, size_t cap)
{
    char lo[32], hi[32];
    switch (k->type) {
    case T_WORKERS:
        snprintf(buf, cap, "\"auto\" or integer %llu..%llu", (unsigned long long)k->min,
                 (unsigned long long)k->max);
        break;
    case T_INT:
    case T_UINT:
        snprintf(buf, cap, "integer %llu..%llu", (unsigned long long)k->min,
                 (unsigned long long)k->max);
        break;
    case T_DURATION:
        fmt_duration(lo, sizeof(lo), k->min);
        fmt_duration(hi, sizeof(hi), k->max);
        snprintf(buf, cap, "duration %s..%s", lo, hi);
        break;
    case T_SIZE:
        fmt_size(lo, sizeof(lo), k->min);
        fmt_size(hi, sizeof(hi), k->max);
        snprintf(buf, cap, "size %s..%s", lo, hi);
        break;
    case T_ADDR: snprintf(buf, cap, "address"); break;
    case T_ADDR_LIST:
        snprintf(buf, cap, "array of %llu..%llu addresses", (unsigned long long)k->min,
                 (unsigned long long)k->max);
        break;
    case T_PATH: snprintf(buf, cap, "file path or \"-\""); break;
    case T_PATH_OR_OFF: snprintf(buf, cap, "file path, \"-\" or false"); break;
    case T_INPUT_FILE: snprintf(buf, cap, "path of a readable file"); break;
    case T_DIR: snprintf(buf, cap, "directory path"); break;
    case T_BOOL: snprintf(buf, cap, "true or false"); break;
    case T_LOG_FORMAT: snprintf(buf, cap, "\"combined\" | \"json\""); break;
    case T_LOG_LEVEL: snprintf(buf, cap, "\"error\" | \"warn\" | \"info\" | \"debug\""); break;
    case T_ROUTE_PATH: snprintf(buf, cap, "path pattern"); break;
    case T_ORIGIN_REF: snprintf(buf, cap, "origin name"); break;
    case T_TEMPLATE_NAME: bytes_range(buf, cap, "template name", k); break;
    case T_FRAGMENT_PATH: bytes_range(buf, cap, "request path", k); break;
    case T_HOOK_SCRIPT: bytes_range(buf, cap, "Lua script path", k); break;
    case T_HOOK_ERRORS: snprintf(buf, cap, "\"fail\" | \"ignore\""); break;
    case T_JSON:
        fmt_size(lo, sizeof(lo), k->max);
        snprintf(buf, cap, "any Lua value as JSON, up to %s", lo);
        break;
    case T_QUERY_NAMES:
    case T_COOKIE_NAMES:
    case T_HEADER_NAMES:
        snprintf(buf, cap, "array of %llu..%llu %s", (unsigned long long)k->min,
                 (unsigned long long)k->max, name_kind_of(k->type)->plural);
        break;
    case T_CHANNEL_NAME: bytes_range(buf, cap, "channel name", k); break;
    case T_FLAG: snprintf(buf, cap, "true"); break;
    case T_UA_ALTERNATIVES:
        snprintf(buf, cap, "\"A|B\": 1..%d texts of %llu..%llu bytes", CFG__UA_ALTERNATIVES,
                 (unsigned long long)k->min, (unsigned long long)k->max);
        break;
    case T_HEADER_PAIR:
        snprintf(buf, cap, "{ [\"Field\"] = value of %llu..%llu bytes }",
                 (unsigned long long)k->min, (unsigned long long)k->max);
        break;
    case T_COOKIE_PAIR:
    case T_QUERY_PAIR:
        snprintf(buf, cap, "{ name = value of %llu..%llu bytes }", (unsigned long long)k->min,
                 (unsigned long long)k->max);
        break;
    case T_TOKEN_FILE:
        snprintf(buf, cap, "path of a file holding %llu..%llu bytes", (unsigned long long)k->min,
                 (unsigned long long)k->max);
        break;
    case T_CIDR_LIST:
        snprintf(buf, cap, "array of %llu..%llu addresses or networks", (unsigned long long)k->min,
                 (unsigned long long)k->max);
        break;
    case T_TEXT: bytes_range(buf, cap, "text", k); break;
    case T_SECTION:
    case T_TABLE: snprintf(buf, cap, "table"); break;
    case T_LIST:
        snprintf(buf, cap, "array of %llu..%llu tables", (unsigned long long)k->min,
                 (unsigned long long)k->max);
        break;
    case T_MAP:
        snprintf(buf, cap, "table of %llu..%llu NAME = table", (unsigned long long)k->min,
                 (unsigned long long)k->max);
        break;
    }
    if (k->unit[0] != '\0' && (k->type == T_INT || k->type == T_UINT || k->type == T_WORKERS)) {
        size_t n = strlen(buf);
        snprintf(buf + n, cap - n, " (%s)", k->unit);
    }
}

static void help_section(FILE *out, const struct section *sec)
{
    for (size_t i = 0; i < sec->nkeys; i++) {
        const struct key *k = &sec->keys[i];
        char path[128], type[96], def[64];
        snprintf(path, sizeof(path), "%s%s%s", sec->help_path, sec->help_path[0] ? "." : "",
                 k->name);
        help_type(k, type, sizeof(type));
        if (k->def == NULL)
            snprintf(def, sizeof(def), "required");
        else if (strcmp(k->def, "nil") == 0)
            snprintf(def, sizeof(def), "optional");
        else if (k->type == T_INT || k->type == T_UINT || k->type == T_BOOL ||
                 container_what(k) != NULL ||
                 (k->type == T_PATH_OR_OFF && strcmp(k->def, "false") == 0))
            snprintf(def, sizeof(def), "default %s", k->def);
        else
            snprintf(def, sizeof(def), "default \"%s\"", k->def);
        fprintf(out, "%-36s %-38s %s\n    %s\n", path, type, def, k->doc);
        if (k->sub != NULL)
            help_section(out, k->sub);
    }
}

void cfg_help(FILE *out)
{
    fputs("Tessera configuration: a Lua file that assigns the keys below as globals; it runs\n"
          "in an empty sandbox (no libraries), and `tessera -t -c FILE` checks one.\n"
          "Durations are strings: \"250ms\", \"30s\", \"5m\", \"1h\", \"2d\", also \"1m30s\".\n"
          "Sizes are strings: \"100B\", \"16KB\", \"512MB\", \"1GB\" (1KB = 1024 bytes), or a\n"
          "number of bytes. Addresses are \"ip:port\" or \"[ipv6]:port\"; \"localhost\" and \"*\"\n"
          "are accepted as hosts. Unknown keys are errors.\n\n",
          out);
    help_section(out, &sec_top);
}
