listen = { { addr = "127.0.0.1:8080" } }
origins = {
  ["nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"] = { servers = { "example.com:80" } },
  a = { servers = { "127.0.0.1:1" } }, b = { servers = { "127.0.0.1:2" } },
  c = { servers = { "127.0.0.1:3" } }, d = { servers = { "127.0.0.1:4" } },
  e = { servers = { "127.0.0.1:5" } }, f = { servers = { "127.0.0.1:6" } },
  g = { servers = { "127.0.0.1:7" } }, h = { servers = { "127.0.0.1:8" } },
}
