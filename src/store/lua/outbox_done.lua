-- Entries JetStream acknowledged leave the outbox (see `store::outbox`);
-- in the same round trip, a conversation's SLA clocks are replaced if they
-- are still what the caller read (see `sla_cas.lua`).
--
-- KEYS[1] `{P}:outbox`, KEYS[2] `{P}:outbox:data`, KEYS[3]
-- `{P}:sla:<conversation>` ('' for no clocks).
-- ARGV: 1 the clocks read ('' if none), 2 the new clocks ('' to leave
-- them), 3 their TTL (s), 4.. the ids published.
-- Returns 1 when the clocks were replaced (or left), 0 when they changed
-- since they were read (the entries are removed either way).
if #ARGV >= 4 then
  redis.call('ZREM', KEYS[1], unpack(ARGV, 4))
  redis.call('HDEL', KEYS[2], unpack(ARGV, 4))
end
if KEYS[3] == '' or ARGV[2] == '' then
  return 1
end
local current = redis.call('GET', KEYS[3]) or ''
if current ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[3], ARGV[2], 'EX', tonumber(ARGV[3]))
return 1
