-- Presence: the sweep any live node runs. KEYS[1]: the presence base key.
-- A node whose liveness record expired is dead: every entry it had goes, and its record. On live
-- nodes, entries past their TTL go. Returns {user, lastSeen, ...} for each user left with no entry.
local base = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local offline = {}
local function drop(conn)
  local entry = redis.call('HGET', base .. ':conn', conn)
  if not entry then return end
  local user = string.sub(entry, 1, string.find(entry, '\n', 1, true) - 1)
  redis.call('HDEL', base .. ':conn', conn)
  local members = base .. ':user:' .. user
  redis.call('SREM', members, conn)
  if redis.call('SCARD', members) == 0 then
    redis.call('HSET', base .. ':seen', user, now)
    table.insert(offline, user)
    table.insert(offline, now)
  end
end
for _, node in ipairs(redis.call('ZRANGEBYSCORE', base .. ':nodes', '-inf', now)) do
  local key = base .. ':entries:' .. node
  for _, conn in ipairs(redis.call('ZRANGE', key, 0, -1)) do drop(conn) end
  redis.call('DEL', key)
  redis.call('ZREM', base .. ':nodes', node)
end
for _, node in ipairs(redis.call('ZRANGEBYSCORE', base .. ':nodes', '(' .. now, '+inf')) do
  local key = base .. ':entries:' .. node
  local expired = redis.call('ZRANGEBYSCORE', key, '-inf', now)
  for _, conn in ipairs(expired) do drop(conn) end
  if #expired > 0 then redis.call('ZREMRANGEBYSCORE', key, '-inf', now) end
end
return offline
