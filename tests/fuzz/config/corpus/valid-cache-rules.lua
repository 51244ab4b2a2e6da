-- routes[i].cache name lists: every key, wildcards, empty lists, mixed-case headers
listen = { { addr = "127.0.0.1:0" } }
origins = { api = { servers = { "127.0.0.1:9000" } } }
routes = {
  { path = "/api/*", origin = "api",
    cache = {
      ttl = "60s",
      query = { keep = { "id", "page", "*" }, drop = { "utm_*", "fbclid", "gclid" } },
      strip_cookies = { "_ga", "_gid", "utm_*", "__Host-*" },
      bypass = {
        cookies = { "session", "wp_*" },
        headers = { "X-Preview", "Authorization", "!#$%&'+-.^_`|~" },
        query = { "nocache", "preview_*" },
      },
    } },
  { path = "/p/:id", origin = "api", cache = { query = { keep = {} }, bypass = {} } },
  { path = "/*", origin = "api", cache = { query = {}, strip_cookies = {} } },
}
