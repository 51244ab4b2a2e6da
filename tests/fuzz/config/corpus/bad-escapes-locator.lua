-- Lua string escapes the locator's tokenizer must skip over; the error on workers
-- makes the loader run the locator on this text.
local a = "tab\tquote\"brace{\065\x42\u{43}"
local b = 'line \
continued { [ ('
local c = "skip \z
           { { } still one string"
local d = [==[ ]] ]=] { ]==]
workers = 0
listen = { { addr = "127.0.0.1:8080", backlog = #a + #b + #c + #d } }
