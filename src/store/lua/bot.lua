-- (Prefixed at load with lib.lua.)
-- One step of a bot on one customer message of a conversation in state
-- `bot`, atomically: the bot's reply (history with `author: "bot"`, the
-- send record, the `bot_replied` event and the outbound message, as
-- reply.lua records an agent's), and/or the hand-off to a person (state
-- `queued`, placed as any conversation: the `handed_off` event then the
-- placement's), or the bot's resolve. The counters `bot_turns` (customer
-- messages the bot took) and `bot_misses` (FAQ misses in a row) live on
-- the conversation's hash; the limits turn a step into a hand-off here, so
-- replicas never disagree on them.
--
-- The step is taken once per customer message: `{P}:bot:step:<message
-- id>` (EX 7 d) marks it, so a redelivered message (any replica) sends no
-- second reply. A conversation no longer in state `bot` takes no step.
--
-- ARGV: 1 base `{P}`, 2 now (ms), 3 conversation, 4 customer message id,
-- 5 action (`reply`, `miss`, `handoff`, `resolve`), 6 hand-off reason,
-- 7 max misses (0: none), 8 max turns (0: none), 9 then after a reply
-- (`` / `resolve` / `handoff`), 10 channel, 11 TTL of send records (s),
-- 12 first-response deadline at hand-off (ms, 0: none), 13 JSON of the
-- queue to hand off to ('' : the conversation's own), then two replies,
-- each 4 arguments (stored message JSON, event message JSON, outbound id,
-- outbound JSON; all '' when none): 14-17 the bot's answer (or miss
-- reply), 18-21 the hand-off notice.
-- Returns (see reply()) JSON {outcome = duplicate|not_bot|replied|handed_off
-- |resolved, reason, state, agent}.
local P, now, conv, mid = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local action, reason = ARGV[5], ARGV[6]
local max_misses, max_turns, after = tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9]
local channel, ttl = ARGV[10], tonumber(ARGV[11])
local vkey = P .. ':conv:' .. conv
local mark = P .. ':bot:step:' .. mid
if redis.call('EXISTS', mark) == 1 then
  return reply(cjson.encode({outcome = 'duplicate'}))
end
if redis.call('HGET', vkey, 'state') ~= 'bot' then
  return reply(cjson.encode({outcome = 'not_bot'}))
end
redis.call('SET', mark, '1', 'EX', 7 * 24 * 3600)

local turns = redis.call('HINCRBY', vkey, 'bot_turns', 1)
if action == 'miss' then
  local misses = redis.call('HINCRBY', vkey, 'bot_misses', 1)
  if max_misses > 0 and misses >= max_misses then
    action, reason = 'handoff', 'no answer ' .. misses .. ' times in a row'
  end
elseif action == 'reply' or action == 'resolve' then
  redis.call('HSET', vkey, 'bot_misses', 0)
end
if action ~= 'handoff' and max_turns > 0 and turns > max_turns then
  action, reason = 'handoff', 'max_bot_turns reached (' .. max_turns .. ')'
end

-- One message of the bot into the thread and out on the customer's channel.
local function say(first)
  local stored, message, oid, out = ARGV[first], ARGV[first + 1], ARGV[first + 2], ARGV[first + 3]
  if stored == '' then return end
  local okey = P .. ':outbound:' .. oid
  if redis.call('HEXISTS', okey, 'conversation') == 1 then return end
  redis.call('HSET', okey, 'conversation', conv, 'agent', '')
  redis.call('EXPIRE', okey, ttl)
  redis.call('RPUSH', vkey .. ':messages', stored)
  redis.call('HSET', vkey, 'updated_at', now, 'last_bot_at', now)
  emit(P, {type = 'switchboard.conversation.bot_replied', conv = conv, at = now, agent = false, message = message})
  outbox_put(P, oid, 'outbound:' .. channel, out, now)
end

if action == 'reply' or action == 'miss' then
  say(14)
  if after == 'resolve' then
    action = 'resolve'
  elseif after == 'handoff' then
    action, reason = 'handoff', 'the answer hands off'
  else
    return reply(cjson.encode({outcome = 'replied', state = 'bot'}))
  end
elseif action == 'resolve' then
  say(14)
end

if action == 'resolve' then
  redis.call('HSET', vkey, 'state', 'resolved', 'resolved_at', now, 'resolved_by', 'bot')
  local cid = redis.call('HGET', vkey, 'customer')
  if cid then
    customer_resolved(P, cid, conv, now)
  end
  emit(P, {type = 'switchboard.conversation.resolved', conv = conv, at = now, agent = false})
  return reply(cjson.encode({outcome = 'resolved', state = 'resolved'}))
end

-- Hand-off: to the named queue (its requirements) or the conversation's
-- own, queued from now, ordered by the first-response deadline from now.
say(18)
local target = ARGV[13]
if target ~= '' then
  local q = cjson.decode(target)
  redis.call('HSET', vkey, 'queue', q.queue, 'priority', q.priority, 'req_skills', cjson.encode(q.skills),
    'mode', q.mode, 'offer_timeout_ms', q.offer_timeout_ms, 'sla', q.sla or '')
end
redis.call('HSET', vkey, 'state', 'queued', 'enqueued_at', now, 'handed_off_at', now,
  'deadline_ms', tonumber(ARGV[12]) or 0, 'bullseye_step', 0, 'relax', 0)
emit(P, {type = 'switchboard.conversation.handed_off', conv = conv, at = now, agent = false, reason = reason})
local agent, decision, state = place(P, conv, vkey, now)
emit_placement(P, conv, now, agent, state, decision)
return reply(cjson.encode({outcome = 'handed_off', reason = reason, state = state, agent = agent or ''}))
