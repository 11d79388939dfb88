-- (Prefixed at load with lib.lua.)
-- Routes one inbound message atomically: de-duplicate, find the customer
-- (linking the shop's customer id when the message carries one), join the
-- customer's open conversation, reopen one resolved within the reopen
-- window, or open a new one; append the message; and find an agent for a
-- conversation that has none (see place()).
--
-- KEYS[1] seen key of the provider message   KEYS[2] identity key
-- KEYS[3] identity key of the shop customer id ('' key name when none)
-- ARGV: 1 base `{P}`, 2 message JSON, 3 new customer id, 4 new conversation
-- id, 5 now (ms), 6 dedupe TTL (s), 7 channel, 8 account, 9 customer
-- address, 10 message id, 11 hinted conversation ('' if none: an email
-- reply threaded by Message-ID or reply token), 12 classification JSON
-- {queue, priority, skills, tags, rule, mode, offer_timeout_ms, language,
-- bot (the queue's bot, '' for none)},
-- 13 join window (ms, 0 = always join the open conversation), 14 reopen
-- window (ms), 15 the message as the events carry it (JSON), 16 the
-- message's sequence on the inbound stream (0: unknown), 17.. profile
-- field/value pairs to set on the customer.
--
-- The stream sequence goes into the conversation's `{P}:conv:<id>:stream`
-- (see `lua/stream_index.lua`) in the same step, so an erase finds every
-- copy of the message on the stream, a redelivered or republished one too.
--
-- Appends the routing's events to the outbox (`reopened` when it reopened
-- a conversation, then `assigned` or `offered` when it placed it, `queued`
-- when it opened one nobody could take, else `message`). A conversation
-- opened in a queue with a bot (or reopened after its bot resolved it) is
-- in state `bot` instead: it waits in no line, takes no agent, and the
-- router lets the bot answer (`lua/bot.lua`).
-- Returns {duplicate ('0'/'1'), the routing result as JSON, what the
-- router reads next as JSON: {sla = the conversation's SLA clocks ('' if
-- none), priority}, then the outbox entries appended (id, entry, ...)}.
-- The result is stored under KEYS[1] so a redelivered message gets the
-- original result back and appends nothing (its events are in the outbox
-- or on the log already).

local P, now = ARGV[1], tonumber(ARGV[5])

-- What the router needs after this script, read in the same round trip.
local function after(conv)
  return cjson.encode({
    sla = redis.call('GET', P .. ':sla:' .. conv) or '',
    priority = num(redis.call('HGET', P .. ':conv:' .. conv, 'priority')),
  })
end

local stream_seq = tonumber(ARGV[16]) or 0
local function index(conv)
  if stream_seq > 0 and redis.call('EXISTS', P .. ':conv:' .. conv) == 1 then
    redis.call('SADD', P .. ':conv:' .. conv .. ':stream', 'inbound:' .. string.format('%.0f', stream_seq))
  end
end

local seen = redis.call('GET', KEYS[1])
if seen then
  local ok, earlier = pcall(cjson.decode, seen)
  local conv = ok and type(earlier) == 'table' and earlier.conversation
  if type(conv) == 'string' then
    index(conv)
  end
  return {'1', seen, type(conv) == 'string' and after(conv) or '{}'}
end

-- Inbound messages per minute, for the surge alert (`supervisor`): a
-- message counts once, here, past the de-duplication; kept 25 hours.
local minute_key = P .. ':inbound:' .. string.format('%.0f', math.floor(now / 60000))
if redis.call('INCR', minute_key) == 1 then
  redis.call('EXPIRE', minute_key, 90000)
end

local msg = ARGV[2]
local channel, account, address = ARGV[7], ARGV[8], ARGV[9]
local class = cjson.decode(ARGV[12])
local join_window, reopen_window = tonumber(ARGV[13]), tonumber(ARGV[14])

local hint = ARGV[11]
local hinted = false
if hint ~= '' then
  local st = redis.call('HGET', P .. ':conv:' .. hint, 'state')
  hinted = st and st ~= 'resolved'
end

-- The customer: the shop's id wins, then the channel identity, then the
-- hinted conversation's customer, else a new one.
local cid = nil
if KEYS[3] ~= '' then
  cid = redis.call('GET', KEYS[3])
end
local by_identity = redis.call('GET', KEYS[2])
cid = cid or by_identity
if (not cid) and hinted then
  cid = redis.call('HGET', P .. ':conv:' .. hint, 'customer')
end
local new_customer = not cid
if new_customer then
  cid = ARGV[3]
end
if cid ~= by_identity then
  redis.call('SET', KEYS[2], cid)
end
if KEYS[3] ~= '' then
  redis.call('SET', KEYS[3], cid)
end
local ckey = P .. ':customer:' .. cid
-- The profile lists its identities as `kind:value` (the identity key's tail).
local tail = string.len(P .. ':ident:') + 1
if KEYS[3] ~= '' then
  redis.call('SADD', ckey .. ':identities', string.sub(KEYS[2], tail), string.sub(KEYS[3], tail))
else
  redis.call('SADD', ckey .. ':identities', string.sub(KEYS[2], tail))
end
-- Customer fields written at once: the new customer's own, the profile
-- fields of the message, the open conversation (below).
local cfields = {}
if new_customer then
  cfields = {'id', cid, 'created_at', now}
end
for i = 17, #ARGV, 2 do
  table.insert(cfields, ARGV[i])
  table.insert(cfields, ARGV[i + 1])
end

local conv, created, reopened, closed_stale = nil, false, false, nil
if hinted then
  conv = hint
elseif not new_customer then
  conv = redis.call('HGET', ckey, 'open')
  if conv then
    local f = redis.call('HMGET', P .. ':conv:' .. conv, 'state', 'updated_at')
    if (not f[1]) or f[1] == 'resolved' then
      conv = nil
    elseif join_window > 0 and now - num(f[2]) > join_window then
      -- Stale: resolve it (freeing its agent) and start afresh.
      local skey = P .. ':conv:' .. conv
      closed_stale = release(P, conv, skey, false)
      redis.call('HSET', skey, 'state', 'resolved', 'resolved_at', now, 'resolved_by', 'stale')
      unwait(P, conv, skey)
      conv = nil
    end
  end
end
if (not conv) and not new_customer then
  local last = redis.call('HMGET', ckey, 'last_resolved', 'resolved_at')
  if last[1] and reopen_window > 0 and now - num(last[2]) <= reopen_window
      and redis.call('HGET', P .. ':conv:' .. last[1], 'state') == 'resolved' then
    conv = last[1]
    reopened = true
    redis.call('HSET', P .. ':conv:' .. conv, 'reopened_at', now, 'enqueued_at', now)
    redis.call('HINCRBY', P .. ':conv:' .. conv, 'reopen_count', 1)
    redis.call('DEL', P .. ':conv:' .. conv .. ':declined')
  end
end
-- Bot first: a new conversation of a queue with a bot, or one the bot
-- resolved and the customer reopens.
local bot_first = false
if reopened and (class.bot or '') ~= '' and redis.call('HGET', P .. ':conv:' .. conv, 'resolved_by') == 'bot' then
  bot_first = true
end
-- Fields every routed message sets on its conversation.
local vfields = {'channel', channel, 'account', account, 'address', address, 'updated_at', now,
  'last_customer_at', now}
local function with(list, ...)
  for i = 1, select('#', ...) do
    list[#list + 1] = (select(i, ...))
  end
  return list
end
if not conv then
  conv = ARGV[4]
  created = true
  -- The index of every conversation, by id (ULIDs sort by creation), for
  -- `GET /api/v1/conversations`; written where conversations are created.
  redis.call('ZADD', P .. ':convs', 0, conv)
  -- The customer's own index, for an erase or an export (`privacy`).
  redis.call('SADD', ckey .. ':convs', conv)
  with(vfields, 'id', conv, 'customer', cid, 'created_at', now, 'enqueued_at', now,
    'state', (class.bot or '') ~= '' and 'bot' or 'queued')
  bot_first = (class.bot or '') ~= ''
end
local vkey = P .. ':conv:' .. conv
local reopened_state = 'queued'
if created or reopened then
  with(vfields, 'queue', class.queue, 'priority', class.priority,
    'req_skills', cjson.encode(class.skills), 'tags', cjson.encode(class.tags), 'rule', class.rule,
    'mode', class.mode, 'offer_timeout_ms', class.offer_timeout_ms, 'language', class.language,
    'relax', 0, 'bullseye_step', 0, 'deadline_ms', class.deadline_ms or 0, 'sla', class.sla or '')
  with(cfields, 'open', conv)
  if bot_first then
    with(vfields, 'bot', class.bot, 'bot_turns', 0, 'bot_misses', 0)
  end
  if reopened and bot_first then
    reopened_state = 'bot'
  elseif reopened then
    if redis.call('ZREM', P .. ':wrapups', conv) == 1 then
      -- Reopened during its agent's wrap-up: the agent still holds the
      -- capacity and simply carries on.
      redis.call('HDEL', vkey, 'wrapup_until')
      reopened_state = 'assigned'
    else
      -- Placed afresh (sticky: to the same agent if eligible).
      redis.call('HDEL', vkey, 'agent', 'load_channel')
    end
  end
end
if #cfields > 0 then
  redis.call('HSET', ckey, unpack(cfields))
end

local state, agent
if created then
  state, agent = bot_first and 'bot' or 'queued', nil
else
  local f = redis.call('HMGET', vkey, 'state', 'agent')
  state, agent = f[1], f[2]
  if agent and agent ~= '' then
    count_again(P, conv, vkey, agent)
  end
  if reopened then
    state = reopened_state
  elseif state == 'waiting' then
    state = 'assigned'
  end
  if state then
    with(vfields, 'state', state)
  end
end
redis.call('HSET', vkey, unpack(vfields))
redis.call('RPUSH', vkey .. ':messages', msg)
index(conv)

local decision = nil
local placed = false
if state ~= 'bot' and ((not agent) or agent == '') then
  local fresh = nil
  if created then
    local skills = class.skills
    if type(skills) ~= 'table' then skills = {} end
    fresh = {channel = channel, mode = class.mode, offer_timeout_ms = class.offer_timeout_ms, customer = cid,
      new_customer = new_customer, skills = skills, language = class.language}
  end
  agent, decision, state = place(P, conv, vkey, now, fresh)
  placed = agent ~= nil
end

local queue, rule = class.queue, class.rule
if not created then
  local f = redis.call('HMGET', vkey, 'queue', 'rule')
  queue, rule = f[1], f[2] or ''
end
local result = {
  conversation = conv, customer = cid, created = created, reopened = reopened, state = state,
  queue = queue, agent = agent or nil, message_id = ARGV[10],
  decision = decision, placed = placed, closed_stale = closed_stale, rule = rule,
}
local encoded = cjson.encode(result)
redis.call('SET', KEYS[1], encoded, 'EX', tonumber(ARGV[6]))

local message = ARGV[15]
if reopened then
  emit(P, {type = 'switchboard.conversation.reopened', conv = conv, at = now, message = message})
end
local kind = 'switchboard.conversation.message'
if placed and state == 'offered' then
  kind = 'switchboard.conversation.offered'
elseif placed then
  kind = 'switchboard.conversation.assigned'
elseif state ~= 'bot' and ((not agent) or agent == '') and (created or reopened) then
  kind = 'switchboard.conversation.queued'
end
local ev = {type = kind, conv = conv, at = now, message = message}
if decision and #decision > 0 then
  ev.decision = {chosen = placed and agent or nil, candidates = decision}
end
emit(P, ev)
-- A conversation opened here has no SLA clocks yet (its id is new) and
-- the priority it was just given: nothing to read.
local next_read
if created then
  next_read = cjson.encode({sla = '', priority = num(class.priority)})
else
  next_read = after(conv)
end
local out = {'0', encoded, next_read}
for _, v in ipairs(EMITTED) do
  table.insert(out, v)
end
return out
