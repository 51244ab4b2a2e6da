listen = { { addr = "127.0.0.1:8080" } }
origins = { api = { servers = { "127.0.0.1:9000" },
  connect_timeout = "30", timeout = "10 s", fail_timeout = "1m1h",
  keepalive_timeout = "99999999999999999999999d" } }
timeouts = { header = "2h", body = "-1s", keepalive = "0s", send = "1s1s", drain = "1.5s" }
