listen = { { addr = "127.0.0.1:8080" } }
local many = {}
for i = 1, 257 do many[i] = "127.0.0.1:" .. (1000 + i) end
origins = {
  "127.0.0.1:9000",
  ["bad name!"] = { servers = { "127.0.0.1:9000" } },
  [""] = { servers = { "127.0.0.1:9000" } },
  empty = { servers = {} },
  big = { servers = many },
  holes = { servers = { [1] = "127.0.0.1:1", [3] = "127.0.0.1:3" } },
  named = { servers = { first = "127.0.0.1:1" } },
  notable = 42,
  [true] = {},
}
