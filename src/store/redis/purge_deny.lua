-- KEYS[1]: a denylist entry. ARGV: now (ms). Deletes it if past its end.
local cur = redis.call('GET', KEYS[1])
if cur and tonumber(cur) <= tonumber(ARGV[1]) then redis.call('DEL', KEYS[1]) return 1 end
return 0
