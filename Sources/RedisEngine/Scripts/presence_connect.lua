-- Presence: a connection comes up. KEYS[1] is the presence base key (its hash tag puts every
-- presence key in one slot); ARGV: connection, user, node, ttl in ms.
-- Returns 1 when this is the user's first live connection (the user went online), else 0.
local base = KEYS[1]
local conn, user, node, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expiry = now + ttl
redis.call('HSET', base .. ':conn', conn, user .. '\n' .. node)
redis.call('ZADD', base .. ':entries:' .. node, expiry, conn)
local nodeExpiry = tonumber(redis.call('ZSCORE', base .. ':nodes', node) or 0)
if expiry > nodeExpiry then redis.call('ZADD', base .. ':nodes', expiry, node) end
local members = base .. ':user:' .. user
if redis.call('SADD', members, conn) == 1 and redis.call('SCARD', members) == 1 then return 1 end
return 0
