-- (Prefixed at load with lib.lua.)
-- Assigns waiting conversations after capacity freed (a resolve, a
-- transfer, an agent turning available, the end of a wrap-up): the heads
-- of every queue, merged by score (priority, then longest waiting), each
-- placed if an agent can take it. Atomic, so replicas draining at once
-- never assign a conversation twice or overrun a capacity.
--
-- ARGV: 1 base `{P}`, 2 now (ms), 3 heads per queue.
-- Returns JSON: the conversations placed, each {conversation, agent,
-- state, decision}.
local P, now, depth = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local heads = {}
for _, queue in ipairs(redis.call('SMEMBERS', P .. ':queues')) do
  local z = redis.call('ZRANGE', waiting_key(P, queue), 0, depth - 1, 'WITHSCORES')
  for i = 1, #z, 2 do
    table.insert(heads, {conv = z[i], score = tonumber(z[i + 1]), queue = queue})
  end
end
table.sort(heads, function(a, b) return a.score < b.score end)
local placed = {}
local empty = {}
for _, h in ipairs(heads) do
  local vkey = P .. ':conv:' .. h.conv
  local f = redis.call('HMGET', vkey, 'state', 'agent', 'channel', 'queue')
  if f[1] ~= 'queued' or (f[2] and f[2] ~= '') or f[4] ~= h.queue then
    redis.call('ZREM', waiting_key(P, h.queue), h.conv)
  elseif not empty[f[3]] then
    if redis.call('ZCARD', P .. ':avail:' .. f[3]) == 0 then
      empty[f[3]] = true
    else
      local agent, decision, state = place(P, h.conv, vkey, now)
      if agent then
        table.insert(placed, {conversation = h.conv, agent = agent, state = state, decision = decision})
      end
    end
  end
end
if #placed == 0 then
  return '[]'
end
return cjson.encode(placed)
