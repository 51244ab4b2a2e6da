workers = 1
listen = { { addr = "127.0.0.1:80" } }
origins = {}
routes = {}
timeouts = {}
limits = {}
log = {}
