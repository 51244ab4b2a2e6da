worker = 4
listen = { { adr = "127.0.0.1:8080", backlog = 511 } }
origins = { api = { servres = { "127.0.0.1:9000" }, conect_timeout = "1s" } }
routes = { { path = "/*", orign = "api" } }
timeout = { header = "10s" }
limits = { header_szie = "16KB", header = 10 }
log = { acces = "-", formt = "json", level = "inof", format = "jsno" }
helper = 1
