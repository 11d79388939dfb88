-- (Prefixed at load with lib.lua.)
-- The timed side of routing, run by every replica's sweeper: offers not
-- accepted in time are withdrawn as misses (and offered on), wrap-ups that
-- ended free their capacity. Each entry is removed from its zset in the
-- same step, so exactly one replica handles it.
--
-- ARGV: 1 base `{P}`, 2 now (ms), 3 batch size.
-- Returns JSON {offers = [withdraw results], freed = [agents]}.
local P, now, batch = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local offers, freed = {}, {}
for _, conv in ipairs(redis.call('ZRANGEBYSCORE', P .. ':offers', '-inf', fmt(now), 'LIMIT', 0, batch)) do
  redis.call('ZREM', P .. ':offers', conv)
  local agent = redis.call('HGET', P .. ':conv:' .. conv, 'agent')
  local r = agent and withdraw(P, conv, now, agent, true)
  if r then
    table.insert(offers, r)
  end
end
for _, conv in ipairs(redis.call('ZRANGEBYSCORE', P .. ':wrapups', '-inf', fmt(now), 'LIMIT', 0, batch)) do
  redis.call('ZREM', P .. ':wrapups', conv)
  local vkey = P .. ':conv:' .. conv
  redis.call('HDEL', vkey, 'wrapup_until')
  if redis.call('HGET', vkey, 'state') == 'resolved' then
    local agent = release(P, conv, vkey, false)
    if agent ~= '' then
      table.insert(freed, agent)
    end
  end
end
if #offers == 0 and #freed == 0 then
  return '{}'
end
return cjson.encode({offers = offers, freed = freed})
