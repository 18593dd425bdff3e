-- Adds a family to its subject's index. KEYS[1]: the subject's set. ARGV: family id,
-- ttl (ms). Keeps the set alive as long as the longest-lived family in it can live.
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
