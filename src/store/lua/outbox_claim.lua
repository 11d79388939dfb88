-- The relay's claim (see `outbox::relay`): outbox entries appended more
-- than `after` ms ago, or whose earlier claim's lease ended, are leased to
-- the caller for `lease` ms (their score moves so that they are due again
-- only when the lease ends), so replicas' relays do not publish the same
-- entries at once. A crashed relay's claims come due again by themselves.
--
-- KEYS[1] `{P}:outbox`, KEYS[2] `{P}:outbox:data`.
-- ARGV: 1 now (ms), 2 after (ms), 3 lease (ms), 4 at most this many.
-- Returns id, entry, id, entry, … oldest first.
local now, after, lease = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - after),
  'LIMIT', 0, tonumber(ARGV[4]))
local out = {}
for _, id in ipairs(due) do
  local entry = redis.call('HGET', KEYS[2], id)
  if entry then
    redis.call('ZADD', KEYS[1], string.format('%.0f', now + lease - after), id)
    table.insert(out, id)
    table.insert(out, entry)
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
