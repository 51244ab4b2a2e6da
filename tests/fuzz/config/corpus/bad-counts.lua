-- item counts over the schema's limits, and key paths longer than the 512 bytes
-- an error message renders
local l = {}
for i = 1, 257 do l[i] = { addr = "127.0.0.1:" .. (10000 + i) } end
listen = l
local o = {}
for i = 1, 1001 do o["o" .. i] = { servers = { "127.0.0.1:" .. i } } end
origins = o
local k = "k"
for i = 1, 9 do k = k .. k end
limits = { [k .. "_too_long"] = 1 }
log = { [k] = 1 }
