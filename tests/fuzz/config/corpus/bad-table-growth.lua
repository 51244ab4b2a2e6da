local t = {}
local i = 0
repeat i = i + 1; t[i] = { i, "x" .. i } until false
