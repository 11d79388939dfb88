-- Sets fields on the customer profile of an identity, creating the
-- customer when the identity is new (events such as a WeChat unsubscribe
-- update the profile without opening a conversation).
--
-- KEYS[1] identity key. ARGV: 1 base `{P}`, 2 new customer id, 3 now (ms),
-- then field, value pairs. Returns the customer id.
local cid = redis.call('GET', KEYS[1])
if not cid then
  cid = ARGV[2]
  redis.call('SET', KEYS[1], cid)
  redis.call('HSET', ARGV[1] .. ':customer:' .. cid, 'id', cid, 'created_at', ARGV[3])
end
local ckey = ARGV[1] .. ':customer:' .. cid
for i = 4, #ARGV, 2 do
  redis.call('HSET', ckey, ARGV[i], ARGV[i + 1])
end
return cid
