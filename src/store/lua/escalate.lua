-- (Prefixed at load with lib.lua.)
-- SLA escalations that change routing state.
--
-- KEYS[1] conversation key. ARGV: 1 base `{P}`, 2 conversation id, 3 now
-- (ms), 4 `raise` or `reoffer`, 5 (raise) by how much.
-- `raise`: the conversation's priority goes up; a waiting one moves up its
--   queue at once. Returns JSON {priority}.
-- `reoffer`: the conversation is taken from its agent and placed with
--   another one (never back to the same), or queued, with the placement's
--   event. Returns JSON {from, agent, state}; `from` is '' when it had no
--   agent. (Every answer goes through reply().)
local P, conv, now, op = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local vkey = KEYS[1]
local f = redis.call('HMGET', vkey, 'state', 'agent')
if (not f[1]) or f[1] == 'resolved' then
  return reply(cjson.encode({from = '', agent = '', state = f[1] or '', priority = 0}))
end
if op == 'raise' then
  local prio = redis.call('HINCRBY', vkey, 'priority', tonumber(ARGV[5]))
  if f[1] == 'queued' then
    enqueue(P, conv, vkey)
  end
  return reply(cjson.encode({priority = prio}))
end
if (not f[2]) or f[2] == '' then
  return reply(cjson.encode({from = '', agent = '', state = f[1]}))
end
local from = release(P, conv, vkey, true)
redis.call('SADD', vkey .. ':declined', from)
redis.call('EXPIRE', vkey .. ':declined', 7 * 24 * 3600)
local agent, decision, state = place(P, conv, vkey, now)
emit_placement(P, conv, now, agent, state, decision, from, 'SLA escalation: re-offered')
return reply(cjson.encode({from = from, agent = agent or '', state = state}))
