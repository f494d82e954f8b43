-- The job queue: every step one atomic script. KEYS[1]: the queue's base key (hash-tagged, so every
-- key below lives in one slot). ARGV[1]: the operation; the rest as each operation says.
--   BASE:due      zset id -> due time (ms); a claimed job's score is its claim deadline, so "due and
--                 not held" is one range query, and an expired claim is due again by itself
--   BASE:kind, BASE:payload, BASE:attempt   hashes id -> the job's fields
--   BASE:claim    hash id -> "worker\ndeadline" of the current claim (its token)
--   BASE:dead     list of buried jobs, newest first: "attempt\nidLength\nkindLength\n" .. id .. kind .. payload
local base = KEYS[1]
local op = ARGV[1]
local due, claims = base .. ':due', base .. ':claim'

local function forget(id)
  redis.call('ZREM', due, id)
  redis.call('HDEL', base .. ':kind', id)
  redis.call('HDEL', base .. ':payload', id)
  redis.call('HDEL', base .. ':attempt', id)
  redis.call('HDEL', claims, id)
end

local function holds(id, token)
  return redis.call('HGET', claims, id) == token
end

if op == 'enqueue' then
  -- ARGV: id, kind, payload, attempt, due, capacity. 1 stored, 0 already there, -1 full.
  local id = ARGV[2]
  if redis.call('HEXISTS', base .. ':kind', id) == 1 then return 0 end
  if redis.call('ZCARD', due) >= tonumber(ARGV[7]) then return -1 end
  redis.call('HSET', base .. ':kind', id, ARGV[3])
  redis.call('HSET', base .. ':payload', id, ARGV[4])
  redis.call('HSET', base .. ':attempt', id, ARGV[5])
  redis.call('ZADD', due, ARGV[6], id)
  return 1
elseif op == 'claim' then
  -- ARGV: now, deadline, worker. {id, kind, payload, attempt} or nil.
  local ids = redis.call('ZRANGEBYSCORE', due, '-inf', ARGV[2], 'LIMIT', 0, 1)
  if #ids == 0 then return false end
  local id = ids[1]
  -- A job still holding a claim here is one whose claim expired: taking it over is another attempt.
  if redis.call('HEXISTS', claims, id) == 1 then redis.call('HINCRBY', base .. ':attempt', id, 1) end
  redis.call('HSET', claims, id, ARGV[4] .. '\n' .. ARGV[3])
  redis.call('ZADD', due, ARGV[3], id)
  return {id, redis.call('HGET', base .. ':kind', id), redis.call('HGET', base .. ':payload', id),
    tonumber(redis.call('HGET', base .. ':attempt', id))}
elseif op == 'complete' then
  -- ARGV: id, token.
  if not holds(ARGV[2], ARGV[3]) then return 0 end
  forget(ARGV[2])
  return 1
elseif op == 'retry' then
  -- ARGV: id, token, at.
  local id = ARGV[2]
  if not holds(id, ARGV[3]) then return 0 end
  redis.call('HDEL', claims, id)
  redis.call('HINCRBY', base .. ':attempt', id, 1)
  redis.call('ZADD', due, ARGV[4], id)
  return 1
elseif op == 'bury' then
  -- ARGV: id, token, dead-letter capacity.
  local id = ARGV[2]
  if not holds(id, ARGV[3]) then return 0 end
  local kind = redis.call('HGET', base .. ':kind', id)
  local entry = redis.call('HGET', base .. ':attempt', id) .. '\n' .. #id .. '\n' .. #kind .. '\n' .. id .. kind
    .. redis.call('HGET', base .. ':payload', id)
  redis.call('LPUSH', base .. ':dead', entry)
  redis.call('LTRIM', base .. ':dead', 0, tonumber(ARGV[4]) - 1)
  forget(id)
  return 1
end
return redis.error_reply('unknown job queue operation ' .. tostring(op))
