-- (Prefixed at load with lib.lua.)
-- Asks a resolved conversation's customer for a score, once per resolve:
-- marks the round asked (`csat_asked` = the resolve's time, ms, and
-- `csat_asked_at`), adds the question to the thread, and appends the
-- outbound message for the channel's sender to the outbox with its send
-- record. Nothing happens when the conversation was reopened or resolved
-- again since (another round), when this round was asked already, or
-- when it was rated already.
--
-- KEYS[1] conversation key. ARGV: 1 base `{P}`, 2 now (ms), 3 the round
-- (resolved_at, ms), 4 outbound id, 5 outbound JSON ('' for none: the web
-- chat frame is pushed by the caller), 6 stored message JSON, 7 channel,
-- 8 TTL of the send record (s).
-- Returns (see reply()) `asked`, `moved`, `asked_before` or `rated`.
local P, now, round = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local f = redis.call('HMGET', KEYS[1], 'id', 'state', 'resolved_at', 'csat_asked', 'csat_score')
if (not f[1]) or f[2] ~= 'resolved' or f[3] ~= round then
  return reply('moved')
end
if f[5] then
  return reply('rated')
end
if f[4] == round then
  return reply('asked_before')
end
redis.call('HSET', KEYS[1], 'csat_asked', round, 'csat_asked_at', now)
redis.call('RPUSH', KEYS[1] .. ':messages', ARGV[6])
if ARGV[5] ~= '' then
  local okey = P .. ':outbound:' .. ARGV[4]
  redis.call('HSET', okey, 'conversation', f[1], 'agent', '')
  redis.call('EXPIRE', okey, tonumber(ARGV[8]))
  outbox_put(P, ARGV[4], 'outbound:' .. ARGV[7], ARGV[5], now)
end
return reply('asked')
