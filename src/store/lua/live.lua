-- The live figures of the supervisor's view (`supervisor`), read in one
-- step so that they are all of one instant, whichever replica reads them.
-- Touches only keys derived from the base `{P}` (one hash slot): reads the
-- queues' waiting lines and the conversations at their heads, the agents,
-- `{P}:atrisk`, `{P}:alerts`, `{P}:deadletters` and `{P}:inbound:<minute>`.
-- Its one write drops `{P}:atrisk` members more than an hour past their
-- breach due: left by a step that died between writing a clock and
-- updating the at-risk set (the breach timer removes the rest).
--
-- Bounded work: the longest wait looks at the first 50 entries of each
-- waiting line (as the admin stats do: a line is ordered by priority, then
-- deadline or arrival, so the longest waiting is at its head unless
-- priorities mix), the at-risk counts at the first 10000 members.
--
-- ARGV: 1 base `{P}`, 2 now (ms), 3 at-risk entries to detail, 4 minutes of
-- inbound counts to read (0: none), 5 number of queues n, 6..5+n the
-- queues, then the agents.
-- Returns JSON: {queues = [{queue, waiting, oldest_ms (0: none waits)}],
-- agents = [{agent, status, load = {channel = n}}], at_risk_total,
-- at_risk_by_queue = {queue = n}, at_risk = [{member, due, queue, agent}]
-- (oldest due first), alerts = [the `{P}:alerts` values], dead_letters,
-- inbound = [messages of this minute, the one before, ...]}.
local P, now = ARGV[1], tonumber(ARGV[2])
local limit, minutes, nq = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local CHANNELS = {'sms', 'wechat', 'email', 'webchat'}
local HEADS, SCAN = 50, 10000

local queues = {}
for i = 1, nq do
  local q = ARGV[5 + i]
  local waiting, oldest = 0, 0
  for _, ch in ipairs(CHANNELS) do
    local line = P .. ':queue:' .. q .. ':waiting:' .. ch
    waiting = waiting + redis.call('ZCARD', line)
    for _, conv in ipairs(redis.call('ZRANGE', line, 0, HEADS - 1)) do
      local at = tonumber(redis.call('HGET', P .. ':conv:' .. conv, 'enqueued_at') or '')
      if at and (oldest == 0 or at < oldest) then
        oldest = at
      end
    end
  end
  table.insert(queues, {queue = q, waiting = waiting, oldest_ms = oldest})
end

local agents = {}
for i = 6 + nq, #ARGV do
  local a = ARGV[i]
  local f = redis.call('HMGET', P .. ':agent:' .. a, 'status', 'load:sms', 'load:wechat', 'load:email', 'load:webchat')
  local load = {}
  for j, ch in ipairs(CHANNELS) do
    load[ch] = tonumber(f[1 + j] or '0') or 0
  end
  table.insert(agents, {agent = a, status = f[1] or 'offline', load = load})
end

local risk = P .. ':atrisk'
redis.call('ZREMRANGEBYSCORE', risk, '-inf', string.format('(%.0f', now - 3600000))
local by_queue, detail = {}, {}
local members = redis.call('ZRANGE', risk, 0, SCAN - 1, 'WITHSCORES')
for i = 1, #members, 2 do
  local member, due = members[i], tonumber(members[i + 1])
  local conv = string.match(member, '^(.*)|[^|]*$') or member
  local f = redis.call('HMGET', P .. ':conv:' .. conv, 'queue', 'agent')
  local q = f[1] or ''
  by_queue[q] = (by_queue[q] or 0) + 1
  if #detail < limit then
    table.insert(detail, {member = member, due = due, queue = q, agent = f[2] or ''})
  end
end

local alerts = {}
local h = redis.call('HGETALL', P .. ':alerts')
for i = 2, #h, 2 do
  table.insert(alerts, h[i])
end

local inbound = {}
if minutes > 0 then
  local m = math.floor(now / 60000)
  for s = 0, minutes - 1, 500 do
    local chunk = {}
    for i = s, math.min(minutes - 1, s + 499) do
      chunk[#chunk + 1] = P .. ':inbound:' .. string.format('%.0f', m - i)
    end
    for _, v in ipairs(redis.call('MGET', unpack(chunk))) do
      inbound[#inbound + 1] = tonumber(v or '0') or 0
    end
  end
end

return cjson.encode({queues = queues, agents = agents, at_risk_total = redis.call('ZCARD', risk),
  at_risk_by_queue = by_queue, at_risk = detail, alerts = alerts,
  dead_letters = redis.call('ZCARD', P .. ':deadletters'), inbound = inbound})
