listen = { { addr = "[::]:8080" } }
log = { access = "-" }
