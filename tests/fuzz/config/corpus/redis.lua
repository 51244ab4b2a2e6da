listen = { { addr = "127.0.0.1:0" } }
cache = { memory = "64MB", redis = { server = "127.0.0.1:6379", prefix = "tessera:", timeout = "5ms",
          connect_timeout = "100ms", ttl_max = "1d", breaker = { failures = 5, cooldown = "1s" } } }
