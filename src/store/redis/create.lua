-- Stores a new family.
-- KEYS[1]: the family. ARGV: subject, claims, created, expires, last, idle, generation,
-- key id, nonce (hex), fingerprint hash (hex, '' if none), now (ms), request id (random,
-- per call), label, login.
-- Returns 1 when stored, 0 when the id is taken. The same call sent again after a lost
-- reply finds its own request id and answers 1 again, changing nothing. A tombstone left by a concurrent
-- "logout everywhere" (field 'tomb') is not a taken id: the family is stored already
-- revoked, so that no family created before that logout returned can stay live.
local revoked = ''
if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('HGET', KEYS[1], 'rq') == ARGV[12] then return 1 end
  if redis.call('HGET', KEYS[1], 'tomb') ~= '1' then return 0 end
  revoked = redis.call('HGET', KEYS[1], 'revoked')
  redis.call('DEL', KEYS[1])
end
local expires = tonumber(ARGV[4])
local keep = math.min(expires, tonumber(ARGV[5]) + tonumber(ARGV[6]) + @SLACK@)
redis.call('HSET', KEYS[1], 'v', '@VERSION@', 'sub', ARGV[1], 'claims', ARGV[2],
  'created', ARGV[3], 'expires', ARGV[4], 'last', ARGV[5], 'idle', ARGV[6], 'gen', ARGV[7],
  'kid', ARGV[8], 'nonce', ARGV[9], 'prev', '', 'fp', ARGV[10], 'revoked', revoked,
  'ttl', keep, 'rq', ARGV[12], 'cgen', '0', 'label', ARGV[13], 'login', ARGV[14])
redis.call('PEXPIRE', KEYS[1], math.max(keep - tonumber(ARGV[11]), 1))
return 1
