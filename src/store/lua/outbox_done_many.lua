-- Fast-path removals, one or several at once (see `store::coalesce`):
-- in their order, the entries JetStream
-- acknowledged leave the outbox, and the item's conversation's SLA clocks
-- are replaced if they are still what its caller read.
--
-- KEYS[1] `{P}:outbox`, KEYS[2] `{P}:outbox:data`, KEYS[3..] each item's
-- `{P}:sla:<conversation>` ('' for no clocks).
-- ARGV: 1 the clocks' TTL (s); then per item: the clocks read ('' if
-- none), the new clocks ('' to leave them), how many ids, the ids.
-- Returns one answer per item: 1 when its clocks were replaced (or left),
-- 0 when they changed since they were read.
local ttl = tonumber(ARGV[1])
local at = 2
local out = {}
for k = 3, #KEYS do
  local read, new, n = ARGV[at], ARGV[at + 1], tonumber(ARGV[at + 2])
  at = at + 3
  if n > 0 then
    redis.call('ZREM', KEYS[1], unpack(ARGV, at, at + n - 1))
    redis.call('HDEL', KEYS[2], unpack(ARGV, at, at + n - 1))
  end
  at = at + n
  local answer = 1
  if KEYS[k] ~= '' and new ~= '' then
    local current = redis.call('GET', KEYS[k]) or ''
    if current == read then
      redis.call('SET', KEYS[k], new, 'EX', ttl)
    else
      answer = 0
    end
  end
  out[#out + 1] = answer
end
return out
