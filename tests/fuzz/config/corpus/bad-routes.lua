listen = { { addr = "127.0.0.1:8080" } }
origins = { api = { servers = { "127.0.0.1:9000" } } }
routes = {
  { path = "api/*", origin = "api" },
  { path = "/a//b", origin = "api" },
  { path = "/*/x", origin = "api" },
  { path = "/a*", origin = "api" },
  { path = "/:", origin = "api" },
  { path = "/:a-b", origin = "api" },
  { path = "/:a/:a", origin = "api" },
  { path = "/:a/:b/:c/:d/:e/:f/:g/:h/*", origin = "api" },
  { path = "/a b", origin = "api" },
  { path = "/a?x=1", origin = "api" },
  { path = "/ok", origin = "apj" },
  { path = "/ok2" },
  { origin = "api" },
  { path = 5, origin = {} },
}
