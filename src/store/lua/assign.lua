-- (Prefixed at load with pick.lua.)
-- Assigns one waiting conversation when capacity frees: the same choice as
-- route.lua, taken atomically, so replicas draining the same queue at once
-- never assign a conversation twice or overrun a capacity.
--
-- KEYS[1] conversation key. ARGV: 1 base `{P}`, 2 now (ms), 3 number of
-- candidates, then (id, channel capacity, total capacity) triples.
-- Returns '' when the conversation is no longer waiting or nobody can take
-- it, else JSON {agent, decision}.
local P, now = ARGV[1], tonumber(ARGV[2])
local f = redis.call('HMGET', KEYS[1], 'id', 'state', 'agent', 'channel', 'queue')
local conv, state, agent, channel, queue = f[1], f[2], f[3], f[4], f[5]
if (not conv) or state ~= 'queued' or (agent and agent ~= '') then
  if conv and queue then
    redis.call('ZREM', P .. ':queue:' .. queue .. ':waiting', conv)
  end
  return ''
end
local best, decision = pick(P, channel, ARGV, 3)
if not best then
  return ''
end
assign(P, conv, best, channel, queue, now)
return cjson.encode({agent = best, decision = decision})
