-- errors whose lines the locator must find through assorted syntax
local x = { a = { b = 1 }, [ "k" ] = 2, [1 + 1] = 3 }
local function f(t)
  if t then
    repeat t = nil until true
    do end
  end
  return { workers = 0 }
end
workers = f(1).workers or 0
listen = {
  {
    addr =
      "127.0.0.1:" ..
      "80" .. "80",
    backlog = (function() return 0 end)(),
  },
  { ["addr"] = "1.2.3.4:5", ['backlog'] = -1 },
}
timeouts = {}
timeouts.header = "forever"
limits = { ["header\nsize"] = 1, ["uri_size"] = 'x\'y' }
log = { level = [[
verbose]] }
