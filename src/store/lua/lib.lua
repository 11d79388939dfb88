-- The routing library, prepended at load time to every script that
-- changes assignments (route, drain, resolve, offer, transfer, agent,
-- sweep), so that all of them keep the same invariants:
--
-- * `{P}:agent:<a>` `load:<ch>` counts the open (assigned, offered or in
--   wrap-up) conversations the agent holds on channel ch, `load` their sum;
--   neither ever exceeds `cap:<ch>` / `cap_total` through an assignment.
-- * `{P}:avail:<ch>` (zset) holds exactly the agents that are available
--   with free capacity on ch and in total, scored by occupancy on ch (per
--   mille) * 1e10 + the second of their last assignment: the first entry
--   is the least occupied, ties to the longest idle. Every change of an
--   agent's status, capacity or load calls reindex().
-- * A conversation has at most one agent; a conversation without one is
--   in its queue's waiting line for its channel (`waiting_in` names it),
--   scored (its first-response SLA deadline,
--   else its enqueue time, in ms) - priority * 1e13, so lower is served
--   first: priority, then earliest deadline / longest waiting; and in
--   `{P}:bullseye` at the time of its queue's next bullseye step, if any.
--
-- Scores are written with '%.0f' (Lua's default number format would round
-- them to 14 digits).

local CHANNELS = {'sms', 'wechat', 'email', 'webchat'}
local DECISION_DETAIL = 25
local SMALL_TEAM = 30

local function num(v)
  return tonumber(v or '0') or 0
end

local function fmt(x)
  return string.format('%.0f', x)
end

-- The event outbox (see `store::outbox`): every script that changes a
-- conversation appends the events the change implies in the same call, so
-- a committed change always has its events. An entry is `{P}:outbox`
-- (zset: id -> time appended, ms) plus `{P}:outbox:data` (hash: id ->
-- `<target>\n<payload>`, target `event:<type>` or `outbound:<channel>`).
-- The script returns what it appended (see reply()) so the caller publishes
-- at once; the relay publishes what stays behind. A conversation's events
-- are numbered by `event_seq` on its hash, the event id is
-- `<conversation>:<seq>`; events of no conversation are numbered per scope
-- in `{P}:outbox:seqs` (`agent:<id>:<seq>`, `system:<seq>`).
local EMITTED = {}

-- Epoch milliseconds as RFC 3339 UTC with milliseconds (days to civil
-- date after H. Hinnant's algorithm; Redis' Lua has no os.date).
local function rfc3339(ms)
  local secs = math.floor(ms / 1000)
  local millis = ms - secs * 1000
  local days = math.floor(secs / 86400)
  local rem = secs - days * 86400
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400 + (m <= 2 and 1 or 0)
  return string.format('%04d-%02d-%02dT%02d:%02d:%02d.%03dZ', y, m, d, math.floor(rem / 3600),
    math.floor((rem % 3600) / 60), rem % 60, millis)
end

-- Appends one entry to the outbox.
local function outbox_put(P, id, target, payload, now)
  local entry = target .. '\n' .. payload
  redis.call('HSET', P .. ':outbox:data', id, entry)
  redis.call('ZADD', P .. ':outbox', fmt(now), id)
  table.insert(EMITTED, id)
  table.insert(EMITTED, entry)
end

-- A decision as the events carry it; an empty candidate list stays a list.
local function decision_json(chosen, candidates, rule)
  local list = (candidates and #candidates > 0) and cjson.encode(candidates) or '[]'
  local out = '{"chosen":' .. ((chosen and chosen ~= '') and cjson.encode(chosen) or 'null') .. ',"candidates":' .. list
  if rule and rule ~= '' then
    out = out .. ',"rule":' .. cjson.encode(rule)
  end
  return out .. '}'
end

-- Appends a CloudEvent of type `ev.type` to the outbox. `ev`: conv (the
-- conversation; nil for an event of `ev.scope`), at (ms), and optionally
-- agent (false: none; nil: the conversation's), customer (the customer id of
-- an event of no conversation), queue, from_agent, reason, error,
-- supervisors, notify (`[sla.notify]` list names), score and comment (a
-- rating), decision = {chosen, candidates} (the rule is the
-- conversation's), and raw JSON texts message, sla and alert. The common fields
-- are the conversation's as they are now, after the change. Returns the id.
local function emit(P, ev)
  local data, seq, id
  local rule = nil
  if ev.conv then
    local vkey = P .. ':conv:' .. ev.conv
    local f = redis.call('HMGET', vkey, 'channel', 'account', 'customer', 'address', 'queue', 'agent', 'rule')
    seq = redis.call('HINCRBY', vkey, 'event_seq', 1)
    id = ev.conv .. ':' .. seq
    data = {conversation_id = ev.conv, channel = f[1] or '', account = f[2] or '',
      customer = {id = f[3] or '', address = f[4] or ''}, queue = ev.queue or f[5] or ''}
    local agent = f[6]
    if ev.agent ~= nil then agent = ev.agent end
    if agent and agent ~= '' then data.agent = agent end
    rule = f[7]
  else
    seq = redis.call('HINCRBY', P .. ':outbox:seqs', ev.scope, 1)
    id = ev.scope .. ':' .. seq
    data = {conversation_id = '', channel = '', account = '', customer = {id = '', address = ''}, queue = ''}
    if ev.agent and ev.agent ~= '' then data.agent = ev.agent end
    if ev.customer then data.customer.id = ev.customer end
  end
  for _, k in ipairs({'from_agent', 'reason', 'error'}) do
    if ev[k] and ev[k] ~= '' then data[k] = ev[k] end
  end
  if ev.supervisors then data.supervisors = true end
  if ev.score then data.score = ev.score end
  if type(ev.notify) == 'table' and #ev.notify > 0 then data.notify = ev.notify end
  if ev.comment and ev.comment ~= '' then data.comment = ev.comment end
  local extra = {}
  if ev.decision then
    table.insert(extra, '"decision":' .. decision_json(ev.decision.chosen, ev.decision.candidates, rule))
  end
  if ev.message and ev.message ~= '' then table.insert(extra, '"message":' .. ev.message) end
  if ev.sla and ev.sla ~= '' then table.insert(extra, '"sla":' .. ev.sla) end
  if ev.alert and ev.alert ~= '' then table.insert(extra, '"alert":' .. ev.alert) end
  local body = cjson.encode(data)
  if #extra > 0 then
    body = string.sub(body, 1, -2) .. ',' .. table.concat(extra, ',') .. '}'
  end
  local source = redis.call('HGET', P .. ':config', 'event_source') or ''
  local payload = '{"specversion":"1.0","id":' .. cjson.encode(id) .. ',"source":' .. cjson.encode(source)
    .. ',"type":' .. cjson.encode(ev.type) .. ',"subject":' .. cjson.encode(ev.conv or '')
    .. ',"time":"' .. rfc3339(ev.at) .. '","datacontenttype":"application/json","seq":' .. seq
    .. ',"data":' .. body .. '}'
  outbox_put(P, id, 'event:' .. ev.type, payload, ev.at)
  return id
end

-- The `assigned`, `offered` or `queued` event of a placement.
local function emit_placement(P, conv, now, agent, state, decision, from_agent, reason)
  local kind = 'switchboard.conversation.assigned'
  if state == 'offered' then
    kind = 'switchboard.conversation.offered'
  elseif (not agent) or agent == '' then
    kind = 'switchboard.conversation.queued'
  end
  return emit(P, {type = kind, conv = conv, at = now, agent = agent or false, from_agent = from_agent,
    reason = reason, decision = {chosen = agent, candidates = decision}})
end

-- What a script returns: its result, then the outbox entries it appended
-- (id, entry, id, entry, ...), for the caller to publish at once.
local function reply(result)
  local out = {result}
  for _, v in ipairs(EMITTED) do
    table.insert(out, v)
  end
  return out
end

-- `full`: also the channels the agent has no capacity on (its capacities
-- changed); otherwise those are skipped, as it is in none of their indexes.
local function reindex(P, agent, full)
  local akey = P .. ':agent:' .. agent
  local f = redis.call('HMGET', akey, 'status', 'load', 'cap_total', 'last_assigned_ms',
    'load:sms', 'cap:sms', 'load:wechat', 'cap:wechat', 'load:email', 'cap:email',
    'load:webchat', 'cap:webchat')
  local open = f[1] == 'available' and num(f[2]) < num(f[3])
  local idle_s = math.floor(num(f[4]) / 1000)
  for i, ch in ipairs(CHANNELS) do
    local load, cap = num(f[3 + 2 * i]), num(f[4 + 2 * i])
    local z = P .. ':avail:' .. ch
    if open and load < cap then
      redis.call('ZADD', z, fmt(math.floor(load * 1000 / cap) * 1e10 + idle_s), agent)
    elseif cap > 0 or full then
      redis.call('ZREM', z, agent)
    end
  end
end

-- What a conversation requires of its agent.
local function requirements(P, vkey)
  local f = redis.call('HMGET', vkey, 'req_skills', 'language', 'relax')
  local ok, skills = pcall(cjson.decode, f[1] or '{}')
  if not ok or type(skills) ~= 'table' then skills = {} end
  return {skills = skills, lang = f[2] or '', relax = num(f[3]), declined = vkey .. ':declined'}
end

-- Whether an agent meets the requirements other than status and capacity.
local function eligible(P, agent, req)
  if redis.call('SISMEMBER', req.declined, agent) == 1 then
    return false, 'declined or missed this offer'
  end
  local akey = P .. ':agent:' .. agent
  for skill, min in pairs(req.skills) do
    local need = math.max(1, num(min) - req.relax)
    local have = num(redis.call('HGET', akey, 'skill:' .. skill))
    if have == 0 then
      return false, 'lacks skill ' .. skill
    elseif have < need then
      return false, 'skill ' .. skill .. ' ' .. have .. ' below ' .. need
    end
  end
  if req.lang ~= '' then
    local f = redis.call('HMGET', akey, 'langs', 'lang:' .. req.lang)
    if f[1] ~= '*' and not f[2] then
      return false, 'does not speak ' .. req.lang
    end
  end
  return true, nil
end

local function candidate(P, agent, channel, reason)
  local f = redis.call('HMGET', P .. ':agent:' .. agent, 'status', 'load:' .. channel, 'cap:' .. channel)
  return {agent = agent, status = f[1] or 'offline', load = num(f[2]), capacity = num(f[3]), reason = reason}
end

-- Chooses an agent for a conversation on `channel` with requirements
-- `req`: the sticky agent when eligible, else the first eligible agent of
-- the availability index. Returns the agent (or nil) and the decision:
-- the agents examined with the reason each was passed over, and for small
-- teams every other agent with a capacity on the channel and why it was
-- not chosen (status, capacity, skills, language, or a worse score).
local function pick(P, channel, req, sticky)
  local decision, seen = {}, {}
  local z = P .. ':avail:' .. channel
  local best, best_reason = nil, nil
  if sticky and sticky ~= '' and redis.call('ZSCORE', z, sticky) then
    seen[sticky] = true
    local ok, why = eligible(P, sticky, req)
    if ok then
      best, best_reason = sticky, 'chosen: sticky, served this customer last'
    else
      table.insert(decision, candidate(P, sticky, channel, 'served this customer last, but ' .. why))
    end
  end
  -- The first few entries usually hold the choice; further on, in
  -- larger batches.
  local offset, batch, passed = 0, 8, 0
  while not best do
    local ids = redis.call('ZRANGE', z, offset, offset + batch - 1)
    if #ids == 0 then break end
    for _, id in ipairs(ids) do
      if not seen[id] then
        seen[id] = true
        local ok, why = eligible(P, id, req)
        if ok then
          best, best_reason = id, 'chosen: least occupied, then longest idle'
          break
        end
        passed = passed + 1
        if #decision < DECISION_DETAIL then
          table.insert(decision, candidate(P, id, channel, why))
        end
      end
    end
    offset = offset + batch
    batch = 64
  end
  if best then
    table.insert(decision, 1, candidate(P, best, channel, best_reason))
  end
  local all = P .. ':agents:' .. channel
  if redis.call('SCARD', all) <= SMALL_TEAM then
    for _, id in ipairs(redis.call('SMEMBERS', all)) do
      if not seen[id] then
        local f = redis.call('HMGET', P .. ':agent:' .. id, 'status', 'load:' .. channel, 'cap:' .. channel,
          'load', 'cap_total')
        local why
        if f[1] ~= 'available' then
          why = 'status ' .. (f[1] or 'offline')
        elseif num(f[2]) >= num(f[3]) then
          why = channel .. ' capacity full'
        elseif num(f[4]) >= num(f[5]) then
          why = 'total capacity full'
        else
          local ok, w = eligible(P, id, req)
          why = ok and 'eligible, but more occupied or idle for less time' or w
        end
        table.insert(decision, candidate(P, id, channel, why))
      end
    end
  elseif passed > DECISION_DETAIL then
    table.insert(decision, {agent = '', status = '', load = 0, capacity = 0,
      reason = (passed - DECISION_DETAIL) .. ' more agents passed over'})
  end
  return best, decision
end

-- A queue's waiting line for one channel (capacity frees per channel, so
-- a drain looks at the heads of the lines agents have room for).
local function waiting_key(P, queue, channel)
  return P .. ':queue:' .. queue .. ':waiting:' .. channel
end

-- Takes a conversation out of whatever waiting line holds it.
local function unwait(P, conv, vkey)
  local line = redis.call('HGET', vkey, 'waiting_in')
  if line then
    redis.call('ZREM', line, conv)
    redis.call('HDEL', vkey, 'waiting_in')
  end
end

-- A queue's settings as the configuration wrote them to `{P}:config`:
-- {skills, priority, mode, offer_timeout_ms, overflow, bullseye = [{after_ms,
-- relax, overflow}]}; {} for a queue the configuration does not name.
local function queue_config(P, queue)
  local raw = redis.call('HGET', P .. ':config', 'queue:' .. (queue or ''))
  if not raw then return {} end
  local ok, qc = pcall(cjson.decode, raw)
  if not ok or type(qc) ~= 'table' then return {} end
  return qc
end

-- Puts a conversation without agent in its queue's waiting line, and
-- schedules its next bullseye step (counted from when it was queued).
local function enqueue(P, conv, vkey)
  local f = redis.call('HMGET', vkey, 'queue', 'enqueued_at', 'priority', 'bullseye_step', 'deadline_ms', 'channel')
  local prio = math.max(-500, math.min(500, num(f[3])))
  -- Within a priority band: earliest SLA deadline first, else arrival.
  local at = num(f[5]) > 0 and num(f[5]) or num(f[2])
  unwait(P, conv, vkey)
  local line = waiting_key(P, f[1], f[6])
  redis.call('ZADD', line, fmt(at - prio * 1e13), conv)
  redis.call('HSET', vkey, 'waiting_in', line)
  redis.call('SADD', P .. ':queues', f[1])
  redis.call('HSET', vkey, 'state', 'queued')
  local steps = queue_config(P, f[1]).bullseye
  local step = type(steps) == 'table' and steps[num(f[4]) + 1]
  if step then
    redis.call('ZADD', P .. ':bullseye', fmt(num(f[2]) + num(step.after_ms)), conv)
  else
    redis.call('ZREM', P .. ':bullseye', conv)
  end
end

-- Conversation `conv` of customer `cid` was resolved at `now`: it is no
-- longer the customer's open one, and it is the one a message within the
-- reopen window reopens.
local function customer_resolved(P, cid, conv, now)
  local ckey = P .. ':customer:' .. cid
  if redis.call('HGET', ckey, 'open') == conv then
    redis.call('HDEL', ckey, 'open')
  end
  redis.call('HSET', ckey, 'last_resolved', conv, 'resolved_at', now)
end

-- Moves the load of agent `akey` (in all and on `channel`, if given) by
-- `delta` (1 or -1); it never goes below 0.
local function add_load(akey, channel, delta)
  if channel and (delta > 0 or num(redis.call('HGET', akey, 'load:' .. channel)) > 0) then
    redis.call('HINCRBY', akey, 'load:' .. channel, delta)
  end
  if delta > 0 or num(redis.call('HGET', akey, 'load')) > 0 then
    redis.call('HINCRBY', akey, 'load', delta)
  end
end

-- Gives a conversation to an agent, as `assigned` or `offered`. `fresh`
-- (optional): the conversation was just opened, so it waits in no line
-- and `fresh.customer` is its customer.
local function take(P, conv, vkey, agent, channel, now, state, fresh)
  local akey = P .. ':agent:' .. agent
  add_load(akey, channel, 1)
  redis.call('HSET', akey, 'last_assigned_ms', now)
  redis.call('SADD', akey .. ':conversations', conv)
  -- The queue's assignments per minute, for the waiting reply's estimate.
  local taken = P .. ':queue:' .. (redis.call('HGET', vkey, 'queue') or '') .. ':assigned:' .. fmt(math.floor(now / 60000))
  if redis.call('INCR', taken) == 1 then
    redis.call('EXPIRE', taken, 3600)
  end
  if state == 'assigned' then
    redis.call('HSET', vkey, 'agent', agent, 'state', state, 'load_channel', channel, 'assigned_at', now)
    local cid = fresh and fresh.customer or redis.call('HGET', vkey, 'customer')
    if cid then
      redis.call('HSET', P .. ':customer:' .. cid, 'last_agent', agent, 'last_agent_at', now)
    end
  else
    redis.call('HSET', vkey, 'agent', agent, 'state', state, 'load_channel', channel)
  end
  if not fresh then
    unwait(P, conv, vkey)
    redis.call('ZREM', P .. ':bullseye', conv)
  end
  reindex(P, agent)
end

-- Frees the capacity a conversation holds; `detach` also removes its
-- agent (a transfer, a withdrawn offer), otherwise the agent stays on
-- record as the one who handled it (a resolve). Returns the agent ('' if
-- none). Freeing twice is harmless: the agent's conversation set says
-- whether the capacity is still held.
local function release(P, conv, vkey, detach)
  local f = redis.call('HMGET', vkey, 'agent', 'load_channel')
  local agent, channel = f[1], f[2]
  if (not agent) or agent == '' then
    return ''
  end
  local akey = P .. ':agent:' .. agent
  if redis.call('SREM', akey .. ':conversations', conv) == 1 then
    if redis.call('SREM', akey .. ':pending', conv) == 1 then
      -- Pending (see count_again): it no longer counted, nothing to free.
      redis.call('HDEL', vkey, 'pending_since')
    else
      add_load(akey, channel, -1)
    end
  end
  if detach then
    redis.call('HDEL', vkey, 'agent', 'load_channel')
  end
  redis.call('HDEL', vkey, 'offer_expires_ms')
  redis.call('ZREM', P .. ':offers', conv)
  reindex(P, agent)
  return agent
end

-- A pending conversation (its agent's reply unanswered for
-- `routing.pending_after_secs`, see `lua/idle_pending.lua`) is in
-- `{P}:agent:<a>:pending` and not counted in the agent's load; the
-- customer writing again counts it again, even beyond the capacity for a
-- moment (reindex() then keeps the agent out of `avail` until under it).
local function count_again(P, conv, vkey, agent)
  local akey = P .. ':agent:' .. agent
  if redis.call('SREM', akey .. ':pending', conv) == 0 then
    return
  end
  add_load(akey, redis.call('HGET', vkey, 'load_channel'), 1)
  redis.call('HDEL', vkey, 'pending_since')
  reindex(P, agent)
end

-- Finds an agent for a conversation that has none: assigned (auto mode)
-- or offered (offer mode, with a timeout in `{P}:offers`), else queued.
-- Returns agent or nil, the decision, and the new state. `fresh`
-- (optional) is what the caller just wrote of a conversation it opened:
-- {channel, mode, offer_timeout_ms, customer, new_customer (no history),
-- skills, language}; it saves reading them back.
local function place(P, conv, vkey, now, fresh)
  local f
  if fresh then
    f = {fresh.channel, fresh.mode, fresh.offer_timeout_ms, fresh.customer}
  else
    f = redis.call('HMGET', vkey, 'channel', 'mode', 'offer_timeout_ms', 'customer')
  end
  local channel, mode = f[1], f[2]
  local sticky = nil
  if f[4] and not (fresh and fresh.new_customer) then
    local c = redis.call('HMGET', P .. ':customer:' .. f[4], 'last_agent', 'last_agent_at')
    if c[1] then
      local window = num(redis.call('HGET', P .. ':config', 'sticky_ms'))
      if now - num(c[2]) <= window then
        sticky = c[1]
      end
    end
  end
  local req
  if fresh then
    req = {skills = fresh.skills, lang = fresh.language or '', relax = 0, declined = vkey .. ':declined'}
  else
    req = requirements(P, vkey)
  end
  local best, decision = pick(P, channel, req, sticky)
  redis.call('HSET', vkey, 'decision', cjson.encode({chosen = best or '', at = now, candidates = decision}))
  if not best then
    enqueue(P, conv, vkey)
    return nil, decision, 'queued'
  end
  if mode == 'offer' then
    local expires = now + num(f[3])
    take(P, conv, vkey, best, channel, now, 'offered', fresh)
    redis.call('HSET', vkey, 'offered_at', now, 'offer_expires_ms', expires)
    redis.call('ZADD', P .. ':offers', fmt(expires), conv)
    return best, decision, 'offered'
  end
  take(P, conv, vkey, best, channel, now, 'assigned', fresh)
  return best, decision, 'assigned'
end

-- Takes an offer back from the agent it was made to (a decline, or a
-- timeout that counts as a miss and may set the agent away after
-- `offer_misses` in a row), and offers the conversation to the next agent
-- or queues it. Returns a result table, or nil when the conversation is
-- not offered to `agent`. Appends the `agent.away` event (when set away)
-- and the next placement's event, carrying `reason`.
local function withdraw(P, conv, now, agent, missed, reason)
  local vkey = P .. ':conv:' .. conv
  local f = redis.call('HMGET', vkey, 'state', 'agent')
  if f[1] ~= 'offered' or f[2] ~= agent then
    return nil
  end
  release(P, conv, vkey, true)
  redis.call('SADD', vkey .. ':declined', agent)
  redis.call('EXPIRE', vkey .. ':declined', 7 * 24 * 3600)
  local akey = P .. ':agent:' .. agent
  local away = false
  if missed then
    local misses = redis.call('HINCRBY', akey, 'missed', 1)
    local limit = num(redis.call('HGET', P .. ':config', 'offer_misses'))
    if limit > 0 and misses >= limit then
      redis.call('HSET', akey, 'status', 'away')
      reindex(P, agent)
      away = true
      emit(P, {type = 'switchboard.agent.away', scope = 'agent:' .. agent, agent = agent, at = now,
        reason = 'missed ' .. limit .. ' offers in a row'})
    end
  else
    redis.call('HSET', akey, 'missed', 0)
  end
  local next_agent, decision, state = place(P, conv, vkey, now)
  emit_placement(P, conv, now, next_agent, state, decision, agent, reason)
  return {conversation = conv, from = agent, agent = next_agent or '', state = state,
    decision = decision, away = away}
end
