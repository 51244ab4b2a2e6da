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

-- The admin listener: Prometheus text at http://127.0.0.1:9901/metrics, and
-- POST /purge with "Authorization: Bearer <the token in token_file>" (tools/demo.sh
-- makes the file; without it purge is disabled).
admin = { addr = "127.0.0.1:9901", token_file = "conf/admin.token" }

-- The PURGE method on the client listeners, for these client addresses only.
purge = { allow = { "127.0.0.1", "::1" } }

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
  -- Pages: a template instead of an origin. Their fragments are fetched from the
  -- origins in parallel (each cached on its own), the channel's template renders
  -- them (templates/<channel>/ overrides templates/), and the page is cached per
  -- channel. A required fragment that fails gives 502 (503 when it timed out); an
  -- optional one gets its fallback, or is absent for the template's {{^name}}.
  -- Page routes come before /api/* and the catch-all: the first match wins.
  { path = "/product/:id", template = "pages/product", cache = { ttl = "60s" },
    hooks = "scripts/product.lua", -- price per ?lang=, 3 recs on mobile, A/B bucket
    fragments = {
      product = { origin = "api", path = "/api/product/:id", timeout = "300ms", required = true },
      price   = { origin = "api", path = "/api/price/:id",   timeout = "300ms", query = { "lang" } },
      reviews = { origin = "api", path = "/api/reviews/:id", timeout = "300ms", fallback = { items = {} } },
      recs    = { origin = "api", path = "/api/recs/:id",    timeout = "300ms" },
      nav     = { origin = "api", path = "/api/nav",         timeout = "300ms", required = true },
      footer  = { origin = "api", path = "/api/footer",      timeout = "300ms" },
    } },
  { path = "/category/:slug", template = "pages/category", cache = { ttl = "60s" },
    fragments = {
      category = { origin = "api", path = "/api/category/:slug", timeout = "300ms", required = true },
      nav      = { origin = "api", path = "/api/nav",            timeout = "300ms", required = true },
      footer   = { origin = "api", path = "/api/footer",         timeout = "300ms" },
    } },
  { path = "/", template = "pages/home", cache = { ttl = "60s" },
    fragments = {
      featured = { origin = "api", path = "/api/category/kitchen", timeout = "300ms" },
      nav      = { origin = "api", path = "/api/nav",              timeout = "300ms", required = true },
      footer   = { origin = "api", path = "/api/footer",           timeout = "300ms" },
    } },

  -- /api/* is a cached pass-through: stored as the origin's Cache-Control allows
  -- (the demo origin sends max-age=60 on its fragments). Campaign links add tracking
  -- parameters the origin ignores: dropped from the cache key, so /api/nav?utm_source=x
  -- shares its entry with /api/nav ("utm_*" matches every utm_ parameter).
  { path = "/api/*", origin = "api",
    cache = { query = { drop = { "utm_*", "fbclid", "gclid" } } } },
  { path = "/*",     origin = "api" },        -- everything else
}

-- Client channels, tried in order: the first match wins, the last entry (no
-- condition) is the default. A page renders per channel (templates/<channel>/
-- overrides the shared templates) and is cached once per channel. An explicit
-- X-Channel header wins; then a mobile client hint or a mobile User-Agent (literal
-- texts in any case, "|" between alternatives; no regular expressions).
-- `tessera --help-config` also lists cookie = { ... } and query = { ... } rules.
channels = {
  { name = "web",    header = { ["X-Channel"] = "web" } },
  { name = "mobile", header = { ["X-Channel"] = "mobile" } },
  { name = "app",    header = { ["X-Channel"] = "app" } },
  { name = "mobile", client_hint_mobile = true },            -- Sec-CH-UA-Mobile: ?1
  { name = "mobile", user_agent = "Android|iPhone|Mobile" },
  { name = "web" },                                          -- the default
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
