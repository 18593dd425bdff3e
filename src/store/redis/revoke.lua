-- Revokes a family. KEYS[1]: the family. ARGV: now (ms), tombstone lifetime (ms, 0 for
-- none), change channel, change message (published when a live family is revoked).
-- Returns 1 if a live family was revoked.
-- With a tombstone lifetime, a family that does not exist yet gets a tombstone: its id
-- is in the subject's index, so its creation is under way, and CREATE stores it revoked.
if redis.call('EXISTS', KEYS[1]) == 0 then
  if tonumber(ARGV[2]) > 0 then
    redis.call('HSET', KEYS[1], 'tomb', '1', 'revoked', ARGV[1])
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
  end
  return 0
end
if redis.call('HGET', KEYS[1], 'revoked') == '' then
  redis.call('HSET', KEYS[1], 'revoked', ARGV[1])
  redis.call('PUBLISH', ARGV[3], ARGV[4])
  return 1
end
return 0
