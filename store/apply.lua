-- apply.lua: check what a decision was made on and, atomically, write its
-- outcome. It only compares and sets; the state machine stays in Go.
--
-- KEYS[1] subscriber hash   KEYS[2] idempotency record
-- KEYS[3] outbox stream     KEYS[4] history list
-- KEYS[5] outbound queue stream  KEYS[6] the subscriber's data key
-- KEYS[7..6+r] the code keys of the read set (one per campaign loaded)
-- KEYS[7+r..6+r+c] code keys, one per code to write or delete
-- KEYS[7+r+c..6+r+c+k] audience sorted sets whose membership changes,
-- then, when k > 0, the subscriber's suppression entry (deleted on a join)
--
-- ARGV[1] expected version  ARGV[2] new document ("" = state unchanged)
-- ARGV[3] reply             ARGV[4] idempotency TTL in ms
-- ARGV[5] history length
-- ARGV[6] expected document  ARGV[7] expected wrapped data key ("" = none)
--   The decision was made on a read set (the expected version, document,
--   data key and the r code values below), which must equal what Redis
--   holds, by value.
-- ARGV[8] data key mode: "new" (store the wrapped key ARGV[9]) or "" (not
--   needed, or stored already)
-- ARGV[9] wrapped data key  ARGV[10] sealed phone number ("" = leave as is)
-- ARGV[11] the audience member (the pseudonym)
-- ARGV[12] r  ARGV[13] events n  ARGV[14] queued replies m  ARGV[15] c
-- ARGV[16] k
-- then r expected code values ("" = none), n events (JSON), m replies
-- (JSON), per code key to write a value ("" = delete) and an expiry as Unix
-- ms, and per audience key "+" (joined: ZADD) or "-" (left: ZREM).
--
-- Returns {"ok", version} | {"dup", stored reply, data key} |
-- {"stale", version, document, data key, the r code values}: the read set
-- as Redis holds it.
local stored = redis.call('GET', KEYS[2])
if stored then
  return {'dup', stored, redis.call('GET', KEYS[6]) or ''}
end
local cur = redis.call('HMGET', KEYS[1], 'v', 'doc')
local version = tonumber(cur[1] or '0')
local r, n, m, c, k = tonumber(ARGV[12]), tonumber(ARGV[13]), tonumber(ARGV[14]), tonumber(ARGV[15]), tonumber(ARGV[16])
local doc = cur[2] or ''
local dk = redis.call('GET', KEYS[6]) or ''
local stale = version ~= tonumber(ARGV[1]) or doc ~= ARGV[6] or dk ~= ARGV[7]
local codes = {}
for i = 1, r do
  codes[i] = redis.call('GET', KEYS[6 + i]) or ''
  if codes[i] ~= ARGV[16 + i] then
    stale = true
  end
end
if stale then
  return {'stale', tostring(version), doc, dk, unpack(codes)}
end
if ARGV[2] ~= '' then
  version = version + 1
  if ARGV[10] ~= '' then
    redis.call('HSET', KEYS[1], 'v', version, 'doc', ARGV[2], 'p', ARGV[10])
  else
    redis.call('HSET', KEYS[1], 'v', version, 'doc', ARGV[2])
  end
  -- the audiences: only a change into or out of subscribed touches them
  local joined = false
  local ops = 16 + r + n + m + 2 * c
  for i = 1, k do
    local key = KEYS[6 + r + c + i]
    if ARGV[ops + i] == '+' then
      redis.call('ZADD', key, 0, ARGV[11])
      joined = true
    else
      redis.call('ZREM', key, ARGV[11])
    end
  end
  if joined then
    redis.call('DEL', KEYS[#KEYS])
  end
end
if ARGV[8] == 'new' then
  redis.call('SET', KEYS[6], ARGV[9])
end
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
local a = 16 + r
for i = 1, n do
  local event = ARGV[a + i]
  redis.call('XADD', KEYS[3], '*', 'e', event)
  redis.call('LPUSH', KEYS[4], event)
end
if n > 0 then
  redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[5]) - 1)
end
a = a + n
for i = 1, m do
  redis.call('XADD', KEYS[5], '*', 'r', ARGV[a + i])
end
a = a + m + 1
for i = 7 + r, 6 + r + c do
  if ARGV[a] == '' then
    redis.call('DEL', KEYS[i])
  else
    redis.call('SET', KEYS[i], ARGV[a], 'PXAT', ARGV[a + 1])
  end
  a = a + 2
end
return {'ok', tostring(version)}
