-- every key, non-default values
workers = 4
listen = {
  { addr = "0.0.0.0:8080", backlog = 1024 },
  { addr = "[::1]:8443" },
  { addr = "localhost:0" },
  { addr = "*:0" },
}
origins = {
  api = {
    servers = { "127.0.0.1:9000", "10.0.0.2:9000", "[::1]:9001" },
    connect_timeout = "250ms",
    timeout = "1m30s",
    max_fails = 0,
    fail_timeout = "1h",
    keepalive = 0,
    keepalive_timeout = "1d",
  },
  ["static-files.v2"] = { servers = { "192.168.1.10:80" } },
  _legacy = { servers = { "127.0.0.1:1" }, max_fails = 1000, keepalive = 10000 },
}
routes = {
  { path = "/", origin = "_legacy" },
  { path = "/api/v1/users/:id", origin = "api" },
  { path = "/api/:version/items/:item_id/*", origin = "api" },
  { path = "/docs/", origin = "static-files.v2" },
  { path = "/static/*", origin = "static-files.v2" },
  { path = "/*", origin = "api" },
}
timeouts = { header = "1h", body = "1d", keepalive = "1s", send = "500ms", drain = "0s" }
limits = {
  header_size = "1MB",
  uri_size = 256,
  headers = 256,
  body_size = "1TB",
  connections = 1000000,
}
log = { access = "/var/log/tessera/access.log", format = "json", error = "/tmp/err.log", level = "debug" }
