-- erase.lua: crypto-shred one subscriber. It deletes the data key (which
-- makes everything sealed under it unreadable for good: the audit records,
-- outbox entries, queued replies and idempotency records it sealed), the
-- subscriber's state, history and codes, and appends the "erased" event,
-- which holds no personal data, to the shard's outbox so that it lands in
-- the audit chain. Nothing already archived is rewritten.
--
-- KEYS[1] data key  KEYS[2] subscriber hash  KEYS[3] history list
-- KEYS[4] outbox stream  KEYS[5..] code keys
-- ARGV[1] the erased event (JSON)
-- Returns how many of the subscriber's keys existed.
local n = 0
for k = 1, #KEYS do
  if k ~= 4 then
    n = n + redis.call('DEL', KEYS[k])
  end
end
redis.call('XADD', KEYS[4], '*', 'e', ARGV[1])
return n
