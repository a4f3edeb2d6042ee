-- sendlease.lua: take or renew the lease of a shard's outbound queue.
-- KEYS[1] lease key   ARGV[1] owner   ARGV[2] lease in ms
-- Returns 1 when ARGV[1] holds the lease afterwards, 0 otherwise.
local cur = redis.call('GET', KEYS[1])
if cur == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
