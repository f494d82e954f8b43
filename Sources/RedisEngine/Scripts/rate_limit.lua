-- A token bucket shared by every node. KEYS[1]: the bucket; ARGV: tokens per second, burst, the most
-- tokens to take at once, and optionally the time in ms (tests, on a clock they drive); without it,
-- Redis's own clock. Returns the tokens taken: what the bucket holds, at most ARGV[3] (whole tokens);
-- 0 when it is empty (nothing is consumed then).
local rate, burst, wanted = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local now = tonumber(ARGV[4])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]), tonumber(state[2])
if not tokens then tokens, at = burst, now end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
local taken = math.min(math.max(wanted, 1), math.floor(tokens))
if taken < 0 then taken = 0 end
tokens = tokens - taken
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
-- A bucket left alone until full again is the same as no bucket.
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) * 1000 / rate) + 1000)
return taken
