-- apply.lua: compare the subscriber's version and, atomically, write the
-- outcome of one decision. It only compares and sets; the state machine
-- stays in Go.
--
-- KEYS[1] subscriber hash   KEYS[2] idempotency record
-- KEYS[3] outbox stream     KEYS[4] history list
-- KEYS[5] outbound queue stream  KEYS[6] the subscriber's data key
-- KEYS[7..6+c] code keys, one per code to write or delete
-- KEYS[7+c..6+c+k] audience sorted sets whose membership changes, then,
-- when k > 0, the subscriber's suppression entry (deleted on a join)
-- ARGV[1] expected version  ARGV[2] new document ("" = state unchanged)
-- ARGV[3] reply             ARGV[4] idempotency TTL in ms
-- ARGV[5] history length    ARGV[6] number of events n
-- ARGV[7..6+n] events (JSON)
-- ARGV[7+n] number of queued replies m, ARGV[8+n..7+n+m] replies (JSON)
-- then per code key: value ("" = delete), expiry as Unix ms
-- then the data key mode: "new" (store the wrapped key that follows unless
-- one exists), "have" (the stored one must still be the wrapped key that
-- follows) or "" (not needed), the wrapped key, and the sealed phone
-- number ("" = leave as is)
-- then per audience key: "+" (joined: ZADD) or "-" (left: ZREM), the
-- member (the pseudonym) and, last, k
-- Returns {"ok", version} | {"dup", stored reply, data key} |
-- {"conflict", version}.
local stored = redis.call('GET', KEYS[2])
if stored then
  return {'dup', stored, redis.call('GET', KEYS[6]) or ''}
end
local version = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
local n = tonumber(ARGV[6])
local m = tonumber(ARGV[7 + n])
local naud = tonumber(ARGV[#ARGV])
local ncodes = #KEYS - 6 - naud
if naud > 0 then
  ncodes = ncodes - 1
end
local tail = 8 + n + m + 2 * ncodes
local mode, phone = ARGV[tail], ARGV[tail + 2]
if mode ~= '' then
  -- a data key created, erased, replaced or re-wrapped since the load:
  -- decide again
  local dk = redis.call('GET', KEYS[6])
  if (mode == 'new' and dk) or (mode == 'have' and dk ~= ARGV[tail + 1]) then
    return {'conflict', tostring(version)}
  end
end
if ARGV[2] ~= '' then
  if version ~= tonumber(ARGV[1]) then
    return {'conflict', tostring(version)}
  end
  version = version + 1
  redis.call('HSET', KEYS[1], 'v', version, 'doc', ARGV[2])
  if phone ~= '' then
    redis.call('HSET', KEYS[1], 'p', phone)
  end
  -- the audiences: only a change into or out of subscribed touches them
  local member = ARGV[#ARGV - 1]
  local joined = false
  for i = 1, naud do
    local key = KEYS[6 + ncodes + i]
    if ARGV[tail + 2 + i] == '+' then
      redis.call('ZADD', key, 0, member)
      joined = true
    else
      redis.call('ZREM', key, member)
    end
  end
  if joined then
    redis.call('DEL', KEYS[#KEYS])
  end
end
if mode == 'new' then
  redis.call('SET', KEYS[6], ARGV[tail + 1])
end
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
for i = 1, n do
  local event = ARGV[6 + i]
  redis.call('XADD', KEYS[3], '*', 'e', event)
  redis.call('LPUSH', KEYS[4], event)
end
if n > 0 then
  redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[5]) - 1)
end
for i = 1, m do
  redis.call('XADD', KEYS[5], '*', 'r', ARGV[7 + n + i])
end
local a = 8 + n + m
for k = 7, 6 + ncodes do
  if ARGV[a] == '' then
    redis.call('DEL', KEYS[k])
  else
    redis.call('SET', KEYS[k], ARGV[a])
    redis.call('PEXPIREAT', KEYS[k], ARGV[a + 1])
  end
  a = a + 2
end
return {'ok', tostring(version)}
