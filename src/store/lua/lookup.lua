-- The profile of the first identity that names a customer, in one round
-- trip (the router reads it to classify a message).
--
-- KEYS: identity keys, best first. ARGV[1] base `{P}`. Returns the
-- customer's fields as a flat field/value list ({} when none is known).
for _, key in ipairs(KEYS) do
  local cid = redis.call('GET', key)
  if cid then
    local fields = redis.call('HGETALL', ARGV[1] .. ':customer:' .. cid)
    if #fields > 0 then
      return fields
    end
  end
end
return {}
