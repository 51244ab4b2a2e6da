--[==[ a long comment with { braces } and "quotes"
   and ]] fake ends ]=] ]==]
workers = [[auto]]
listen = { [1] = { ["addr"] = [=[127.0.0.1:8080]=]; backlog = 0x10 }; }
origins = { ["api"] = { servers = { '127.0.0.1:9000'; "\049\050\055.0.0.1:9001" } } }
routes = { { path = "/\u{61}pi/*", origin = "api" }, }
timeouts = { drain = "1d" == "x" and "1s" or "5m" }
