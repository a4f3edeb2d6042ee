-- lease.lua: take, renew or release the archiver's lease.
-- KEYS[1] lease   KEYS[2] fencing token counter
-- ARGV[1] "acquire" | "renew" | "release"
-- ARGV[2] the caller's token (renew, release) or, for acquire, the lowest
-- token to hand out (one above any token found in the audit log, so tokens
-- keep rising even if the counter was lost)   ARGV[3] TTL in ms
-- acquire returns a new token (INCR of the counter, at least ARGV[2]) or 0
-- when the lease is held; renew returns 1 when the caller still holds it, 0 otherwise;
-- release deletes it when the caller holds it.
local op = ARGV[1]
if op == 'acquire' then
  if redis.call('EXISTS', KEYS[1]) == 1 then
    return 0
  end
  local token = redis.call('INCR', KEYS[2])
  if token < tonumber(ARGV[2]) then
    token = tonumber(ARGV[2])
    redis.call('SET', KEYS[2], token)
  end
  redis.call('SET', KEYS[1], token, 'PX', ARGV[3])
  return token
end
if redis.call('GET', KEYS[1]) ~= ARGV[2] then
  return 0
end
if op == 'renew' then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
else
  redis.call('DEL', KEYS[1])
end
return 1
