-- Writes values sealed again with the current data key (`switchboard
-- rekey`, see store::rekey), each only if it is still the value read:
-- a value changed meanwhile is left for the next run.
-- KEYS[1] a conversation's history (list) or record (hash).
-- ARGV[1] 'list' or 'hash', then triples: the index (list) or field
-- (hash), the value read, the value to write.
-- Returns how many were written.
local n = 0
for i = 2, #ARGV, 3 do
  if ARGV[1] == 'list' then
    if redis.call('LINDEX', KEYS[1], ARGV[i]) == ARGV[i + 1] then
      redis.call('LSET', KEYS[1], ARGV[i], ARGV[i + 2])
      n = n + 1
    end
  elseif redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
    n = n + 1
  end
end
return n
