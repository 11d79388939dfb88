-- (Prefixed at load with lib.lua.)
-- Marks a quiet conversation pending: its agent's reply (at ARGV[3]) has
-- gone unanswered for `routing.pending_after_secs`, so it stops counting
-- toward the agent's load (see count_again() in lib.lua for the way
-- back); it stays the agent's. Only while it still waits on the customer,
-- who has not written since that reply, and once.
--
-- KEYS[1] conversation key. ARGV: 1 base `{P}`, 2 now (ms), 3 the reply
-- (ms). Returns (see reply()) the agent whose capacity freed, or ''.
local P, now, since = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local f = redis.call('HMGET', KEYS[1], 'id', 'state', 'agent', 'load_channel', 'last_customer_at')
local conv, state, agent, channel = f[1], f[2], f[3], f[4]
if (not conv) or state ~= 'waiting' or (not agent) or agent == '' or num(f[5]) >= since then
  return reply('')
end
local akey = P .. ':agent:' .. agent
if redis.call('SISMEMBER', akey .. ':conversations', conv) == 0 or redis.call('SADD', akey .. ':pending', conv) == 0 then
  return reply('')
end
add_load(akey, channel, -1)
redis.call('HSET', KEYS[1], 'pending_since', now)
reindex(P, agent)
return reply(agent)
