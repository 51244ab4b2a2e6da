-- An example of an invalid cache rule, for the README: query parameter names are
-- compared after percent-decoding, so "&", "=", "#", "%" and white space cannot
-- be part of one. `tessera -t -c conf/examples/bad-cache-rules.lua` exits 1 and
-- prints:
--   conf/examples/bad-cache-rules.lua:29: routes[1].cache.query.keep[2]: expected a query parameter name like "page" or "utm_*", got "a&b" ('&' is not allowed: it separates parameters)

listen = {
  { addr = "127.0.0.1:8080" },
}

origins = {
  api = {
    servers         = { "127.0.0.1:9000" },  -- the demo origin (tessera-origin)
    connect_timeout = "100ms",
    timeout         = "1s",
  },
}

routes = {
  -- Cached pass-through with cache rules:
  --   query.keep     only these parameters make up the cache key
  --   strip_cookies  removed from the request before the key is built and before
  --                  it is forwarded; "_ga*" matches every cookie starting "_ga"
  --   bypass         a logged-in or preview request skips the cache
  { path = "/api/*", origin = "api",
    cache = {
      ttl = "60s",
      query = {
        keep = { "id", "a&b", "page" },  -- "a&b" is two parameters: tessera -t rejects it
      },
      strip_cookies = { "_ga*", "_gid" },
      bypass = {
        cookies = { "session" },
        headers = { "X-Preview" },        -- any case; stored as "x-preview"
        query   = { "nocache" },
      },
    } },
  { path = "/*", origin = "api" },
}
