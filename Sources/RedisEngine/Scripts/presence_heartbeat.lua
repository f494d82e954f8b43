-- Presence: a node's heartbeat. KEYS[1]: the presence base key; ARGV: node, ttl in ms, then the
-- node's live connections. Refreshes the node's liveness record and each known connection's entry
-- (unknown or already expired connections stay gone).
local base = KEYS[1]
local node, ttl = ARGV[1], tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expiry = now + ttl
redis.call('ZADD', base .. ':nodes', expiry, node)
local key = base .. ':entries:' .. node
for i = 3, #ARGV do redis.call('ZADD', key, 'XX', expiry, ARGV[i]) end
return 0
