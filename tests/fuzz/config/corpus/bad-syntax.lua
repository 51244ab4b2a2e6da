listen = { { addr = "127.0.0.1:8080" }
origins = { api = { servers = { "127.0.0.1:9000" } } }
