-- Stores a cache value unless its key was invalidated since the reader's ticket was issued.
-- KEYS[1] value key, KEYS[2] its generation key (same hash slot)
-- ARGV[1] ticket (the generation the reader saw, as a decimal string, 0 for none), ARGV[2] value,
-- ARGV[3] TTL in ms. Generations are compared as strings: they are 62-bit numbers, past what a Lua
-- number holds exactly.
-- Returns 1 when stored, 0 when refused.
local generation = redis.call('GET', KEYS[2]) or '0'
if generation ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
