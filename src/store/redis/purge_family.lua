-- Deletes a family that has passed its lifetime: mirrors `FamilyRecord::is_expired`.
-- KEYS[1]: a family. ARGV: now (ms). Returns 1 if it was deleted.
local f = redis.call('HMGET', KEYS[1], 'expires', 'last', 'idle')
if not f[1] then return 0 end
local last = tonumber(f[2])
if math.max(tonumber(ARGV[1]), last) < math.min(tonumber(f[1]), last + tonumber(f[3])) then return 0 end
redis.call('DEL', KEYS[1])
return 1
