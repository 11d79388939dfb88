-- Durable timers: acknowledge a successful firing. See src/sla/timers.rs.
--
-- KEYS[1] due zset, KEYS[2] inflight zset, KEYS[3] data hash
-- ARGV[1] id, ARGV[2] generation of the firing
--
-- Deletes the timer only if its stored generation is still ARGV[2]: after a
-- re-schedule (new generation) or a cancel (no data) the ack of the old
-- firing changes nothing. The due zset is cleared too, for the case where
-- the lease ran out and a claim moved the timer back to due before this ack.
-- Returns 1 if the timer was deleted, 0 if the ack was stale.
local id, gen = ARGV[1], ARGV[2]
local v = redis.call('HGET', KEYS[3], id)
if not v or string.match(v, '^(%d+)|') ~= gen then
  return 0
end
redis.call('HDEL', KEYS[3], id)
redis.call('ZREM', KEYS[2], id)
redis.call('ZREM', KEYS[1], id)
return 1
