-- Logs out with a token the family minted (the caller checked its tag): mirrors
-- `family::decide_logout`.
-- KEYS[1]: the family. ARGV: presented generation, now (ms), grace (ms), change channel,
-- change message (published when the family is revoked).
-- Returns 'revoked', 'ended', 'reused' or 'unknown'.
local f = redis.call('HMGET', KEYS[1], 'sub', 'gen', 'expires', 'last', 'idle', 'prev', 'revoked')
if not f[1] then return 'unknown' end
local pgen = tonumber(ARGV[1])
local gen = tonumber(f[2])
if pgen > gen then return 'unknown' end
local now = tonumber(ARGV[2])
local last = tonumber(f[4])
local eff = math.max(now, last)
if f[7] ~= '' or eff >= math.min(tonumber(f[3]), last + tonumber(f[5])) then return 'ended' end
redis.call('HSET', KEYS[1], 'revoked', ARGV[2])
redis.call('PUBLISH', ARGV[4], ARGV[5])
if pgen == gen then return 'revoked' end
if pgen + 1 == gen and f[6] ~= '' and eff < tonumber(f[6]) + tonumber(ARGV[3]) then
  return 'revoked'
end
return 'reused'
