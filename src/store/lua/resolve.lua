-- Resolves a conversation: frees the agent's capacity, closes the
-- customer's open conversation and takes it off any waiting queue.
--
-- KEYS[1] conversation key. ARGV: 1 base `{P}`, 2 now (ms).
-- Returns the agent that was freed ('' if none), or false if the
-- conversation was already resolved or does not exist.
local P, now = ARGV[1], ARGV[2]
local f = redis.call('HMGET', KEYS[1], 'id', 'state', 'agent', 'load_channel', 'customer', 'queue')
local conv, state, agent, channel, cid, queue = f[1], f[2], f[3], f[4], f[5], f[6]
if (not conv) or state == 'resolved' then
  return false
end
redis.call('HSET', KEYS[1], 'state', 'resolved', 'resolved_at', now)
if agent and agent ~= '' then
  local akey = P .. ':agent:' .. agent
  if channel and tonumber(redis.call('HGET', akey, 'load:' .. channel) or '0') > 0 then
    redis.call('HINCRBY', akey, 'load:' .. channel, -1)
  end
  if tonumber(redis.call('HGET', akey, 'load') or '0') > 0 then
    redis.call('HINCRBY', akey, 'load', -1)
  end
  redis.call('SREM', akey .. ':conversations', conv)
else
  agent = ''
end
if cid and redis.call('HGET', P .. ':customer:' .. cid, 'open') == conv then
  redis.call('HDEL', P .. ':customer:' .. cid, 'open')
end
if queue then
  redis.call('ZREM', P .. ':queue:' .. queue .. ':waiting', conv)
end
return agent
