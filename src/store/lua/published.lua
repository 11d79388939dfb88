-- The router's last step for one inbound message, in one round trip:
-- registers the events it published as pending delivery in place of their
-- placeholder (see `delivery_published`), and replaces the conversation's
-- SLA clocks if they are still what the routing step read (see
-- `sla_cas.lua`).
--
-- KEYS[1] `{P}:dq:<conversation>`, KEYS[2] `{P}:sla:<conversation>`,
-- KEYS[3] `{P}:dq:<conversation>:early` (events delivered before this
-- registration, see `delivered.lua`: not added).
-- ARGV: 1 placeholder, 2 the clocks read ('' if none), 3 the new clocks
-- ('' to leave them), 4 their TTL (s), 5.. the stream sequences published.
-- Returns 1 when the clocks were replaced (or left), 0 when they changed
-- since they were read (the registration is done either way).
for i = 5, #ARGV do
  if redis.call('SREM', KEYS[3], ARGV[i]) == 0 then
    redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i])
  end
end
redis.call('ZREM', KEYS[1], ARGV[1])
if ARGV[3] == '' then
  return 1
end
local current = redis.call('GET', KEYS[2]) or ''
if current ~= ARGV[2] then
  return 0
end
redis.call('SET', KEYS[2], ARGV[3], 'EX', tonumber(ARGV[4]))
return 1
