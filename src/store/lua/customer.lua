-- Creates or updates a customer profile from the admin API: the shop's
-- customer id and every identity given link to one customer (an identity
-- linked to another customer before moves to this one; that customer's
-- conversations stay theirs), and the attributes are set ('' removes one).
--
-- KEYS[1] identity key of the shop customer id, KEYS[2..] identity keys.
-- ARGV: 1 base `{P}`, 2 new customer id, 3 now (ms), 4 shop customer id,
-- 5 number of identities, then each identity as `kind:value` (for the
-- profile's list), then attribute field/value pairs.
-- Returns {customer id, created (0/1)}.
local P, now = ARGV[1], ARGV[3]
local cid = redis.call('GET', KEYS[1])
for i = 2, #KEYS do
  cid = cid or redis.call('GET', KEYS[i])
end
local created = 0
if not cid then
  cid = ARGV[2]
  created = 1
  redis.call('HSET', P .. ':customer:' .. cid, 'id', cid, 'created_at', now)
end
local ckey = P .. ':customer:' .. cid
redis.call('HSET', ckey, 'shop_id', ARGV[4], 'updated_at', now)
redis.call('SET', KEYS[1], cid)
redis.call('SADD', ckey .. ':identities', 'shop:' .. ARGV[4])
local n = tonumber(ARGV[5])
for i = 1, n do
  local previous = redis.call('GET', KEYS[i + 1])
  if previous and previous ~= cid then
    redis.call('SREM', P .. ':customer:' .. previous .. ':identities', ARGV[5 + i])
  end
  redis.call('SET', KEYS[i + 1], cid)
  redis.call('SADD', ckey .. ':identities', ARGV[5 + i])
end
for i = 6 + n, #ARGV, 2 do
  if ARGV[i + 1] == '' then
    redis.call('HDEL', ckey, ARGV[i])
  else
    redis.call('HSET', ckey, ARGV[i], ARGV[i + 1])
  end
end
return {cid, created}
