-- erase.lua: crypto-shred one subscriber. It deletes the data key (which
-- makes everything sealed under it unreadable for good: the audit records,
-- outbox entries, queued replies and idempotency records it sealed), the
-- subscriber's state, history and codes, takes the pseudonym out of the
-- tenant's audiences, appends the "erased" event, which holds no personal
-- data, to the shard's outbox so that it lands in the audit chain, and
-- keeps a suppression entry: the pseudonym (a keyed hash of the number),
-- the time and the event's id, so that a consent check answers "erased"
-- until the person subscribes again. Nothing already archived is
-- rewritten.
--
-- KEYS[1] data key  KEYS[2] subscriber hash  KEYS[3] history list
-- KEYS[4] outbox stream  KEYS[5] suppression entry
-- KEYS[6..5+c] code keys  KEYS[6+c..] audience sorted sets
-- ARGV[1] the erased event (JSON)  ARGV[2] c  ARGV[3] the pseudonym
-- ARGV[4] the erasure's time (RFC 3339)  ARGV[5] the event's id
-- Returns how many of the subscriber's keys existed (audiences included).
local n = 0
local ncodes = tonumber(ARGV[2])
for k = 1, #KEYS do
  if k == 4 or k == 5 then
    -- the outbox and the suppression entry: written below
  elseif k <= 5 + ncodes then
    n = n + redis.call('DEL', KEYS[k])
  else
    n = n + redis.call('ZREM', KEYS[k], ARGV[3])
  end
end
redis.call('XADD', KEYS[4], '*', 'e', ARGV[1])
redis.call('HSET', KEYS[5], 'at', ARGV[4], 'event', ARGV[5])
return n
