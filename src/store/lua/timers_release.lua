-- Durable timers: give a failed firing back for a retry. See src/sla/timers.rs.
--
-- KEYS[1] due zset, KEYS[2] inflight zset, KEYS[3] data hash
-- ARGV[1] id, ARGV[2] generation of the firing,
-- ARGV[3] lease deadline this claim set, ARGV[4] retry at (ms)
--
-- Moves the timer from inflight back to due at ARGV[4], but only while this
-- claim still holds it: same generation (not re-scheduled or cancelled) and
-- the same lease deadline (the lease did not run out and get reclaimed by
-- another poller, which now owns the firing). Returns 1 if released, else 0.
local id, gen = ARGV[1], ARGV[2]
local v = redis.call('HGET', KEYS[3], id)
if not v or string.match(v, '^(%d+)|') ~= gen then
  return 0
end
local lease = redis.call('ZSCORE', KEYS[2], id)
if not lease or tonumber(lease) ~= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZREM', KEYS[2], id)
redis.call('ZADD', KEYS[1], ARGV[4], id)
return 1
