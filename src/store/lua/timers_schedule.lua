-- Durable timers: schedule (idempotent upsert). See src/sla/timers.rs.
--
-- KEYS[1] due zset   (id -> next attempt ms)
-- KEYS[2] inflight   (id -> lease deadline ms)
-- KEYS[3] data hash  (id -> "<generation>|<due_ms>|<payload>")
-- KEYS[4] gen        (counter: the last generation handed out)
-- ARGV: one or more triples id, due_ms (decimal integer), payload; each is
-- upserted in order, as if by its own call.
--
-- Returns {outcome1, generation1, outcome2, generation2, ...}; outcome
-- 0 = unchanged (same due and payload already stored: nothing is touched,
-- not even a firing in flight), 1 = created, 2 = replaced (a new
-- generation; a firing of the old one in flight is dropped from the
-- inflight zset, so its ack/release is a no-op).
local out = {}
for i = 1, #ARGV - 2, 3 do
  local id, due, payload = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local cur = redis.call('HGET', KEYS[3], id)
  local sep = cur and string.find(cur, '|', 1, true)
  if sep and string.sub(cur, sep + 1) == due .. '|' .. payload then
    out[#out + 1] = 0
    out[#out + 1] = tonumber(string.sub(cur, 1, sep - 1))
  else
    local gen = redis.call('INCR', KEYS[4])
    redis.call('HSET', KEYS[3], id, gen .. '|' .. due .. '|' .. payload)
    if cur then
      redis.call('ZREM', KEYS[2], id)
    end
    redis.call('ZADD', KEYS[1], due, id)
    out[#out + 1] = cur and 2 or 1
    out[#out + 1] = gen
  end
end
return out
