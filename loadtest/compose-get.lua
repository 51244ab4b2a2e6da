-- wrk script for loadtest/run-compose.sh: GETs of a composed page.
--
-- Without WRK_UNIQUE (or WRK_UNIQUE=0) every request is the URL given to wrk,
-- as is, sent as a static request (no Lua per request): the hot page.
--
-- With WRK_UNIQUE=1, each request appends "k=PREFIX.T.N" to the URL's query
-- ("?" or "&" as needed): PREFIX from WRK_KEY_PREFIX (the runner gives every
-- wrk run its own, e.g. "cold-tessera-r2", so no key repeats within a run of
-- run-compose.sh), T the wrk thread, N a per-thread counter. Every request is
-- then a page no cache has seen: the page caches key on the whole query, and
-- the targets pass k on to the six fragment URLs, so the fragments are new too.
--
-- WRK_THINK_MS=D makes every connection pause D ms between a response and its
-- next request, as in cache-get.lua.
--
-- At the end it prints one JSON line, which run-compose.sh parses:
--   {"target":"...","requests":N,"duration_s":S,"rps":R,"p50_ms":A,"p99_ms":B,
--    "errors":E,"non_2xx":X,"bytes":Y,"bytes_per_req":Z}
-- "errors" counts connect/read/write/timeout errors plus non-2xx/3xx answers;
-- "bytes" are what wrk read (heads and bodies). WRK_TARGET only labels the line.
--   WRK_UNIQUE=1 WRK_KEY_PREFIX=x wrk -t2 -c64 -d10s --latency -s loadtest/compose-get.lua \
--       'http://127.0.0.1:8080/cold/42'

local unique = (tonumber(os.getenv("WRK_UNIQUE") or "0") or 0) > 0
local prefix = os.getenv("WRK_KEY_PREFIX") or "k"
local think_ms = tonumber(os.getenv("WRK_THINK_MS") or "0") or 0

wrk.method = "GET"
wrk.headers["Accept"] = "text/html"

-- setup() runs in the main Lua state, once per thread, before init().
local threads = {}
function setup(thread)
   threads[#threads + 1] = thread
   thread:set("thread_index", #threads)
end

if unique then
   local base, n

   function init(args)
      local sep = wrk.path:find("?", 1, true) and "&" or "?"
      base = wrk.path .. sep .. "k=" .. prefix .. "." .. tostring(thread_index or 0) .. "."
      n = 0
   end

   function request()
      n = n + 1
      return wrk.format(nil, base .. n)
   end
end

if think_ms > 0 then
   function delay()
      return think_ms
   end
end

done = function(summary, latency, requests)
   local e = summary.errors
   local errors = e.connect + e.read + e.write + e.timeout + e.status
   local secs = summary.duration / 1e6
   local rps, per = 0, 0
   if secs > 0 then rps = summary.requests / secs end
   if summary.requests > 0 then per = summary.bytes / summary.requests end
   io.write(string.format(
      '{"target":"%s","requests":%d,"duration_s":%.3f,"rps":%.1f,"p50_ms":%.3f,' ..
      '"p99_ms":%.3f,"errors":%d,"non_2xx":%d,"bytes":%d,"bytes_per_req":%.0f}\n',
      os.getenv("WRK_TARGET") or "", summary.requests, secs, rps,
      latency:percentile(50) / 1000, latency:percentile(99) / 1000,
      errors, e.status, summary.bytes, per))
end
