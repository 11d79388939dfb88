-- Records a provider delivery status for an outbound message, never moving
-- it backwards: callbacks arrive out of order, and a late `sent` must not
-- overwrite `delivered`. Among final states the first one wins.
--
-- KEYS[1] outbound key. ARGV: 1 state, 2 rank, 3 error code ('' if none),
-- 4 now (ms). Returns 1 when the state was applied, 0 when it was stale.
local current = tonumber(redis.call('HGET', KEYS[1], 'delivery_rank') or '0')
local rank = tonumber(ARGV[2])
if rank <= current then
  return 0
end
redis.call('HSET', KEYS[1], 'delivery', ARGV[1], 'delivery_rank', rank, 'delivery_at', ARGV[4])
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[1], 'error_code', ARGV[3])
end
return 1
