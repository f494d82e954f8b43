-- The job queue: every step one atomic script. KEYS[1]: the queue's base key (hash-tagged, so every
-- key below lives in one slot). ARGV[1]: the operation; the rest as each operation says.
--   BASE:due      zset id -> due time (ms); a claimed job's score is its claim deadline, so "due and
--                 not held" is one range query, and an expired claim is due again by itself
--   BASE:kind, BASE:payload, BASE:attempt   hashes id -> the job's fields
--   BASE:claim    hash id -> "worker\ndeadline" of the current claim (its token)
--   BASE:dead     list of buried jobs, newest first: "attempt\nidLength\nkindLength\n" .. id .. kind .. payload,
--                 after "t" .. burial time in µs (Redis's TIME) .. "\n" when the queue is split over
--                 several partitions (their lists are merged by that time)
--   BASE:count    hash kind -> jobs of that kind pending or claimed (for stats)
local base = KEYS[1]
local op = ARGV[1]
local due, claims, counts = base .. ':due', base .. ':claim', base .. ':count'

local function count(kind, delta)
  if redis.call('HINCRBY', counts, kind, delta) <= 0 then redis.call('HDEL', counts, kind) end
end

local function store(id, kind, payload, attempt, at)
  redis.call('HSET', base .. ':kind', id, kind)
  redis.call('HSET', base .. ':payload', id, payload)
  redis.call('HSET', base .. ':attempt', id, attempt)
  redis.call('ZADD', due, at, id)
  count(kind, 1)
end

local function forget(id)
  local kind = redis.call('HGET', base .. ':kind', id)
  if kind then count(kind, -1) end
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
  store(id, ARGV[3], ARGV[4], ARGV[5], ARGV[6])
  return 1
elseif op == 'replace' then
  -- ARGV: id, kind, payload, due, capacity. 1 stored, -1 full. A holder's claim goes with the old job.
  local id = ARGV[2]
  if redis.call('HEXISTS', base .. ':kind', id) == 1 then
    forget(id)
  elseif redis.call('ZCARD', due) >= tonumber(ARGV[6]) then
    return -1
  end
  store(id, ARGV[3], ARGV[4], 0, ARGV[5])
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
  -- ARGV: id, token, dead-letter capacity, and 'stamped' when the entry gets its burial time.
  local id = ARGV[2]
  if not holds(id, ARGV[3]) then return 0 end
  local kind = redis.call('HGET', base .. ':kind', id)
  local entry = redis.call('HGET', base .. ':attempt', id) .. '\n' .. #id .. '\n' .. #kind .. '\n' .. id .. kind
    .. redis.call('HGET', base .. ':payload', id)
  if ARGV[5] == 'stamped' then
    local t = redis.call('TIME')
    entry = 't' .. t[1] .. string.format('%06d', tonumber(t[2])) .. '\n' .. entry
  end
  redis.call('LPUSH', base .. ':dead', entry)
  redis.call('LTRIM', base .. ':dead', 0, tonumber(ARGV[4]) - 1)
  forget(id)
  return 1
elseif op == 'requeue-dead' or op == 'drop-dead' then
  -- ARGV: id, then for requeue-dead: due, capacity. 1 done, 0 no such dead letter, -1 full, -2 a job
  -- with that id is pending. Acts on the newest dead letter with the id.
  local id = ARGV[2]
  for _, entry in ipairs(redis.call('LRANGE', base .. ':dead', 0, -1)) do
    local attempt, idLength, kindLength, rest = string.match(string.match(entry, '^t%d+\n(.*)$') or entry, '^(%d+)\n(%d+)\n(%d+)\n(.*)$')
    idLength, kindLength = tonumber(idLength), tonumber(kindLength)
    if rest and string.sub(rest, 1, idLength) == id then
      if op == 'requeue-dead' then
        if redis.call('HEXISTS', base .. ':kind', id) == 1 then return -2 end
        if redis.call('ZCARD', due) >= tonumber(ARGV[4]) then return -1 end
        store(id, string.sub(rest, idLength + 1, idLength + kindLength), string.sub(rest, idLength + kindLength + 1), 0, ARGV[3])
      end
      redis.call('LREM', base .. ':dead', 1, entry)
      return 1
    end
  end
  return 0
elseif op == 'stats' then
  -- ARGV: none. {kind1, count1, kind2, count2, ...}, earliest due of a job not claimed (or false),
  -- dead letters.
  local earliest = false
  local offset = 0
  while earliest == false do
    local page = redis.call('ZRANGE', due, offset, offset + 99, 'WITHSCORES')
    if #page == 0 then break end
    for i = 1, #page, 2 do
      if redis.call('HEXISTS', claims, page[i]) == 0 then
        earliest = page[i + 1]
        break
      end
    end
    offset = offset + 100
  end
  return {redis.call('HGETALL', counts), earliest, redis.call('LLEN', base .. ':dead')}
end
return redis.error_reply('unknown job queue operation ' .. tostring(op))
