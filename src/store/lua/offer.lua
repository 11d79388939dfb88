-- (Prefixed at load with lib.lua.)
-- An agent's answer to an offer: `accept` makes the conversation assigned;
-- `decline` takes it back and offers it to the next agent (never again to
-- one who declined it) or queues it.
--
-- KEYS[1] conversation key. ARGV: 1 base `{P}`, 2 conversation id, 3 agent,
-- 4 now (ms), 5 `accept` or `decline`.
-- Appends the outcome's events (`assigned`; or the next placement) to the
-- outbox. Returns (see reply()) JSON: {ok = false, state} when the
-- conversation is not offered to the agent, else the outcome.
local P, conv, agent, now, action = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
if action == 'accept' then
  local f = redis.call('HMGET', KEYS[1], 'state', 'agent', 'customer')
  if f[1] ~= 'offered' or f[2] ~= agent then
    return reply(cjson.encode({ok = false, state = f[1] or ''}))
  end
  redis.call('HSET', KEYS[1], 'state', 'assigned', 'assigned_at', now)
  redis.call('HDEL', KEYS[1], 'offer_expires_ms')
  redis.call('ZREM', P .. ':offers', conv)
  redis.call('HSET', P .. ':agent:' .. agent, 'missed', 0)
  if f[3] then
    redis.call('HSET', P .. ':customer:' .. f[3], 'last_agent', agent, 'last_agent_at', now)
  end
  emit(P, {type = 'switchboard.conversation.assigned', conv = conv, at = now, agent = agent,
    reason = 'offer accepted'})
  return reply(cjson.encode({ok = true, state = 'assigned', agent = agent}))
end
local r = withdraw(P, conv, now, agent, false, 'declined')
if not r then
  return reply(cjson.encode({ok = false, state = redis.call('HGET', KEYS[1], 'state') or ''}))
end
r.ok = true
r.decision = nil
return reply(cjson.encode(r))
