-- Several conversations' delivery marks moved at once (see
-- `store::coalesce`), in their order; a mark only moves forward.
-- KEYS: the marks `{P}:conv:<id>:delivered`. ARGV: 1 their TTL (s), then
-- one sequence number per key.
local ttl = ARGV[1]
for i, key in ipairs(KEYS) do
  local seq = tonumber(ARGV[i + 1])
  local current = tonumber(redis.call('GET', key) or '0')
  if seq > current then
    redis.call('SET', key, seq, 'EX', ttl)
  else
    redis.call('EXPIRE', key, ttl)
  end
end
return #KEYS
