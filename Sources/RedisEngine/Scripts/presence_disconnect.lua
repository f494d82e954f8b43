-- Presence: a connection goes away. KEYS[1]: the presence base key; ARGV: connection.
-- Returns the last-seen time in ms when it was the user's last connection (the user went offline),
-- else -1 (other connections remain, or the connection is unknown).
local base = KEYS[1]
local conn = ARGV[1]
local entry = redis.call('HGET', base .. ':conn', conn)
if not entry then return -1 end
local cut = string.find(entry, '\n', 1, true)
local user, node = string.sub(entry, 1, cut - 1), string.sub(entry, cut + 1)
redis.call('HDEL', base .. ':conn', conn)
redis.call('ZREM', base .. ':entries:' .. node, conn)
local members = base .. ':user:' .. user
redis.call('SREM', members, conn)
if redis.call('SCARD', members) > 0 then return -1 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', base .. ':seen', user, now)
return now
