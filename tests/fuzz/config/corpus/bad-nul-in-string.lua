listen = { { addr = "127.0.0.1:80\0x" } }
log = { error = "a\0b", access = "-" }
origins = { ["a\0b"] = { servers = { "127.0.0.1:1" } } }
