-- (Prefixed at load with lib.lua.)
-- The timed side of routing, run by every replica's sweeper: offers not
-- accepted in time are withdrawn as misses (and offered on), wrap-ups that
-- ended free their capacity, and conversations that waited long enough take
-- their queue's next bullseye step (a lower proficiency accepted, or the
-- move to the overflow queue keeping their wait) and are placed again.
-- Each entry is removed from its zset in the same step, so exactly one
-- replica handles it.
--
-- ARGV: 1 base `{P}`, 2 now (ms), 3 batch size, 4 (optional) a single
-- resolved conversation whose held capacity to free now, doing nothing
-- else (the resolve route, once the `resolved` event is out).
-- Appends the events of what it did to the outbox (offers withdrawn and
-- placed on, agents set away, overflow moves and placements). Returns (see
-- reply()) JSON {offers = [withdraw results], freed = [agents], widened =
-- [{conversation, step, from_queue, queue ('' unless moved), relax, agent,
-- state}]}.
local P, now, batch = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local only = ARGV[4] or ''
local timed = only == '' and batch or 0
local offers, freed = {}, {}
for _, conv in ipairs(timed > 0 and redis.call('ZRANGEBYSCORE', P .. ':offers', '-inf', fmt(now), 'LIMIT', 0, timed) or {}) do
  redis.call('ZREM', P .. ':offers', conv)
  local agent = redis.call('HGET', P .. ':conv:' .. conv, 'agent')
  local r = agent and withdraw(P, conv, now, agent, true, 'offer timed out')
  if r then
    r.decision = nil
    table.insert(offers, r)
  end
end
local ending = {}
if only ~= '' then
  -- One conversation's capacity, now (a resolve without wrap-up).
  if redis.call('ZSCORE', P .. ':wrapups', only) then
    ending = {only}
  end
else
  ending = redis.call('ZRANGEBYSCORE', P .. ':wrapups', '-inf', fmt(now), 'LIMIT', 0, batch)
end
for _, conv in ipairs(ending) do
  redis.call('ZREM', P .. ':wrapups', conv)
  local vkey = P .. ':conv:' .. conv
  redis.call('HDEL', vkey, 'wrapup_until')
  if redis.call('HGET', vkey, 'state') == 'resolved' then
    local agent = release(P, conv, vkey, false)
    if agent ~= '' then
      table.insert(freed, agent)
    end
  end
end
local widened = {}
for _, conv in ipairs(timed > 0 and redis.call('ZRANGEBYSCORE', P .. ':bullseye', '-inf', fmt(now), 'LIMIT', 0, timed) or {}) do
  redis.call('ZREM', P .. ':bullseye', conv)
  local vkey = P .. ':conv:' .. conv
  local f = redis.call('HMGET', vkey, 'state', 'queue', 'bullseye_step', 'agent')
  if f[1] == 'queued' and ((not f[4]) or f[4] == '') then
    local qc = queue_config(P, f[2])
    local index = num(f[3]) + 1
    local step = type(qc.bullseye) == 'table' and qc.bullseye[index]
    if step then
      local moved_to = ''
      redis.call('HSET', vkey, 'bullseye_step', index)
      if step.overflow and qc.overflow and qc.overflow ~= '' then
        moved_to = qc.overflow
        local oc = queue_config(P, moved_to)
        unwait(P, conv, vkey)
        redis.call('HSET', vkey, 'queue', moved_to, 'req_skills', cjson.encode(oc.skills or {}),
          'priority', oc.priority or 0, 'mode', oc.mode or 'auto', 'offer_timeout_ms', oc.offer_timeout_ms or 0,
          'relax', 0, 'bullseye_step', 0, 'overflowed_from', f[2])
      else
        redis.call('HSET', vkey, 'relax', num(step.relax))
      end
      if moved_to ~= '' then
        emit(P, {type = 'switchboard.conversation.transferred', conv = conv, at = now, agent = false,
          reason = 'overflow from ' .. f[2] .. ' (bullseye step ' .. index .. ')'})
      end
      local agent, decision, state = place(P, conv, vkey, now)
      if agent then
        emit_placement(P, conv, now, agent, state, decision)
      end
      table.insert(widened, {conversation = conv, step = index, from_queue = f[2], queue = moved_to,
        relax = num(step.relax), agent = agent or '', state = state})
    end
  end
end
if #offers == 0 and #freed == 0 and #widened == 0 then
  return reply('{}')
end
return reply(cjson.encode({offers = offers, freed = freed, widened = widened}))
