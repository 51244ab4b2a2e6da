print("hello")
os.exit(1)
local f = require("io")
listen = { { addr = string.rep("1", 3) } }
error("boom")
