listen = { { addr = "127.0.0.1:8080" } }
limits = {
  header_size = "1.5MB",
  uri_size = "2MB",
  headers = 257,
  body_size = -1,
  connections = 0,
}
