-- Tessera demo configuration.
--
-- This file is Lua, but only declarations: it runs in an empty sandbox (no os, io,
-- require or string library) and every global it sets is checked against the
-- schema. Unknown keys, bad durations ("30s"), sizes ("16KB") and addresses are
-- reported with file:line and the key path. Check a file with:
--   tessera -t -c conf/tessera.lua
-- and list every key with its default:
--   tessera --help-config

-- Worker threads, each with its own event loop: "auto" starts one per online CPU.
workers = "auto"

-- Where clients connect. Port 0 would pick a free port at start.
-- :8080 speaks HTTP/1.1 and h2c (HTTP/2 with prior knowledge, told apart by the
-- connection preface); :8443 is TLS 1.2 with ALPN h2 and http/1.1. The demo's
-- self-signed certificate is made by tools/mkcert.sh (tools/demo.sh runs it).
listen = {
  { addr = "127.0.0.1:8080" },
  { addr = "127.0.0.1:8443", tls = { cert = "conf/tls/edge.pem", key = "conf/tls/edge.key" } },
}

-- The admin listener: Prometheus text at http://127.0.0.1:9901/metrics.
admin = { addr = "127.0.0.1:9901" }

-- The memory cache shared by all workers.
cache = { memory = "256MB" }

-- Upstream pools, by name. Servers are numeric "ip:port" (no DNS at load time).
origins = {
  api = {
    servers         = { "127.0.0.1:9000" },  -- the demo origin (tessera-origin)
    connect_timeout = "100ms",               -- it is local: fail fast
    timeout         = "1s",                  -- response head, and between body reads
  },
}

-- Request paths to origins, in order: the first match wins. ":name" matches one
-- segment, a final "*" the rest of the path (also "/api" itself for "/api/*").
routes = {
  -- /api/* is a cached pass-through: stored as the origin's Cache-Control allows
  -- (the demo origin sends max-age=60 on its fragments). Campaign links add tracking
  -- parameters the origin ignores: dropped from the cache key, so /api/nav?utm_source=x
  -- shares its entry with /api/nav ("utm_*" matches every utm_ parameter).
  { path = "/api/*", origin = "api",
    cache = { query = { drop = { "utm_*", "fbclid", "gclid" } } } },
  { path = "/*",     origin = "api" },        -- everything else
}

-- Client-side timeouts.
timeouts = {
  header    = "10s",  -- whole request head
  body      = "30s",  -- between reads of a request body
  keepalive = "75s",  -- idle connection between requests
  send      = "30s",  -- between writes to a slow client
  drain     = "10s",  -- grace for requests in flight on SIGTERM
}

-- Request limits; exceeding one gets a 4xx and names the key in the error log.
limits = {
  header_size = "16KB",   -- whole request head (431 beyond)
  uri_size    = "8KB",    -- request-target (414 beyond)
  headers     = 100,      -- header fields (431 beyond)
  body_size   = "100MB",  -- request body (413 beyond)
}

-- Logs. access: a path, "-" for stdout, or false for none.
log = {
  access = "-",
  format = "combined",   -- or "json"
  level  = "info",       -- error log level: error, warn, info, debug
}
