-- (Prefixed at load with lib.lua.)
-- Transfers a conversation to an agent or a queue, freeing the current
-- agent's capacity. To an agent: the agent must be available with free
-- capacity on the conversation's channel (skills are the transferring
-- agent's judgement); the conversation is assigned at once. To a queue: it
-- takes the queue's requirements, keeps its original enqueue time, and is
-- placed like a new conversation.
--
-- KEYS[1] conversation key. ARGV: 1 base `{P}`, 2 conversation id, 3 now
-- (ms), 4 `agent` or `queue`, 5 target, 6 queue requirements JSON
-- {skills, priority, mode, offer_timeout_ms} (for a queue), 7
-- `keep_priority` to keep a higher priority the conversation has, 8 why
-- (the transferring agent's note, or the escalation; '' for none).
-- Appends the `transferred` event and, when the conversation was placed
-- from a queue or offered, the placement's event. Returns (see reply())
-- JSON {ok, error?, from, agent, state, queue}.
local P, conv, now, kind, target = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local vkey = KEYS[1]
local f = redis.call('HMGET', vkey, 'state', 'agent', 'channel', 'queue')
if not f[1] then
  return reply(cjson.encode({ok = false, error = 'not_found'}))
end
if f[1] == 'resolved' then
  return reply(cjson.encode({ok = false, error = 'resolved'}))
end
if kind == 'agent' then
  if f[2] == target then
    return reply(cjson.encode({ok = false, error = 'same_agent'}))
  end
  if not redis.call('ZSCORE', P .. ':avail:' .. f[3], target) then
    return reply(cjson.encode({ok = false, error = 'agent_unavailable'}))
  end
  local from = release(P, conv, vkey, true)
  take(P, conv, vkey, target, f[3], now, 'assigned')
  redis.call('HSET', vkey, 'transferred_at', now)
  emit(P, {type = 'switchboard.conversation.transferred', conv = conv, at = now, agent = target,
    from_agent = from, reason = ARGV[8]})
  return reply(cjson.encode({ok = true, from = from, agent = target, state = 'assigned', queue = f[4]}))
end
local req = cjson.decode(ARGV[6])
if ARGV[7] == 'keep_priority' then
  -- An escalation: never lower what an earlier escalation raised.
  req.priority = math.max(num(redis.call('HGET', vkey, 'priority')), num(req.priority))
end
local from = release(P, conv, vkey, true)
unwait(P, conv, vkey)
redis.call('HSET', vkey, 'queue', target, 'req_skills', cjson.encode(req.skills), 'priority', req.priority,
  'mode', req.mode, 'offer_timeout_ms', req.offer_timeout_ms, 'relax', 0, 'bullseye_step', 0,
  'transferred_at', now)
redis.call('DEL', vkey .. ':declined')
local agent, decision, state = place(P, conv, vkey, now)
local transferred = {type = 'switchboard.conversation.transferred', conv = conv, at = now, agent = agent or false,
  from_agent = from, reason = ARGV[8]}
if #decision > 0 then
  transferred.decision = {chosen = agent, candidates = decision}
end
emit(P, transferred)
if agent then
  emit_placement(P, conv, now, agent, state, decision)
end
return reply(cjson.encode({ok = true, from = from, agent = agent or '', state = state, queue = target}))
