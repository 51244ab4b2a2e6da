workers = "four"
listen = "0.0.0.0:80"
origins = { api = "127.0.0.1:9000" }
routes = { "/api/*" }
timeouts = 5
limits = { headers = "100", connections = 1.5, body_size = true }
log = { access = true, error = false, format = 1, level = {} }
