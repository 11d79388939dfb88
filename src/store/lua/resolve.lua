-- (Prefixed at load with lib.lua.)
-- Resolves a conversation: closes the customer's open conversation
-- (remembering it for the reopen window), takes it off any queue or offer,
-- and frees the agent's capacity after the agent's wrap-up time
-- (`{P}:wrapups`, released by sweep.lua), or, without wrap-up, when the
-- caller calls `release_wrapup` after publishing the event.
--
-- KEYS[1] conversation key. ARGV: 1 base `{P}`, 2 now (ms), 3 wrap-up (ms)
-- of the conversation's agent, 4 who resolved it, 5 why (optional: the
-- event's `reason`), 6 (optional) only if it is still quiet since this
-- agent reply (ms): waiting on the customer, who has not written since
-- (the auto-close of `idle`).
-- Appends the `resolved` event. Returns (see reply()) JSON {agent, wrapup},
-- or '' if the conversation was already resolved, does not exist, or is
-- no longer quiet.
local P, now, wrapup = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local f = redis.call('HMGET', KEYS[1], 'id', 'state', 'agent', 'customer', 'queue', 'last_customer_at')
local conv, state, agent, cid, queue = f[1], f[2], f[3], f[4], f[5]
if (not conv) or state == 'resolved' then
  return reply('')
end
if ARGV[6] and ARGV[6] ~= '' and (state ~= 'waiting' or num(f[6]) >= tonumber(ARGV[6])) then
  return reply('')
end
redis.call('HSET', KEYS[1], 'state', 'resolved', 'resolved_at', now, 'resolved_by', ARGV[4])
redis.call('ZREM', P .. ':offers', conv)
unwait(P, conv, KEYS[1])
if cid then
  customer_resolved(P, cid, conv, now)
end
local held = false
if agent and agent ~= '' then
  if state == 'offered' then
    release(P, conv, KEYS[1], false)
  else
    -- The capacity stays taken until the wrap-up ends, and with no wrap-up
    -- until the caller has published the `resolved` event and calls
    -- `release_wrapup` (so the event log never shows the agent's capacity
    -- reused before the resolve); should the caller die first, the sweep
    -- releases it when due.
    local due = now + wrapup
    if wrapup == 0 then
      due = now + 5000 -- the caller's grace to publish before the sweep steps in
    end
    redis.call('ZADD', P .. ':wrapups', fmt(due), conv)
    redis.call('HSET', KEYS[1], 'wrapup_until', due)
    held = wrapup > 0
  end
else
  agent = ''
end
emit(P, {type = 'switchboard.conversation.resolved', conv = conv, at = now, agent = agent, reason = ARGV[5]})
return reply(cjson.encode({agent = agent, wrapup = held}))
