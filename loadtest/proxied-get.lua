-- wrk script: a fixed GET of /bench/2k (2048-byte body from tessera-origin),
-- through whichever target the URL names. At the end it prints one JSON line
-- that loadtest/run.sh parses:
--   {"target":"nginx","requests":N,"duration_s":S,"rps":R,"p50_ms":A,"p99_ms":B,
--    "errors":E,"non_2xx":X,"bytes":Y}
-- "errors" counts connect/read/write/timeout errors plus non-2xx/3xx answers.
-- WRK_TARGET (environment) only labels the line.
--   wrk -t2 -c64 -d10s --latency -s loadtest/proxied-get.lua http://127.0.0.1:8080

wrk.method = "GET"
wrk.path = "/bench/2k"
wrk.headers["Accept"] = "application/json"

done = function(summary, latency, requests)
   local e = summary.errors
   local errors = e.connect + e.read + e.write + e.timeout + e.status
   local secs = summary.duration / 1e6
   local rps = 0
   if secs > 0 then rps = summary.requests / secs end
   io.write(string.format(
      '{"target":"%s","requests":%d,"duration_s":%.3f,"rps":%.1f,"p50_ms":%.3f,' ..
      '"p99_ms":%.3f,"errors":%d,"non_2xx":%d,"bytes":%d}\n',
      os.getenv("WRK_TARGET") or "", summary.requests, secs, rps,
      latency:percentile(50) / 1000, latency:percentile(99) / 1000,
      errors, e.status, summary.bytes))
end
