-- delete.lua: delete archived entries from an outbox stream, fenced, and
-- announce the deliverable ones to the event webhooks.
-- KEYS[1] outbox stream   KEYS[2] the stream's fence
-- KEYS[3] the shard's event delivery stream (same slot)
-- ARGV[1] the archiver's fencing token   ARGV[2] n, the number of entries
-- ARGV[3..2+n] the entry ids, fsync'd
-- then pairs: the index (1..n) of an entry, and a delivery to add to
-- KEYS[3] if, and only if, this call deletes that entry: an event is
-- announced once, and only once it is on the durable audit record.
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
local n = tonumber(ARGV[2])
if #ARGV == 2 + n then
  return redis.call('XDEL', KEYS[1], unpack(ARGV, 3, 2 + n))
end
local deleted, gone = 0, {}
for i = 1, n do
  if redis.call('XDEL', KEYS[1], ARGV[2 + i]) == 1 then
    deleted = deleted + 1
    gone[i] = true
  end
end
for j = 3 + n, #ARGV, 2 do
  if gone[tonumber(ARGV[j])] then
    redis.call('XADD', KEYS[3], '*', 'w', ARGV[j + 1])
  end
end
return deleted
