-- Customers' profiles for the router to classify messages by, one or
-- several lookups at once (see `store::coalesce`): for each, the profile
-- of the first identity that names a customer.
--
-- KEYS: every lookup's identity keys, each lookup's best first.
-- ARGV[1] base `{P}`, ARGV[2..] how many keys each lookup has.
-- Returns one flat field/value list per lookup ({} when none is known).
local out, at = {}, 1
for n = 2, #ARGV do
  local count = tonumber(ARGV[n])
  local found = {}
  for i = at, at + count - 1 do
    local cid = redis.call('GET', KEYS[i])
    if cid then
      local fields = redis.call('HGETALL', ARGV[1] .. ':customer:' .. cid)
      if #fields > 0 then
        found = fields
        break
      end
    end
  end
  at = at + count
  out[#out + 1] = found
end
return out
