-- routes[i].cache name lists: every rejection kind (separators, escapes, wildcard
-- placement, non-token bytes, lengths, counts, shapes, typos)
listen = { { addr = "127.0.0.1:0" } }
origins = { api = { servers = { "127.0.0.1:9000" } } }
local many = {}
for i = 1, 65 do many[i] = "p" .. i end
routes = {
  { path = "/a/*", origin = "api", cache = {
      query = { keep = { "a&b", "c=d", "#e", "%41", "a b", "x\0y", "u*m", "" },
                drop = many, dorp = {} },
      strip_cookies = { "a;b", "**", "caf\195\169", 5, {} },
      bypass = { cookies = "session", headers = { "x-*", "a:b", "\127" }, query = { id = 1 },
                 header = {} },
  } },
  { path = "/b/*", origin = "api", cache = { query = "id", bypass = true, strip_cookie = {} } },
  { path = "/c/*", origin = "api", cache = { query = { "id" },
      bypass = { query = { "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" } } } },
}
