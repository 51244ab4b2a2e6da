-- wrk script for loadtest/run-cache.sh: GETs of cached 2 KB pages.
--
-- Without WRK_KEYS (or WRK_KEYS=0) every request is the URL given to wrk, as
-- is: one hot page, sent as a static request (no Lua per request).
--
-- With WRK_KEYS=N, each request appends "&k=K" to the URL's path and query,
-- K in 1..N drawn from a Zipf distribution of exponent WRK_ZIPF_S (default
-- 0.99): P(K = k) is proportional to 1 / k^s, so key 1 is the most popular.
-- The cumulative distribution is computed once per thread in init() and each
-- request draws a uniform number and finds its key by binary search; the N
-- request strings are formatted in init() too, so a request costs one table
-- lookup. Every thread seeds its generator with a fixed number of its own
-- (WRK_SEED + thread index), so every target receives the same sequence.
--
-- WRK_THINK_MS=D (both modes) makes every connection pause D ms between a
-- response and its next request (see delay() below).
--
-- At the end it prints one JSON line, as proxied-get.lua does, which
-- run-cache.sh parses:
--   {"target":"...","requests":N,"duration_s":S,"rps":R,"p50_ms":A,"p99_ms":B,
--    "errors":E,"non_2xx":X,"bytes":Y,"keys":K,"keys_seen":D,"top1_pct":P}
-- "errors" counts connect/read/write/timeout errors plus non-2xx/3xx answers;
-- "keys_seen" is how many distinct keys were requested and "top1_pct" the share
-- of requests for key 1 (both 0 for the single page). WRK_TARGET (environment)
-- only labels the line.
--   WRK_KEYS=10000 wrk -t2 -c64 -d10s --latency -s loadtest/cache-get.lua \
--       'http://127.0.0.1:8080/bench/2k?cc=public%2C%20max-age%3D600'

local keys = tonumber(os.getenv("WRK_KEYS") or "0") or 0
local exponent = tonumber(os.getenv("WRK_ZIPF_S") or "0.99") or 0.99
local seed = tonumber(os.getenv("WRK_SEED") or "20261125") or 20261125
local think_ms = tonumber(os.getenv("WRK_THINK_MS") or "0") or 0

wrk.method = "GET"
wrk.headers["Accept"] = "application/json"

-- setup() runs in the main Lua state, once per thread, before init().
local threads = {}
function setup(thread)
   threads[#threads + 1] = thread
   thread:set("thread_index", #threads)
end

if keys > 0 then
   local cdf, reqs, seen -- per thread (each thread has its own Lua state)
   top1, keys_seen = 0, 0 -- globals, read by done() through thread:get()

   function init(args)
      cdf, reqs, seen = {}, {}, {}
      local sum = 0
      for k = 1, keys do
         sum = sum + k ^ -exponent
         cdf[k] = sum
      end
      for k = 1, keys do
         cdf[k] = cdf[k] / sum
      end
      cdf[keys] = 1.0 -- no draw may fall past the last key through rounding
      local sep = wrk.path:find("?", 1, true) and "&" or "?"
      for k = 1, keys do
         reqs[k] = wrk.format(nil, wrk.path .. sep .. "k=" .. k)
      end
      math.randomseed(seed + (thread_index or 0))
   end

   -- The smallest k with cdf[k] >= u.
   local function draw()
      local u = math.random()
      local lo, hi = 1, keys
      while lo < hi do
         local mid = math.floor((lo + hi) / 2)
         if cdf[mid] < u then lo = mid + 1 else hi = mid end
      end
      return lo
   end

   function request()
      local k = draw()
      if k == 1 then top1 = top1 + 1 end
      if not seen[k] then
         seen[k] = true
         keys_seen = keys_seen + 1
      end
      return reqs[k]
   end
end

-- WRK_THINK_MS=D: each connection waits D ms after a response before its next
-- request, which caps the load near connections x 1000 / (D + latency) req/s:
-- a way to compare latencies at the same load rather than at each server's
-- saturation.
if think_ms > 0 then
   function delay()
      return think_ms
   end
end

done = function(summary, latency, requests)
   local e = summary.errors
   local errors = e.connect + e.read + e.write + e.timeout + e.status
   local secs = summary.duration / 1e6
   local rps = 0
   if secs > 0 then rps = summary.requests / secs end
   -- Per-thread key statistics (the union of seen keys is not available here:
   -- keys_seen is the largest per-thread count, a lower bound).
   local seen_max, top1_sum = 0, 0
   for _, t in ipairs(threads) do
      local s = t:get("keys_seen") or 0
      if s > seen_max then seen_max = s end
      top1_sum = top1_sum + (t:get("top1") or 0)
   end
   local top1_pct = 0
   if keys > 0 and summary.requests > 0 then top1_pct = 100 * top1_sum / summary.requests end
   io.write(string.format(
      '{"target":"%s","requests":%d,"duration_s":%.3f,"rps":%.1f,"p50_ms":%.3f,' ..
      '"p99_ms":%.3f,"errors":%d,"non_2xx":%d,"bytes":%d,"keys":%d,"keys_seen":%d,' ..
      '"top1_pct":%.2f}\n',
      os.getenv("WRK_TARGET") or "", summary.requests, secs, rps,
      latency:percentile(50) / 1000, latency:percentile(99) / 1000,
      errors, e.status, summary.bytes, keys, seen_max, top1_pct))
end
