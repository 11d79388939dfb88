-- Durable timers: claim due timers for one poller. See src/sla/timers.rs.
--
-- KEYS[1] due zset   (id -> next attempt ms)
-- KEYS[2] inflight   (id -> lease deadline ms)
-- KEYS[3] data hash  (id -> "<generation>|<due_ms>|<payload>")
-- ARGV[1] now ms, ARGV[2] lease deadline ms (now + lease), ARGV[3] limit
--
-- 1. Up to `limit` expired leases (deadline <= now: their claimer died or
--    is too slow) go back to the due zset at their scheduled due time, so
--    they sort before anything that came due later.
-- 2. Up to `limit` due timers (score <= now), earliest first, move from the
--    due zset to the inflight zset with score = lease deadline.
-- 3. Returns {next_due, next_lease, id1, value1, id2, value2, ...} where
--    next_due / next_lease are the lowest remaining scores of the due and
--    inflight zsets ('' when empty): the poller sleeps until the earlier.
-- An id in a zset without a data entry cannot be produced by the other
-- scripts; if one is found anyway it is dropped, never returned.
local due_key, flight_key, data_key = KEYS[1], KEYS[2], KEYS[3]
local now, lease_until, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])

local expired = redis.call('ZRANGEBYSCORE', flight_key, '-inf', now, 'LIMIT', 0, limit)
for _, id in ipairs(expired) do
  redis.call('ZREM', flight_key, id)
  local v = redis.call('HGET', data_key, id)
  local d = v and string.match(v, '^%d+|(%-?%d+)|')
  if d then
    redis.call('ZADD', due_key, d, id)
  end
end

local out = {'', ''}
local ids = redis.call('ZRANGEBYSCORE', due_key, '-inf', now, 'LIMIT', 0, limit)
for _, id in ipairs(ids) do
  redis.call('ZREM', due_key, id)
  local v = redis.call('HGET', data_key, id)
  if v then
    redis.call('ZADD', flight_key, lease_until, id)
    out[#out + 1] = id
    out[#out + 1] = v
  end
end

local nd = redis.call('ZRANGE', due_key, 0, 0, 'WITHSCORES')
if nd[2] then out[1] = nd[2] end
local nl = redis.call('ZRANGE', flight_key, 0, 0, 'WITHSCORES')
if nl[2] then out[2] = nl[2] end
return out
