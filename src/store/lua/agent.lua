-- (Prefixed at load with lib.lua.)
-- Agent state that routing reads in Redis.
--
-- `sync`: writes an agent's configuration (capacities, skills, languages)
-- over whatever an earlier configuration wrote, keeps its status (or sets
-- the initial one when the agent is new), and re-indexes it. An agent
-- removed from the configuration is synced with status `offline` and no
-- capacity, so it takes nothing new.
--   KEYS[1] agent key. ARGV: 1 base `{P}`, 2 agent id, 3 `sync`, 4 initial
--   status, 5 `force` to set the status even if known, 6 total capacity,
--   7..10 capacity on sms, wechat, email, webchat, 11 skills JSON
--   {name: level}, 12 languages JSON (empty list: speaks any).
-- `status`: sets the status (available resets the missed-offer count).
--   KEYS[1] agent key. ARGV: 1 base, 2 agent id, 3 `status`, 4 status.
-- Returns the agent's status.
local P, agent, op = ARGV[1], ARGV[2], ARGV[3]
local akey = KEYS[1]
if op == 'status' then
  redis.call('HSET', akey, 'status', ARGV[4])
  if ARGV[4] == 'available' then
    redis.call('HSET', akey, 'missed', 0)
  end
  reindex(P, agent, true)
  return ARGV[4]
end
if ARGV[5] == 'force' then
  redis.call('HSET', akey, 'status', ARGV[4])
else
  redis.call('HSETNX', akey, 'status', ARGV[4])
end
for _, field in ipairs(redis.call('HKEYS', akey)) do
  if string.sub(field, 1, 6) == 'skill:' or string.sub(field, 1, 5) == 'lang:' then
    redis.call('HDEL', akey, field)
  end
end
redis.call('HSET', akey, 'cap_total', ARGV[6])
for i, ch in ipairs(CHANNELS) do
  local cap = tonumber(ARGV[6 + i])
  redis.call('HSET', akey, 'cap:' .. ch, cap)
  if cap > 0 then
    redis.call('SADD', P .. ':agents:' .. ch, agent)
  else
    redis.call('SREM', P .. ':agents:' .. ch, agent)
  end
end
for skill, level in pairs(cjson.decode(ARGV[11])) do
  redis.call('HSET', akey, 'skill:' .. skill, level)
end
local langs = cjson.decode(ARGV[12])
if #langs == 0 then
  redis.call('HSET', akey, 'langs', '*')
else
  redis.call('HSET', akey, 'langs', '')
  for _, l in ipairs(langs) do
    redis.call('HSET', akey, 'lang:' .. l, 1)
  end
end
redis.call('SADD', P .. ':agents', agent)
reindex(P, agent, true)
return redis.call('HGET', akey, 'status')
