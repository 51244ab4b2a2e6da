/* SPDX-License-Identifier: Apache-2.0
 *
 * cfg: the configuration generation. A file (a declarative Lua table, evaluated in
 * an empty sandbox) is loaded and validated against the schema in cfg_schema.h;
 * every error is reported as `file:line: key.path: expected ..., got ...`.
 *
 * A loaded generation is immutable and refcounted: the main thread loads it, the
 * workers take references (one per request in flight), SIGHUP swaps in a new one
 * and the old one is freed when its last request ends. cfg_ref/cfg_unref are
 * thread-safe; everything else in a generation is read-only after cfg_load.
 */
#ifndef TESSERA_CFG_H
#define TESSERA_CFG_H

#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

struct cfg_addr {
    char *text;                 /* as written, e.g. "127.0.0.1:9000" */
    struct sockaddr_storage sa; /* resolved numerically (no DNS at load time) */
    socklen_t sa_len;
};

/* listen[i].tls.certificates[j]: one more certificate, chosen by SNI. */
struct cfg_tls_cert {
    char *cert; /* PEM chain, the server's own certificate first */
    char *key;  /* PEM private key, unencrypted */
};

/* listen[i].tls. cfg_load checks only that the files can be read (paths as written,
 * relative ones from the working directory); tls_ctx_new parses them, so `tessera -t`
 * must build a tls_ctx from this to report a bad certificate. */
struct cfg_tls {
    char *cert; /* tls.cert: default certificate (no SNI, or no other matches) */
    char *key;  /* tls.key */
    struct cfg_tls_cert *certificates; /* tls.certificates: more, chosen by SNI */
    size_t ncertificates;
    int tickets;                 /* tls.tickets: session tickets on, default true */
    uint64_t ticket_lifetime_ms; /* tls.ticket_lifetime, default 12h */
};

struct cfg_listen {
    struct cfg_addr addr;
    int backlog;
    struct cfg_tls *tls; /* listen[i].tls; NULL: plain TCP */
};

struct cfg_origin {
    char *name;
    struct cfg_addr *servers;
    size_t nservers;
    uint64_t connect_timeout_ms;   /* origins.X.connect_timeout, default 1s */
    uint64_t timeout_ms;           /* origins.X.timeout: wait for response head and
                                      between reads of the body, default 30s */
    unsigned max_fails;            /* origins.X.max_fails: failures in a row before the
                                      server is skipped, default 3 */
    uint64_t fail_timeout_ms;      /* origins.X.fail_timeout: how long it is skipped, 10s */
    unsigned keepalive;            /* origins.X.keepalive: idle connections kept per
                                      worker per server, default 32 */
    uint64_t keepalive_timeout_ms; /* origins.X.keepalive_timeout, default 60s */
};

/* One segment of a route pattern: a literal, a ":name" parameter (one segment) or
 * a final "*" (the rest of the path, possibly empty). */
enum cfg_seg_kind { CFG_SEG_LITERAL, CFG_SEG_PARAM, CFG_SEG_REST };

struct cfg_seg {
    enum cfg_seg_kind kind;
    char *text; /* literal text, or the parameter name without ':' */
    size_t len;
};

/* A list of names from routes[i].cache (query parameters, cookies, header fields).
 * items is NULL when the key is absent, and non-NULL (n may be 0) when it is present,
 * even as {}: `keep = {}` (keep no parameter) is not the same as no keep at all.
 * Each item is a NUL-terminated string of 1..CFG_NAME_MAX bytes owned by the
 * generation; where the key allows it, a final '*' makes it a prefix wildcard
 * ("utm_*" matches "utm_source"; "*" alone matches every name). */
#define CFG_NAME_MAX 128
struct cfg_strlist {
    char **items;
    size_t n;
};

/* routes[i].cache: present when the route's responses are cached. Names in the lists
 * are case-sensitive except header names; query names are the percent-decoded form
 * (the loader refuses '%', '&', '=', '#', white space and control bytes in them);
 * cookie and header names are RFC 9110 tokens. */
struct cfg_route_cache {
    uint64_t ttl_ms;                    /* ttl: overrides the origin's freshness; 0 = not set */
    int ignore_origin_cc;               /* ignore_origin_cache_control */
    int allow_set_cookie;               /* allow_set_cookie */
    uint64_t stale_if_error_ms;         /* stale_if_error, default 0 */
    uint64_t stale_while_revalidate_ms; /* stale_while_revalidate, default 0 */
    struct cfg_strlist query_keep;      /* cache.query.keep */
    struct cfg_strlist query_drop;      /* cache.query.drop */
    struct cfg_strlist strip_cookies;   /* cache.strip_cookies */
    struct cfg_strlist bypass_cookies;  /* cache.bypass.cookies */
    struct cfg_strlist bypass_headers;  /* cache.bypass.headers, lower-cased */
    struct cfg_strlist bypass_query;    /* cache.bypass.query */
};

struct compose_spec;
struct tpl;
struct tpl_set;
struct json_t;

/* routes[i].fragments.NAME: one API fragment of a page route. The name is an
 * identifier (templates refer to it); every ":name" in path is a parameter of the
 * page route's pattern (":*" the rest of a "*" pattern), checked at load. */
struct cfg_fragment {
    char *name;
    const struct cfg_origin *origin; /* origin, resolved by name (also route->origin) */
    char *path;                      /* "/api/product/:id": :name from the page's route */
    uint64_t timeout_ms;             /* timeout, default 1s */
    uint64_t stale_if_error_ms;      /* stale_if_error: last good copy window, default 0 */
    int required;                    /* required = true: its failure fails the page */
    struct cfg_strlist query;        /* page query parameters passed on */
    struct cfg_strlist headers;      /* page request fields passed on (lower-cased) */
    struct json_t *fallback;         /* fallback (any Lua value as JSON), NULL: none; one
                                        reference owned by the generation */
    struct cfg_route *route;         /* hidden: its origin, cache = {} (the origin's caching
                                        headers decide), path "fragment:NAME" (the metrics
                                        label), no template, its own stats */
};

struct cfg_route {
    char *path; /* the pattern as written */
    struct cfg_seg *segs;
    size_t nsegs;
    const struct cfg_origin *origin; /* routes[i].origin, resolved by name */
    struct cfg_route_cache *cache;   /* routes[i].cache, NULL: not cached */
    /* Page routes (proxy/page.c): a template instead of an origin. cfg_load
     * guarantees exactly one of origin and template, and fragments only with a
     * template. */
    char *template;                 /* routes[i].template ("pages/product"), NULL: none */
    struct cfg_fragment *fragments; /* routes[i].fragments, in name order */
    size_t nfragments;
    struct compose_spec *specs; /* [nfragments] (NULL when 0), what compose_start takes */
    const struct tpl **tpls;    /* [channel_names.n]: the page's template per channel,
                                   indexed like cfg.channel_names.items, in tpl_sets */
    /* Lua hooks (lua/hooks.h): the script as cfg_load read and checked it (compiled
     * and run in a scratch hook VM), so that workers load exactly that text. */
    char *hooks;     /* routes[i].hooks: the path as written, NULL: no hooks */
    char *hooks_src; /* its text (NUL-terminated, hooks_len bytes before the NUL) */
    size_t hooks_len;
    int hook_errors_ignore; /* routes[i].hook_errors: 0 "fail" (default), 1 "ignore" */
    /* Cache outcome counters of this route in this generation (rcache.c, atomic;
     * the one mutable part of a generation, read by /metrics). */
    uint64_t stats[8];
};

/* channels[i]: one rule of client channel classification (proxy/channel.h). The
 * rules are tried in file order and the first that matches names the channel; the
 * last one has no condition and is the default. cfg_load guarantees nchannels >= 1,
 * at most one condition per entry (`kind` says which, the other members are zero)
 * and CFG_CHANNEL_DEFAULT for the last entry only. */
enum cfg_channel_kind {
    CFG_CHANNEL_DEFAULT = 0,        /* no condition: always matches */
    CFG_CHANNEL_HEADER,             /* header = { ["X-Channel"] = "app" } */
    CFG_CHANNEL_CLIENT_HINT_MOBILE, /* client_hint_mobile = true: Sec-CH-UA-Mobile: ?1 */
    CFG_CHANNEL_USER_AGENT,         /* user_agent = "Android|iPhone|Mobile" */
    CFG_CHANNEL_COOKIE,             /* cookie = { bucket = "b" } */
    CFG_CHANNEL_QUERY,              /* query = { channel = "app" } */
};

/* A { [NAME] = VALUE } condition; name is NULL when the key is absent. Header names
 * are kept as written (compared in any case, and written so in Vary); cookie names
 * are RFC 9110 tokens and query names the percent-decoded form, both compared
 * exactly, like values. NUL-terminated, owned by the generation. */
struct cfg_channel_pair {
    char *name;
    size_t name_len;
    char *value;
    size_t value_len;
};

struct cfg_channel {
    char *name;                 /* channels[i].name */
    size_t name_idx;            /* its index in cfg.channel_names */
    enum cfg_channel_kind kind; /* the condition below that is set */
    struct cfg_channel_pair header;
    int client_hint_mobile;
    struct cfg_strlist user_agent; /* alternatives, ASCII lower-cased; items NULL: absent */
    struct cfg_channel_pair cookie;
    struct cfg_channel_pair query;
};

struct channel_ua; /* compiled user_agent alternatives, private to proxy/channel.c */

/* A secret read from a file at load (TOKEN_FILE): value is NULL when the key is
 * absent or the file is missing, unreadable, empty or not visible ASCII, and
 * `error` then says which (NULL when the key is absent). */
struct cfg_secret {
    char *file;  /* the path as written */
    char *value; /* the secret without the white space around it, NUL-terminated */
    size_t len;
    char *error; /* why value is NULL: "cannot read conf/admin.token: No such file ..." */
};

/* admin: the admin listener (metrics, purge). */
struct cfg_admin {
    struct cfg_addr addr;    /* admin.addr */
    struct cfg_secret token; /* admin.token_file: POST /purge's bearer token */
};

/* One entry of an address allow-list (CIDR_LIST): an address and how many of its
 * leading bits a client's must share ("10.0.0.0/8"; a bare address is /32 or
 * /128). Bits past the prefix are zero (the loader refuses others). */
struct cfg_cidr {
    char *text;       /* as written */
    int family;       /* AF_INET or AF_INET6 */
    uint8_t addr[16]; /* network byte order; 4 bytes used for AF_INET */
    unsigned bits;
};

/* purge: the PURGE method on the client listeners. */
struct cfg_purge {
    struct cfg_cidr *allow; /* purge.allow: clients that may send PURGE */
    size_t nallow;
};

/* cache.redis: the Redis L2 shared by edge nodes (proxy/l2.h). One node for now;
 * cfg_load refuses a `servers` list (Redis Cluster seeds are a later issue). */
struct cfg_redis {
    struct cfg_addr server;      /* cache.redis.server: numeric "ip:port", 127.0.0.1:6379 */
    char *prefix;                /* cache.redis.prefix: before every key, "tessera:" */
    uint64_t timeout_ms;         /* cache.redis.timeout: each operation, default 5ms */
    uint64_t connect_timeout_ms; /* cache.redis.connect_timeout, default 100ms */
    uint64_t ttl_max_ms;         /* cache.redis.ttl_max: longest expiry, default 1d */
    struct {
        unsigned failures;    /* cache.redis.breaker.failures: in a row, default 5 */
        uint64_t cooldown_ms; /* cache.redis.breaker.cooldown, default 1s */
    } breaker;
};

enum cfg_log_format { CFG_LOG_COMBINED, CFG_LOG_JSON };
enum cfg_log_level { CFG_LOG_ERROR, CFG_LOG_WARN, CFG_LOG_INFO, CFG_LOG_DEBUG };

struct cfg {
    unsigned magic;
#define CFG_MAGIC 0x43464731u
    char *file;

    unsigned workers; /* "auto" resolves to the number of online CPUs */

    struct cfg_listen *listen;
    size_t nlisten;

    struct cfg_origin *origins;
    size_t norigins;

    struct cfg_route *routes; /* in file order; the first match wins */

    struct cfg_admin *admin; /* admin, NULL: no admin listener */
    size_t nroutes;

    struct cfg_purge *purge; /* purge, NULL: PURGE is refused */

    struct cfg_channel *channels;     /* channels, in file order; the last is the default */
    size_t nchannels;                 /* >= 1; absent channels means { { name = "web" } } */
    struct cfg_strlist channel_names; /* the distinct names, in order of first use: the
                                         one copy channel_classify returns, and the
                                         template folders to look for */
    char *channel_vary;               /* request fields the rules read, for Vary; "" none */
    struct channel_ua *channel_ua;    /* the user_agent matcher; NULL when no rule has one */

    char *templates;           /* templates: the template directory, default "templates" */
    struct tpl_set **tpl_sets; /* [channel_names.n], one set per channel (its loader looked
                                  in templates/<channel>/ first, then templates/); NULL
                                  when no route has a template. Complete and immutable
                                  once loaded: render from any thread, look up dynamic
                                  partials with tpl_set_get, never tpl_set_add (the
                                  loader is gone) */

    struct {
        uint64_t header_ms;    /* timeouts.header: whole request head, default 10s */
        uint64_t body_ms;      /* timeouts.body: between reads of a request body, 30s */
        uint64_t keepalive_ms; /* timeouts.keepalive: idle between requests, 75s */
        uint64_t send_ms;      /* timeouts.send: between writes to a client, 30s */
        uint64_t drain_ms;     /* timeouts.drain: in-flight grace on SIGTERM, 10s */
    } timeouts;

    struct {
        uint64_t header_size; /* limits.header_size: request head bytes, 16KB */
        uint64_t uri_size;    /* limits.uri_size: request-target bytes, 8KB */
        unsigned headers;     /* limits.headers: header fields, 100 (<= 256) */
        uint64_t body_size;   /* limits.body_size: request body bytes, 100MB */
        unsigned connections; /* limits.connections: per worker, 10000 */
    } limits;

    struct {
        uint64_t memory;         /* cache.memory: L1 budget in bytes, default 256MB */
        struct cfg_redis *redis; /* cache.redis, NULL: no L2 */
    } cache;

    struct {
        unsigned max_streams;    /* http2.max_concurrent_streams, default 100 */
        uint64_t initial_window; /* http2.initial_window: request body window, 1MB */
    } http2;

    struct {
        char *access;               /* log.access: path, "-" for stdout, NULL for off */
        enum cfg_log_format format; /* log.format: "combined" (default) or "json" */
        char *error;                /* log.error: path or "-" for stderr (default) */
        enum cfg_log_level level;   /* log.level: error|warn|info (default)|debug */
    } log;

    int refs; /* atomic */
};

/* Loads and validates `path`. Returns a generation with one reference, or NULL after
 * writing every error found to `err` (one per line, `file:line: key: message`).
 * Thread: any (it creates and closes its own Lua state). */
struct cfg *cfg_load(const char *path, FILE *err);

struct cfg *cfg_ref(struct cfg *c);
void cfg_unref(struct cfg *c); /* frees on the last reference; NULL is allowed */

const struct cfg_origin *cfg_origin_find(const struct cfg *c, const char *name);

/* Writes the schema (every key, type, default, unit and doc line) to `out`. */
void cfg_help(FILE *out);

/* Parsers shared with the rest of the code base; they return 0 or -1. */
int cfg_parse_duration(const char *s, uint64_t *ms);     /* "250ms" "30s" "5m" "1h" "2d" */
int cfg_parse_size(const char *s, uint64_t *bytes);      /* "512" "16KB" "512MB" "1GB" */
int cfg_parse_addr(const char *s, struct cfg_addr *out); /* "host:port", "[v6]:port" */
/* "10.0.0.0/8", "::1", "fd00::/8" into out (out->text is not set). */
int cfg_parse_cidr(const char *s, struct cfg_cidr *out);
/* 1 when the numeric address `ip` ("10.1.2.3", "::1", "::ffff:10.1.2.3") is in one
 * of the n entries, else 0 (also for text that is not an address). */
int cfg_cidr_match(const struct cfg_cidr *list, size_t n, const char *ip);

#endif
