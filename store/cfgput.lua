-- cfgput.lua: compare-and-set one configuration document and record the
-- change. It only compares and sets.
--
-- KEYS[1] the hash holding the document   KEYS[2] config version counter
-- KEYS[3] config outbox stream
-- ARGV[1] field   ARGV[2] expected current value ("" = absent)
-- ARGV[3] new value ("" = delete)   ARGV[4] audit record (JSON, "" = none)
-- Returns {"ok", config version} | {"conflict", ""}.
local cur = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if cur ~= ARGV[2] then
  return {'conflict', ''}
end
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
end
local v = redis.call('INCR', KEYS[2])
if ARGV[4] ~= '' then
  redis.call('XADD', KEYS[3], '*', 'c', ARGV[4])
end
return {'ok', tostring(v)}
