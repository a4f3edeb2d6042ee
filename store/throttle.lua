-- throttle.lua: a shared rate limit per sending number (GCRA without
-- burst). The key holds the theoretical arrival time in microseconds of
-- Redis' clock, so every sender of every instance shares one schedule.
-- KEYS[1] rate key   ARGV[1] interval between messages in microseconds
-- Returns 0 when a message may go now (and books its slot), otherwise the
-- microseconds to wait before asking again.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then
  tat = now
end
if tat > now then
  return tat - now
end
redis.call('SET', KEYS[1], string.format('%.0f', tat + interval), 'PX', math.ceil(interval / 1000) + 1000)
return 0
