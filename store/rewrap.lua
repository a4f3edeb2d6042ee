-- rewrap.lua: replace a wrapped data key by the same key wrapped under a
-- newer master key, only if it is unchanged since it was read: a
-- concurrent erasure (the key is gone) or re-creation wins.
-- KEYS[1] data key   ARGV[1] the value read   ARGV[2] the new value
-- Returns 1 when replaced, 0 when the key changed meanwhile.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2])
return 1
