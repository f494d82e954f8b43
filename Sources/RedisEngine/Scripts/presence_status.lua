-- Presence: who is online. KEYS[1]: the presence base key; ARGV: users.
-- Returns {online (1 or 0), lastSeen (ms, or -1 when never seen), ...} per user, in order. A user is
-- online only with an entry that has not expired, swept or not.
local base = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for _, user in ipairs(ARGV) do
  local online = 0
  for _, conn in ipairs(redis.call('SMEMBERS', base .. ':user:' .. user)) do
    local entry = redis.call('HGET', base .. ':conn', conn)
    if entry then
      local node = string.sub(entry, string.find(entry, '\n', 1, true) + 1)
      local expiry = redis.call('ZSCORE', base .. ':entries:' .. node, conn)
      if expiry and tonumber(expiry) > now then online = 1 break end
    end
  end
  table.insert(out, online)
  table.insert(out, tonumber(redis.call('HGET', base .. ':seen', user) or -1))
end
return out
