-- (Prefixed at load with lib.lua.)
-- An automated notice to the customer of a conversation (the office-hours
-- closed reply, the waiting reply), once per conversation: the flag field
-- on the conversation's hash is set with the notice, atomically, so
-- replicas and redeliveries send it once. The history entry (`author:
-- "system"`), the send record and the outbound message in the outbox, as
-- reply.lua records an agent's reply.
--
-- ARGV: 1 base `{P}`, 2 now (ms), 3 conversation, 4 flag field
-- (`closed_replied`, `waiting_replied`), 5 the state it must be in ('':
-- any but resolved and bot), 6 channel, 7 TTL of the send record (s),
-- 8 stored message JSON, 9 outbound id, 10 outbound JSON.
-- Returns (see reply()) `sent`, `duplicate` or `skipped`.
local P, now, conv, flag, want = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
local vkey = P .. ':conv:' .. conv
local state = redis.call('HGET', vkey, 'state')
if (not state) or state == 'resolved' or state == 'bot' or (want ~= '' and state ~= want) then
  return reply('skipped')
end
if redis.call('HSETNX', vkey, flag, now) == 0 then
  return reply('duplicate')
end
local oid = ARGV[9]
local okey = P .. ':outbound:' .. oid
redis.call('HSET', okey, 'conversation', conv, 'agent', '')
redis.call('EXPIRE', okey, tonumber(ARGV[7]))
redis.call('RPUSH', vkey .. ':messages', ARGV[8])
outbox_put(P, oid, 'outbound:' .. ARGV[6], ARGV[10], now)
return reply('sent')
