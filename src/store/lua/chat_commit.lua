-- Stores a reserved web chat message in the visitor's log, once: the
-- message becomes visible to `history` in this step.
--
-- KEYS[1] slot hash   KEYS[2] log zset (seq → message JSON)
-- ARGV: 1 seq, 2 message JSON, 3 messages kept, 4 TTL (s)
--
-- Returns 1 when the message was stored now, 0 when it was already.

if redis.call('HGET', KEYS[1], 'state') == 'stored' then
  return 0
end
redis.call('ZADD', KEYS[2], tonumber(ARGV[1]), ARGV[2])
local keep = tonumber(ARGV[3])
if redis.call('ZCARD', KEYS[2]) > keep then
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(keep + 1))
end
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4]))
redis.call('HSET', KEYS[1], 'state', 'stored')
return 1
