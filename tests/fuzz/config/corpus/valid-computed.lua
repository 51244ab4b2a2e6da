-- helpers are locals; values may be computed
local base = 9000
local function addr(port) return "127.0.0.1:" .. port end
local pool = {}
for i = 1, 8 do pool[#pool + 1] = addr(base + i) end

workers = 2 * 2
listen = { { addr = addr(8080) }, { addr = "127.0.0.1:" .. (8080 + 1), backlog = 2 ^ 9 } }
origins = { api = { servers = pool, timeout = 5 .. "s" } }
routes = {}
local paths = { "/a/*", "/b/:x", "/c" }
for i = 1, #paths do routes[i] = { path = paths[i], origin = "api" } end
timeouts = {}
timeouts.header = "2" .. "0s"
limits = { body_size = 10 * 1024 * 1024, header_size = "32KB", uri_size = "16kb" }
log = { access = false, level = ("warn") }
