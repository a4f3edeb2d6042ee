-- trim.lua: trim the archived entries off an outbox stream, fenced.
-- KEYS[1] outbox stream   KEYS[2] the stream's fence
-- ARGV[1] the archiver's fencing token
-- ARGV[2] the lowest stream id to keep (entries below it are archived)
-- Returns the number of entries trimmed, or -1 when a newer archiver
-- (a higher token) has trimmed this stream: the caller lost its lease.
local fence = tonumber(redis.call('GET', KEYS[2]) or '0')
local token = tonumber(ARGV[1])
if fence > token then
  return -1
end
if fence < token then
  redis.call('SET', KEYS[2], ARGV[1])
end
return redis.call('XTRIM', KEYS[1], 'MINID', ARGV[2])
