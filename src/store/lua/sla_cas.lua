-- Replaces a conversation's SLA clocks only if they are still what the
-- caller read (optimistic concurrency: the router and the API may move
-- the same conversation's clocks at once).
--
-- KEYS[1] `{P}:sla:<conversation>`. ARGV: 1 the value read ('' if none),
-- 2 the new value, 3 TTL (s). Returns 1 when replaced, 0 when it changed.
local current = redis.call('GET', KEYS[1]) or ''
if current ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[3]))
return 1
