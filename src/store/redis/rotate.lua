-- Decides and applies one rotation: mirrors `family::decide` and `family::apply` rule for
-- rule, in the same order. The caller has already checked the token's tag against the
-- family's key id and nonce, read with the family's other fields that never change
-- (the caller remembers them; the script reads and returns only what it decides on and
-- changes).
-- KEYS[1]: the family. ARGV: presented generation, fingerprint hash (hex, '' if none),
-- new claims ('' to keep), now (ms), grace (ms), change channel, change message,
-- request id (random, per call), then the family's own fingerprint hash (hex, '' if
-- unbound), expires (ms) and idle timeout (ms), which never change, and the public id of
-- the signing refresh key: a rotation moves the family to it when its key is another
-- (`FamilySecret::rotated_to`), and the new login ('' to keep: a reauthentication
-- sets it, and it then rotates as a privilege change does).
-- A call sent again by a client that lost the reply (a dropped connection; the cluster
-- client retries) finds its own request id on the family, one generation on, and gets
-- the answer the first run gave instead of being judged reuse.
-- A refusal that revokes publishes the change message, for other processes' caches.
-- Returns {'rotated', GEN, CLAIMS, LAST, PREV, TTL, CGEN, KID, MKID, MGEN, LOGIN},
-- {'grace', the same} or {'refused', reason}.
local f = redis.call('HMGET', KEYS[1], 'gen', 'claims', 'last', 'prev', 'revoked', 'ttl', 'cgen',
  'kid', 'mkid', 'mgen', 'login')
-- 1 gen, 2 claims, 3 last, 4 prev, 5 revoked, 6 ttl, 7 cgen (absent on families older
-- than it: 0), 8 kid, 9 mkid and 10 mgen (absent until the family first moves to another
-- key), 11 login (absent on families older than it: ''). No generation: no family (or a
-- tombstone).
if not f[1] then return {'refused', 'unknown'} end
local cgen = f[7] or '0'
local kid, mkid, mgen = f[8], f[9] or '', f[10] or ''
local login = f[11] or ''
-- New claims or a new login change what access tokens grant.
local changes = ARGV[3] ~= '' or ARGV[13] ~= ''
local pgen = tonumber(ARGV[1])
local gen = tonumber(f[1])
if pgen > gen then return {'refused', 'unknown'} end
if f[5] ~= '' then return {'refused', 'revoked'} end
local now = tonumber(ARGV[4])
local last = tonumber(f[3])
local expires = tonumber(ARGV[10])
local idle = tonumber(ARGV[11])
local eff = math.max(now, last)
if eff >= math.min(expires, last + idle) then return {'refused', 'expired'} end
-- Both sides are SHA-256 digests of the fingerprint, so comparing them leaks nothing usable.
if ARGV[9] ~= '' and ARGV[9] ~= ARGV[2] then
  redis.call('HSET', KEYS[1], 'revoked', ARGV[4])
  redis.call('PUBLISH', ARGV[6], ARGV[7])
  return {'refused', 'fingerprint'}
end
if pgen ~= gen then
  if pgen + 1 == gen and redis.call('HGET', KEYS[1], 'rq') == ARGV[8] then
    return {'rotated', f[1], f[2], f[3], f[4], f[6], cgen, kid, mkid, mgen, login}
  end
  local in_grace = pgen + 1 == gen and f[4] ~= '' and eff < tonumber(f[4]) + tonumber(ARGV[5])
  if not in_grace then
    redis.call('HSET', KEYS[1], 'revoked', ARGV[4])
    redis.call('PUBLISH', ARGV[6], ARGV[7])
    return {'refused', 'reuse'}
  end
  -- A privilege change rotates on from the live generation; a plain refresh gets the
  -- live token again and changes nothing.
  if not changes then
    return {'grace', f[1], f[2], f[3], f[4], f[6], cgen, kid, mkid, mgen, login}
  end
end
gen = gen + 1
local claims = f[2]
-- A privilege change (or a new login) ends grace for every earlier generation and makes
-- access tokens minted before it outdated (as `family::apply`); other processes' caches
-- are told.
local prev = eff
if ARGV[3] ~= '' then claims = ARGV[3] end
if ARGV[13] ~= '' then
  login = ARGV[13]
  redis.call('HSET', KEYS[1], 'login', login)
end
if changes then
  prev = ''
  cgen = gen
  redis.call('PUBLISH', ARGV[6], ARGV[7])
end
-- Another signing key: the family moves to it from this generation on (as
-- `FamilySecret::rotated_to`); its earlier tokens stay checkable with the key it left.
if kid ~= ARGV[12] then
  mkid, mgen, kid = kid, gen, ARGV[12]
  redis.call('HSET', KEYS[1], 'kid', kid, 'mkid', mkid, 'mgen', mgen)
end
-- Numbers go to Redis as integers (HSET arguments and replies alike).
local deadline = math.min(expires, eff + idle)
local kept = tonumber(f[6]) or 0
if deadline > kept then
  kept = math.min(expires, deadline + @SLACK@)
  redis.call('HSET', KEYS[1], 'gen', gen, 'prev', prev, 'last', eff, 'claims', claims, 'ttl', kept, 'rq', ARGV[8], 'cgen', cgen)
  redis.call('PEXPIRE', KEYS[1], math.max(kept - now, 1))
else
  redis.call('HSET', KEYS[1], 'gen', gen, 'prev', prev, 'last', eff, 'claims', claims, 'rq', ARGV[8], 'cgen', cgen)
end
return {'rotated', gen, claims, eff, prev, kept, cgen, kid, mkid, mgen, login}
