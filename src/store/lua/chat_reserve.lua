-- Reserves the place of one web chat message in a visitor's log, or finds
-- the place it already has (a resend after a lost ack, a redelivered agent
-- reply): the same `slot` always gets the same id and seq.
--
-- KEYS[1] slot hash `{P}:webchat:<v>:slot:<slot>`   KEYS[2] seq counter
-- KEYS[3] rate counter of the current minute
-- ARGV: 1 id for a new message, 2 TTL of slot and counter (s),
-- 3 messages per minute allowed (0: no limit, for agent replies)
--
-- Returns {id, seq, state} with state `pending` (reserved, not stored yet)
-- or `stored`, or {'', 0, 'limited'} when a new message is over the rate.

local id = redis.call('HGET', KEYS[1], 'id')
if id then
  return {id, tonumber(redis.call('HGET', KEYS[1], 'seq')), redis.call('HGET', KEYS[1], 'state')}
end
local limit = tonumber(ARGV[3])
if limit > 0 then
  local used = redis.call('INCR', KEYS[3])
  if used == 1 then
    redis.call('EXPIRE', KEYS[3], 60)
  end
  if used > limit then
    return {'', 0, 'limited'}
  end
end
local seq = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[2]))
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'seq', seq, 'state', 'pending')
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return {ARGV[1], seq, 'pending'}
