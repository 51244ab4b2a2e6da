/* SPDX-License-Identifier: Apache-2.0
 *
 * cfg_schema: the configuration schema, one X-macro table per section. cfg.c expands
 * each table into key descriptors from which it applies defaults, validates a
 * loaded file and prints `tessera --help-config`; this file is the only place a key,
 * its bounds, its default or its documentation is written down.
 *
 * Columns: X(key, TYPE, field, min, max, default, unit, doc)
 *   key      the Lua key, as written in conf/tessera.lua
 *   TYPE     DURATION (string like "30s", stored in ms), SIZE ("16KB" or a number
 *            of bytes), INT/UINT (integer), WORKERS ("auto" or integer), ADDR,
 *            ADDR_LIST (array of addresses), PATH ("-" or a file), PATH_OR_OFF (also
 *            false), INPUT_FILE (a file that must be readable when the config is
 *            loaded), DIR (a directory path, checked only where it is used), BOOL,
 *            LOG_FORMAT, LOG_LEVEL, ROUTE_PATH, ORIGIN_REF (name of an origin),
 *            TOKEN_FILE (a file holding a secret of min..max bytes, read at load into
 *            a struct cfg_secret; a file that is missing, unreadable, empty or not
 *            visible ASCII is no error but leaves the secret unset, with the reason),
 *            CIDR_LIST (an array of min..max IPv4 or IPv6 addresses or networks
 *            "10.0.0.0/8", into struct cfg_cidr),
 *            TEXT (a string of min..max visible ASCII characters: no space, control
 *            or non-ASCII byte; stored as a char *),
 *            TEMPLATE_NAME (segments of letters, digits, '_', '-' and '.' joined by
 *            '/', min..max bytes), FRAGMENT_PATH (a request path of VCHARs but '#',
 *            starting with '/', min..max bytes), JSON (any Lua value but functions
 *            and userdata, stored as a json_t of at most max bytes as compact JSON,
 *            CFG__JSON_DEPTH levels deep), HOOK_SCRIPT (a Lua hook script's path,
 *            min..max bytes; the file is read, at most CFG__HOOK_SCRIPT_MAX bytes,
 *            and checked in a hook VM at load), HOOK_ERRORS ("fail" or "ignore",
 *            stored as int 0 or 1), the name lists (an array of strings of 1..CFG_NAME_MAX
 * bytes, stored in a struct cfg_strlist whose items are NULL when the key is absent) QUERY_NAMES
 * (query parameter names, percent-decoded: no '%',
 *            '&', '=', '#', white space or control bytes), COOKIE_NAMES (RFC 9110
 *            tokens) and HEADER_NAMES (tokens, stored lower-cased), where
 *            QUERY_NAMES and COOKIE_NAMES items may end in a '*' wildcard; for
 *            channels: CHANNEL_NAME (a lower-case name usable as a directory, min..max
 *            bytes), FLAG (only true; absent leaves 0), UA_ALTERNATIVES (a string of
 *            literal alternatives "A|B", min..max bytes each, at most
 *            CFG__UA_ALTERNATIVES of them, stored lower-cased in a struct
 *            cfg_strlist) and the one-pair tables HEADER_PAIR, COOKIE_PAIR and
 *            QUERY_PAIR ({ [NAME] = VALUE } into a struct cfg_channel_pair, the value
 *            min..max bytes); and the containers SECTION (a table of keys stored in the
 *            parent's struct), TABLE (a table of keys stored in its own struct, a
 *            pointer that is NULL when the key is absent), LIST (an array of tables)
 *            and MAP (name = table); containers have the sub-schema CFG_SCHEMA_<KEY>
 *   field    member of the section's struct (for LIST, MAP and ADDR_LIST the array;
 *            its count is the member named n<field>); unused for SECTION, whose
 *            keys name their own members of the same struct
 *   min,max  bounds in stored units (ms, bytes, count; item count for lists)
 *   default  the value as written in a config file (unquoted), or NULL: required,
 *            or "nil": optional, absent leaves the field zero (NULL for a TABLE)
 *   unit     what an integer counts, for the help text
 *   doc      one line for --help-config
 * Defaults must pass their own type's checks: cfg.c asserts it on first use.
 * Thread: compile-time data only.
 */
#ifndef TESSERA_CFG_SCHEMA_H
#define TESSERA_CFG_SCHEMA_H

#define CFG__MS_S 1000ull
#define CFG__MS_H (3600ull * 1000)
#define CFG__MS_D (86400ull * 1000)
#define CFG__KB 1024ull
#define CFG__MB (1024ull * 1024)
#define CFG__TB (1024ull * 1024 * 1024 * 1024)
#define CFG__JSON_DEPTH 32              /* most tables inside each other in a JSON value */
#define CFG__HOOK_SCRIPT_MAX (1u << 20) /* bytes of a routes[i].hooks script file */
#define CFG__REDIS_PREFIX_MAX 64        /* bytes of cache.redis.prefix (l2.h agrees) */

/* Top level: the globals a config file defines (struct cfg). */
#define CFG_SCHEMA_TOP(X)                                                                          \
    X(workers, WORKERS, workers, 1, 256, "auto", "threads",                                        \
      "worker threads (one event loop each): \"auto\" starts one per online CPU")                  \
    X(listen, LIST, listen, 1, 256, NULL, "listeners",                                             \
      "where clients connect: an array of { addr = ..., tls = ... }, at least one")                \
    X(origins, MAP, origins, 0, 1000, "{}", "origins",                                             \
      "named upstream pools: origins = { api = { servers = { \"127.0.0.1:9000\" } } }")            \
    X(routes, LIST, routes, 0, 10000, "{}", "routes",                                              \
      "path patterns mapped to origins or page templates, in order; the first match wins")         \
    X(templates, DIR, templates, 0, 0, "templates", "",                                            \
      "directory of page templates and components (relative to the working directory): NAME "      \
      "is DIR/<channel>/NAME.{html,json,txt}.mustache, else DIR/NAME.{html,json,txt}.mustache; "   \
      "read only when a route has a template")                                                     \
    X(channels, LIST, channels, 1, 32, "{ { name = \"web\" } }", "channels",                       \
      "client channel rules, in order; the first match wins and the last entry, with no "          \
      "condition, is the default")                                                                 \
    X(timeouts, SECTION, timeouts, 0, 0, "{}", "", "client-side timeouts")                         \
    X(limits, SECTION, limits, 0, 0, "{}", "", "client request limits")                            \
    X(admin, TABLE, admin, 0, 0, "nil", "",                                                        \
      "the admin listener: { addr = \"127.0.0.1:9901\", token_file = \"conf/admin.token\" } "      \
      "serves /metrics (Prometheus text) and POST /purge")                                         \
    X(purge, TABLE, purge, 0, 0, "nil", "",                                                        \
      "the PURGE method on the client listeners: { allow = { \"127.0.0.1\", \"10.0.0.0/8\" } }; "  \
      "absent: PURGE is refused (405)")                                                            \
    X(cache, SECTION, cache, 0, 0, "{}", "",                                                       \
      "the memory cache (L1) shared by all workers, and the Redis L2 shared by edge nodes")        \
    X(http2, SECTION, http2, 0, 0, "{}", "", "HTTP/2 settings sent to clients")                    \
    X(log, SECTION, log, 0, 0, "{}", "", "access and error logs")

/* listen[i] (struct cfg_listen) */
#define CFG_SCHEMA_LISTEN(X)                                                                       \
    X(addr, ADDR, addr, 0, 0, NULL, "",                                                            \
      "\"host:port\" or \"[v6]:port\"; host is a numeric IP, \"localhost\" or \"*\"; "             \
      "port 0 picks a free port at start")                                                         \
    X(backlog, INT, backlog, 1, 65535, "511", "connections", "length of the kernel accept queue")  \
    X(tls, TABLE, tls, 0, 0, "nil", "",                                                            \
      "TLS 1.2 on this listener: { cert = \"conf/tls/edge.pem\", key = \"conf/tls/edge.key\" }; "  \
      "absent: plain TCP")

/* listen[i].tls (struct cfg_tls) */
#define CFG_SCHEMA_TLS(X)                                                                          \
    X(cert, INPUT_FILE, cert, 0, 0, NULL, "",                                                      \
      "default certificate chain (PEM, the server's own first): served without SNI, or when "      \
      "no other certificate names the host")                                                       \
    X(key, INPUT_FILE, key, 0, 0, NULL, "", "private key of cert (PEM, unencrypted)")              \
    X(certificates, LIST, certificates, 0, 100, "{}", "certificates",                              \
      "more certificates, { { cert = ..., key = ... } }, chosen by SNI against their DNS names "   \
      "(subjectAltName, else CN; \"*.example.com\" covers one label)")                             \
    X(tickets, BOOL, tickets, 0, 0, "true", "",                                                    \
      "session tickets (RFC 5077): returning clients resume without a full handshake")             \
    X(ticket_lifetime, DURATION, ticket_lifetime_ms, 60 * CFG__MS_S, 7 * CFG__MS_D, "12h", "",     \
      "how long a ticket can resume a session; the ticket key also changes this often")

/* listen[i].tls.certificates[j] (struct cfg_tls_cert) */
#define CFG_SCHEMA_CERTIFICATES(X)                                                                 \
    X(cert, INPUT_FILE, cert, 0, 0, NULL, "", "certificate chain (PEM, the server's own first)")   \
    X(key, INPUT_FILE, key, 0, 0, NULL, "", "private key of cert (PEM, unencrypted)")

/* origins.NAME (struct cfg_origin); NAME is [A-Za-z0-9_.-]+ */
#define CFG_SCHEMA_ORIGINS(X)                                                                      \
    X(servers, ADDR_LIST, servers, 1, 256, NULL, "servers",                                        \
      "the pool: an array of \"ip:port\" addresses, tried round-robin")                            \
    X(connect_timeout, DURATION, connect_timeout_ms, 1, CFG__MS_H, "1s", "",                       \
      "time allowed to open a connection to a server")                                             \
    X(timeout, DURATION, timeout_ms, 1, CFG__MS_D, "30s", "",                                      \
      "wait for the response head, and between reads of the body")                                 \
    X(max_fails, UINT, max_fails, 0, 1000, "3", "failures",                                        \
      "failures in a row before a server is skipped; 0 never skips")                               \
    X(fail_timeout, DURATION, fail_timeout_ms, 1, CFG__MS_D, "10s", "",                            \
      "how long a failed server is skipped")                                                       \
    X(keepalive, UINT, keepalive, 0, 10000, "32", "connections",                                   \
      "idle connections kept per worker per server; 0 closes after each response")                 \
    X(keepalive_timeout, DURATION, keepalive_timeout_ms, 1, CFG__MS_D, "60s", "",                  \
      "how long an idle origin connection is kept")

/* routes[i] (struct cfg_route) */
#define CFG_SCHEMA_ROUTES(X)                                                                       \
    X(path, ROUTE_PATH, path, 0, 0, NULL, "",                                                      \
      "pattern: literal segments, \":name\" for one segment, a final \"*\" for the rest")          \
    X(origin, ORIGIN_REF, origin, 0, 0, "nil", "",                                                 \
      "name of the origin that serves it (a proxy route); a route has origin or template")         \
    X(template, TEMPLATE_NAME, template, 1, 256, "nil", "bytes",                                   \
      "page template that renders it (a page route), like \"pages/product\", one per channel "     \
      "(see templates); a route has origin or template")                                           \
    X(cache, TABLE, cache, 0, 0, "nil", "",                                                        \
      "cache GET/HEAD responses of this route by RFC 9111: { ttl = \"60s\" } or {} to follow "     \
      "the origin's Cache-Control")                                                                \
    X(fragments, MAP, fragments, 0, 32, "nil", "fragments",                                        \
      "page routes: API requests made in parallel for each page, by NAME (letters, digits and "    \
      "'_', 1..64 bytes, not starting with a digit), the template's data under that name")         \
    X(hooks, HOOK_SCRIPT, hooks, 1, 1024, "nil", "bytes",                                          \
      "Lua hook script, like \"scripts/product.lua\" (relative to the working directory, at "      \
      "most 1MB): it returns { on_request = function(req) ... end, ... } with on_request, "        \
      "on_fragment, on_render, on_response, on_log and lambdas; compiled and run once at load "    \
      "in the hook sandbox (no os, io, require, load, debug; 1M instructions per call, 64MB)")     \
    X(hook_errors, HOOK_ERRORS, hook_errors_ignore, 0, 0, "fail", "",                              \
      "when a hook fails (a Lua error, its instruction budget or memory cap): \"fail\" answers "   \
      "500, \"ignore\" goes on without that hook's effect; the error is logged either way")

/* routes[i].fragments.NAME (struct cfg_fragment). Each fragment is cached on its own
 * by the origin's caching headers, under the metrics label route="fragment:NAME". */
#define CFG__FRAGMENT_NAME_MAX 64
#define CFG_SCHEMA_FRAGMENTS(X)                                                                    \
    X(origin, ORIGIN_REF, origin, 0, 0, NULL, "", "name of the origin that serves the fragment")   \
    X(path, FRAGMENT_PATH, path, 1, 1024, NULL, "bytes",                                           \
      "request path, like \"/api/product/:id\" (a query may follow '?'): each \":name\" is "       \
      "replaced by that parameter of the route's path")                                            \
    X(timeout, DURATION, timeout_ms, 1, 60 * CFG__MS_S, "1s", "",                                  \
      "time allowed for the fragment, from the cache or the origin; then it has failed")           \
    X(required, BOOL, required, 0, 0, "false", "",                                                 \
      "true: the page fails (502, 503 on a timeout) when this fragment fails; false: it renders "  \
      "with fallback")                                                                             \
    X(stale_if_error, DURATION, stale_if_error_ms, 0, 365 * CFG__MS_D, "0s", "",                   \
      "when the fragment fails or times out, use its last good copy this long after it expired "   \
      "(before fallback); the origin's own stale-if-error counts when longer")                     \
    X(fallback, JSON, fallback, 0, 64 * CFG__KB, "nil", "",                                        \
      "data used when the fragment fails: a Lua value as JSON ({ k = v } an object, { a, b } an "  \
      "array, {} an empty object, integers stay integers); at most 64KB as JSON, 32 levels deep")  \
    X(query, QUERY_NAMES, query, 0, 64, "nil", "names",                                            \
      "query parameters of the page request passed on to the fragment; \"utm_*\" matches a "       \
      "prefix")                                                                                    \
    X(headers, HEADER_NAMES, headers, 0, 64, "nil", "names",                                       \
      "request header fields passed on to the fragment (any case; not framing or hop-by-hop "      \
      "fields)")

/* routes[i].cache (struct cfg_route_cache) */
#define CFG_SCHEMA_ROUTE_CACHE(X)                                                                  \
    X(ttl, DURATION, ttl_ms, CFG__MS_S, 365 * CFG__MS_D, "nil", "",                                \
      "freshness lifetime that overrides what the origin says (default: the origin decides)")      \
    X(ignore_origin_cache_control, BOOL, ignore_origin_cc, 0, 0, "false", "",                      \
      "ignore no-store/private/max-age from the origin (use ttl)")                                 \
    X(stale_while_revalidate, DURATION, stale_while_revalidate_ms, 0, 365 * CFG__MS_D, "0s", "",   \
      "answer with an expired copy this long after it expired while one background request "       \
      "refreshes it (RFC 5861); the origin's own value counts when longer")                        \
    X(stale_if_error, DURATION, stale_if_error_ms, 0, 365 * CFG__MS_D, "0s", "",                   \
      "serve an expired copy this long after it expired when the origin fails (RFC 5861); "        \
      "the origin's own stale-if-error counts when longer")                                        \
    X(allow_set_cookie, BOOL, allow_set_cookie, 0, 0, "false", "",                                 \
      "store responses that set cookies (they are unstorable by default)")                         \
    X(query, SECTION, query, 0, 0, "nil", "",                                                      \
      "which query parameters make up the cache key (absent: all of them)")                        \
    X(strip_cookies, COOKIE_NAMES, strip_cookies, 0, 64, "nil", "names",                           \
      "cookies removed from the request before the key is built and before it is forwarded; "      \
      "\"_ga*\" matches a prefix")                                                                 \
    X(bypass, SECTION, bypass, 0, 0, "nil", "",                                                    \
      "requests that skip the cache (neither looked up nor stored) when they carry any of "        \
      "the named cookies, header fields or query parameters")

/* routes[i].cache.query (struct cfg_route_cache). Names are case-sensitive and
 * compared percent-decoded. */
#define CFG_SCHEMA_ROUTE_CACHE_QUERY(X)                                                            \
    X(keep, QUERY_NAMES, query_keep, 0, 64, "nil", "names",                                        \
      "allow-list: only these parameters are part of the key ({} keeps none); \"utm_*\" "          \
      "matches a prefix, \"*\" every name")                                                        \
    X(drop, QUERY_NAMES, query_drop, 0, 64, "nil", "names",                                        \
      "parameters removed from the key, like { \"utm_*\", \"fbclid\" }")

/* routes[i].cache.bypass (struct cfg_route_cache) */
#define CFG_SCHEMA_ROUTE_CACHE_BYPASS(X)                                                           \
    X(cookies, COOKIE_NAMES, bypass_cookies, 0, 64, "nil", "names",                                \
      "a request with any of these cookies skips the cache; \"wp_*\" matches a prefix")            \
    X(headers, HEADER_NAMES, bypass_headers, 0, 64, "nil", "names",                                \
      "a request with any of these header fields skips the cache (any case, no wildcard)")         \
    X(query, QUERY_NAMES, bypass_query, 0, 64, "nil", "names",                                     \
      "a request with any of these query parameters skips the cache; \"preview_*\" matches a "     \
      "prefix")

/* channels[i] (struct cfg_channel). An entry has a name and at most one condition;
 * only the last entry has none. Request side: proxy/channel.c. */
#define CFG__UA_ALTERNATIVES 16 /* most alternatives in one user_agent */
#define CFG_SCHEMA_CHANNELS(X)                                                                     \
    X(name, CHANNEL_NAME, name, 1, 32, NULL, "bytes",                                              \
      "the channel: a lower-case letter or digit, then letters, digits, '-' or '_' (also the "     \
      "name of a template folder); several entries may share one")                                 \
    X(header, HEADER_PAIR, header, 1, 256, "nil", "bytes",                                         \
      "a request header field equal to a value: { [\"X-Channel\"] = \"app\" } (any case of the "   \
      "name, the exact value of the first such field)")                                            \
    X(client_hint_mobile, FLAG, client_hint_mobile, 0, 0, "nil", "",                               \
      "true: the client hint Sec-CH-UA-Mobile is ?1 (an RFC 8941 boolean)")                        \
    X(user_agent, UA_ALTERNATIVES, user_agent, 1, 64, "nil", "bytes",                              \
      "User-Agent holds one of these literal texts, any case: \"Android|iPhone|Mobile\" (no "      \
      "regular expressions; only the first 1024 bytes are searched)")                              \
    X(cookie, COOKIE_PAIR, cookie, 1, 256, "nil", "bytes",                                         \
      "a cookie with this value: { bucket = \"b\" } (the first cookie of that name)")              \
    X(query, QUERY_PAIR, query, 1, 256, "nil", "bytes",                                            \
      "a query parameter with this value after percent-decoding: { channel = \"app\" } (the "      \
      "first parameter of that name)")

/* timeouts (struct cfg, .timeouts) */
#define CFG_SCHEMA_TIMEOUTS(X)                                                                     \
    X(header, DURATION, timeouts.header_ms, 1, CFG__MS_H, "10s", "",                               \
      "time allowed for a whole request head to arrive")                                           \
    X(body, DURATION, timeouts.body_ms, 1, CFG__MS_D, "30s", "",                                   \
      "time allowed between two reads of a request body")                                          \
    X(keepalive, DURATION, timeouts.keepalive_ms, 1, CFG__MS_D, "75s", "",                         \
      "how long an idle client connection is kept between requests")                               \
    X(send, DURATION, timeouts.send_ms, 1, CFG__MS_D, "30s", "",                                   \
      "time allowed between two writes to a client")                                               \
    X(drain, DURATION, timeouts.drain_ms, 0, CFG__MS_H, "10s", "",                                 \
      "grace for requests in flight on SIGTERM")

/* limits (struct cfg, .limits) */
#define CFG_SCHEMA_LIMITS(X)                                                                       \
    X(header_size, SIZE, limits.header_size, CFG__KB, CFG__MB, "16KB", "",                         \
      "largest request head (request line and header fields); larger gets 431")                    \
    X(uri_size, SIZE, limits.uri_size, 256, CFG__MB, "8KB", "",                                    \
      "largest request-target, at most header_size; longer gets 414")                              \
    X(headers, UINT, limits.headers, 1, 256, "100", "fields",                                      \
      "most header fields in a request; more gets 431")                                            \
    X(body_size, SIZE, limits.body_size, 0, CFG__TB, "100MB", "",                                  \
      "largest request body; larger gets 413")                                                     \
    X(connections, UINT, limits.connections, 1, 1000000, "10000", "connections",                   \
      "client connections per worker; further ones wait in the accept queue")

/* admin (struct cfg_admin) */
#define CFG_SCHEMA_ADMIN(X)                                                                        \
    X(addr, ADDR, addr, 0, 0, NULL, "", "where the admin listener binds; keep it on loopback")     \
    X(token_file, TOKEN_FILE, token, 1, 4096, "nil", "bytes",                                      \
      "file holding the bearer token of POST /purge (read at load; white space around it is "      \
      "ignored); absent, missing or empty: purge is disabled (403)")

/* purge (struct cfg_purge): who may send PURGE to the client listeners */
#define CFG_SCHEMA_PURGE(X)                                                                        \
    X(allow, CIDR_LIST, allow, 1, 256, NULL, "addresses",                                          \
      "client addresses allowed to PURGE: \"127.0.0.1\", \"10.0.0.0/8\", \"::1\", \"fd00::/8\"")

/* cache (struct cfg, .cache) */
#define CFG_SCHEMA_CACHE(X)                                                                        \
    X(memory, SIZE, cache.memory, CFG__MB, CFG__TB, "256MB", "",                                   \
      "bytes of responses kept in memory, objects and their overhead included")                    \
    X(redis, TABLE, cache.redis, 0, 0, "nil", "",                                                  \
      "the Redis L2 shared by edge nodes: { server = \"127.0.0.1:6379\" }; looked up after a "     \
      "memory miss, written after every store; absent: no L2")

/* cache.redis (struct cfg_redis). A change takes effect on restart, not on reload. */
#define CFG_SCHEMA_REDIS(X)                                                                        \
    X(server, ADDR, server, 0, 0, "127.0.0.1:6379", "",                                            \
      "the Redis server, a numeric \"ip:port\" (no DNS on the request path); one node for "        \
      "now: a `servers` list of Redis Cluster seeds is a later issue")                             \
    X(prefix, TEXT, prefix, 0, CFG__REDIS_PREFIX_MAX, "tessera:", "bytes",                         \
      "before every key, then the 32 hex digits of the cache key hash: nodes that share "          \
      "objects use the same prefix")                                                               \
    X(timeout, DURATION, timeout_ms, 1, 10 * CFG__MS_S, "5ms", "",                                 \
      "time allowed for each lookup; a later reply is ignored and the request goes on to the "     \
      "origin")                                                                                    \
    X(connect_timeout, DURATION, connect_timeout_ms, 1, 60 * CFG__MS_S, "100ms", "",               \
      "time allowed to connect; a lost connection is retried after 50ms, doubling to 2s")          \
    X(ttl_max, DURATION, ttl_max_ms, CFG__MS_S, 365 * CFG__MS_D, "1d", "",                         \
      "longest expiry of a stored object (its lifetime plus its stale windows, capped by this)")   \
    X(breaker, SECTION, breaker, 0, 0, "{}", "",                                                   \
      "circuit breaker: Redis is not asked for a while after lookups fail in a row")

/* cache.redis.breaker (struct cfg_redis, .breaker) */
#define CFG_SCHEMA_REDIS_BREAKER(X)                                                                \
    X(failures, UINT, breaker.failures, 1, 1000, "5", "failures",                                  \
      "failed lookups in a row (timeouts, errors, lost connection) that open the breaker")         \
    X(cooldown, DURATION, breaker.cooldown_ms, 1, CFG__MS_H, "1s", "",                             \
      "how long an open breaker skips Redis; then one lookup probes it")

/* http2 (struct cfg, .http2): the SETTINGS Tessera sends (RFC 9113 6.5.2) */
#define CFG_SCHEMA_HTTP2(X)                                                                        \
    X(max_concurrent_streams, UINT, http2.max_streams, 1, 10000, "100", "streams",                 \
      "streams a client may have open at once; more are refused (REFUSED_STREAM)")                 \
    X(initial_window, SIZE, http2.initial_window, 16 * CFG__KB, 2147483647ull, "1MB", "",          \
      "flow-control window for each request body; the origin's pace opens it further")

/* log (struct cfg, .log) */
#define CFG_SCHEMA_LOG(X)                                                                          \
    X(access, PATH_OR_OFF, log.access, 0, 0, "false", "",                                          \
      "access log: a file path, \"-\" for stdout, or false for none")                              \
    X(format, LOG_FORMAT, log.format, 0, 0, "combined", "",                                        \
      "access log format: \"combined\" or \"json\"")                                               \
    X(error, PATH, log.error, 0, 0, "-", "", "error log: a file path, or \"-\" for stderr")        \
    X(level, LOG_LEVEL, log.level, 0, 0, "info", "",                                               \
      "error log level: \"error\", \"warn\", \"info\" or \"debug\"")

#endif
