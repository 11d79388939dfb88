-- Shared by route.lua and assign.lua (prepended to each at load time).
--
-- pick(P, channel, args, at): chooses among the candidate agents listed in
-- args[at] (their number) and then (id, channel capacity, total capacity)
-- triples: status available, free capacity on the channel and in total;
-- least occupied on the channel, then in total, then longest idle since the
-- last assignment. Returns the chosen id (or nil) and the decision: every
-- candidate with the reason it was or was not chosen.
--
-- assign(P, conv, agent, channel, queue, now): the writes of an assignment,
-- keeping the invariant that an agent's load:<channel> counts its open
-- conversations on that channel.
local function pick(P, channel, args, at)
  local decision = {}
  local best, best_occ, best_total_occ, best_idle = nil, nil, nil, nil
  local n, i = tonumber(args[at]), at + 1
  for _ = 1, n do
    local id, cap, cap_total = args[i], tonumber(args[i + 1]), tonumber(args[i + 2])
    i = i + 3
    local f = redis.call('HMGET', P .. ':agent:' .. id, 'status', 'load:' .. channel, 'load', 'last_assigned_ms')
    local status = f[1] or 'offline'
    local load, total, idle = tonumber(f[2] or '0'), tonumber(f[3] or '0'), tonumber(f[4] or '0')
    local reason = 'eligible'
    if status ~= 'available' then
      reason = 'status ' .. status
    elseif cap <= 0 then
      reason = 'no ' .. channel .. ' capacity'
    elseif load >= cap then
      reason = channel .. ' capacity full'
    elseif total >= cap_total then
      reason = 'total capacity full'
    else
      local occ, tocc = load / cap, total / cap_total
      if best == nil or occ < best_occ or (occ == best_occ and (tocc < best_total_occ
          or (tocc == best_total_occ and idle < best_idle))) then
        best, best_occ, best_total_occ, best_idle = id, occ, tocc, idle
      end
    end
    table.insert(decision, {agent = id, status = status, load = load, capacity = cap, reason = reason})
  end
  for _, d in ipairs(decision) do
    if d.agent == best then d.reason = 'chosen: least occupied' end
  end
  return best, decision
end

local function assign(P, conv, agent, channel, queue, now)
  local akey = P .. ':agent:' .. agent
  local vkey = P .. ':conv:' .. conv
  redis.call('HINCRBY', akey, 'load:' .. channel, 1)
  redis.call('HINCRBY', akey, 'load', 1)
  redis.call('HSET', akey, 'last_assigned_ms', now)
  redis.call('SADD', akey .. ':conversations', conv)
  redis.call('HSET', vkey, 'agent', agent, 'state', 'assigned', 'assigned_at', now, 'load_channel', channel)
  local cid = redis.call('HGET', vkey, 'customer')
  if cid then
    redis.call('HSET', P .. ':customer:' .. cid, 'last_agent', agent)
  end
  redis.call('ZREM', P .. ':queue:' .. queue .. ':waiting', conv)
end
