listen = { { addr = "127.0.0.1:8080" } }
log = { format = "JSON", level = "warning", access = "", error = "" }
limits = { header_size = "8KB", uri_size = "16KB", body_size = "1PB" }
