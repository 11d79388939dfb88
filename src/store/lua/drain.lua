-- (Prefixed at load with lib.lua.)
-- Assigns waiting conversations after capacity freed (a resolve, a
-- transfer, an agent turning available, the end of a wrap-up): the heads
-- of every queue's waiting line on each channel where some agent has room,
-- merged by score (priority, then earliest deadline / longest waiting),
-- each placed if an agent can take it. Atomic, so replicas draining at once
-- never assign a conversation twice or overrun a capacity.
--
-- ARGV: 1 base `{P}`, 2 now (ms), 3 heads per queue.
-- Appends each placement's event to the outbox. Returns (see reply())
-- JSON: the conversations placed, each {conversation, agent, state}.
local P, now, depth = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local heads = {}
local open = {}
for _, ch in ipairs(CHANNELS) do
  if redis.call('ZCARD', P .. ':avail:' .. ch) > 0 then
    table.insert(open, ch)
  end
end
for _, queue in ipairs(redis.call('SMEMBERS', P .. ':queues')) do
  for _, ch in ipairs(open) do
    local line = waiting_key(P, queue, ch)
    local z = redis.call('ZRANGE', line, 0, depth - 1, 'WITHSCORES')
    for i = 1, #z, 2 do
      table.insert(heads, {conv = z[i], score = tonumber(z[i + 1]), line = line})
    end
  end
end
table.sort(heads, function(a, b) return a.score < b.score end)
local placed = {}
local empty = {}
for _, h in ipairs(heads) do
  local vkey = P .. ':conv:' .. h.conv
  local f = redis.call('HMGET', vkey, 'state', 'agent', 'channel', 'waiting_in')
  if f[1] ~= 'queued' or (f[2] and f[2] ~= '') or f[4] ~= h.line then
    -- Stale: assigned meanwhile, or moved to another line.
    redis.call('ZREM', h.line, h.conv)
  elseif not empty[f[3]] then
    if redis.call('ZCARD', P .. ':avail:' .. f[3]) == 0 then
      empty[f[3]] = true
    else
      local agent, decision, state = place(P, h.conv, vkey, now)
      if agent then
        emit_placement(P, h.conv, now, agent, state, decision)
        table.insert(placed, {conversation = h.conv, agent = agent, state = state})
      end
    end
  end
end
if #placed == 0 then
  return reply('[]')
end
return reply(cjson.encode(placed))
