-- Denylists an access token. KEYS[1]: its entry. ARGV: until (ms), now (ms), change
-- channel, change message. Keeps the later end.
local cur = redis.call('GET', KEYS[1])
local untl = tonumber(ARGV[1])
if cur and tonumber(cur) >= untl then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[3], ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.max(untl - tonumber(ARGV[2]), 1))
return 1
