listen = { { addr = "127.0.0.1:8080" } }
while true do end
