-- delete.lua: delete archived entries from an outbox stream, fenced.
-- KEYS[1] outbox stream   KEYS[2] the stream's fence
-- ARGV[1] the archiver's fencing token   ARGV[2..] the entry ids, fsync'd
-- Returns the number of entries deleted, or -1 when a newer archiver
-- (a higher token) has deleted from this stream: the caller lost its lease.
local fence = tonumber(redis.call('GET', KEYS[2]) or '0')
local token = tonumber(ARGV[1])
if fence > token then
  return -1
end
if fence < token then
  redis.call('SET', KEYS[2], ARGV[1])
end
return redis.call('XDEL', KEYS[1], unpack(ARGV, 2))
