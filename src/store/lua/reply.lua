-- (Prefixed at load with lib.lua.)
-- Records an agent's reply in one step: the conversation's history, its
-- reply times and state (an assigned conversation now waits on the
-- customer), the reply's send record (which conversation and agent it
-- belongs to, for status callbacks and failures), the `replied` event and
-- the outbound messages for the sender, both in the outbox. Either all of
-- it happens or none: a reply the API answered as queued is sent, one it
-- refused never is. A reply id recorded before (a retry with the same
-- idempotency key) records nothing again.
--
-- ARGV: 1 base `{P}`, 2 now (ms), 3 conversation, 4 reply id, 5 agent (''
-- for the admin), 6 the stored message JSON, 7 the message as the event
-- carries it (JSON), 8 TTL of the send record (s), 9 channel, 10.. id and
-- JSON of each outbound message.
-- Returns (see reply()) `queued`, `duplicate`, `resolved` or `not_found`.
local P, now, conv, id = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local vkey = P .. ':conv:' .. conv
local okey = P .. ':outbound:' .. id
if redis.call('HEXISTS', okey, 'conversation') == 1 then
  return reply('duplicate')
end
local state = redis.call('HGET', vkey, 'state')
if not state then
  return reply('not_found')
end
if state == 'resolved' then
  return reply('resolved')
end
redis.call('HSET', okey, 'conversation', conv, 'agent', ARGV[5])
redis.call('EXPIRE', okey, tonumber(ARGV[8]))
redis.call('RPUSH', vkey .. ':messages', ARGV[6])
redis.call('HSET', vkey, 'updated_at', now)
redis.call('HSETNX', vkey, 'first_reply_at', now)
if state == 'assigned' then
  redis.call('HSET', vkey, 'state', 'waiting')
end
emit(P, {type = 'switchboard.conversation.replied', conv = conv, at = now, agent = ARGV[5], message = ARGV[7]})
for i = 10, #ARGV, 2 do
  outbox_put(P, ARGV[i], 'outbound:' .. ARGV[9], ARGV[i + 1], now)
end
return reply('queued')
