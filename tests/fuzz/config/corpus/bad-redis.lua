listen = { { addr = "127.0.0.1:0" } }
cache = { redis = { server = "127.0.0.1:0", servers = { "127.0.0.1:6379" }, prefix = "a b",
          timeout = "0ms", breaker = { failures = 0, cooldwn = "1s" } } }
