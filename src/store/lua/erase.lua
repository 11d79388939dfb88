-- (Prefixed at load with lib.lua.)
-- Erases a customer in one atomic step (`privacy::erase`): every
-- conversation (an open one is first withdrawn from its agent, capacity
-- freed, with a `resolved` event of reason `erased` that carries no
-- personal data), its messages, notes, SLA clocks, report state, email
-- Message-ID maps, send states and outbox entries; the identities, the
-- web chat history of its visitor ids, the dead letters that name the
-- customer, one of its conversations or identities; then the profile.
-- An SMS opt-out of one of its numbers is kept as a keyed hash. Each
-- erased conversation leaves a tombstone `{P}:erased:<id>` so that its
-- stream messages indexed after this step are deleted too, and a message
-- routed after it makes a new customer (the identities are gone).
--
-- KEYS[1] the customer key. ARGV: 1 base `{P}`, 2 customer id, 3 now (ms),
-- 4 tombstone TTL (s), 5 number n of further keys to delete (found by a
-- scan: web chat slots, Slack parents), then those n keys, the number m
-- of markers, then the m markers (`h:<hex>`, keyed hashes of the ids the
-- customer is known by), then opt-out triples (account, number, its keyed
-- hash `h:<hex>`).
-- Returns (see reply()) JSON {counts = {kind = n}, streams = '<stream>:<seq> …'}.
local P, cid, now, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local ckey = KEYS[1]
local counts = {profile = 0, identities = 0, conversations = 0, messages = 0, notes = 0, sla_clocks = 0,
  email_threads = 0, webchat_history = 0, outbound_states = 0, dead_letters = 0, withdrawn = 0, other_keys = 0}
local streams = {}
local needles = {cid}

local function add(kind, n)
  counts[kind] = counts[kind] + n
end

-- Every member of a hash or zset whose field or member matches `pattern`.
local function scan_all(cmd, key, pattern)
  local found, cursor = {}, '0'
  repeat
    local r = redis.call(cmd, key, cursor, 'MATCH', pattern, 'COUNT', 500)
    cursor = r[1]
    for i = 1, #r[2], 2 do
      found[#found + 1] = r[2][i]
    end
  until cursor == '0'
  return found
end

local function glob(s)
  return (string.gsub(s, '[%*%?%[%]\\]', '\\%0'))
end

local function erase_conversation(conv)
  local vkey = P .. ':conv:' .. conv
  table.insert(needles, conv)
  local f = redis.call('HMGET', vkey, 'id', 'state', 'event_seq', 'email_references', 'email_last_message_id')
  -- Its events still in the outbox: never published now.
  for _, id in ipairs(scan_all('HSCAN', P .. ':outbox:data', glob(conv) .. ':*')) do
    redis.call('HDEL', P .. ':outbox:data', id)
    redis.call('ZREM', P .. ':outbox', id)
  end
  for _, m in ipairs(redis.call('LRANGE', vkey .. ':messages', 0, -1)) do
    local ok, msg = pcall(cjson.decode, m)
    if ok and type(msg) == 'table' then
      if msg.direction == 'note' then add('notes', 1) else add('messages', 1) end
      if type(msg.outbound_ids) == 'table' then
        for _, o in ipairs(msg.outbound_ids) do
          add('outbound_states', redis.call('DEL', P .. ':outbound:' .. o))
          redis.call('HDEL', P .. ':outbox:data', o)
          redis.call('ZREM', P .. ':outbox', o)
        end
      end
    else
      add('messages', 1)
    end
  end
  local ids = redis.call('SMEMBERS', vkey .. ':msgids')
  for word in string.gmatch((f[4] or '') .. ' ' .. (f[5] or ''), '%S+') do
    table.insert(ids, word)
  end
  for _, id in ipairs(ids) do
    if redis.call('GET', P .. ':email:msgid:' .. id) == conv then
      add('email_threads', redis.call('DEL', P .. ':email:msgid:' .. id))
    end
  end
  for _, s in ipairs(redis.call('SMEMBERS', vkey .. ':stream')) do
    table.insert(streams, s)
  end
  for _, member in ipairs(scan_all('ZSCAN', P .. ':atrisk', glob(conv) .. '|*')) do
    redis.call('ZREM', P .. ':atrisk', member)
  end
  local keep = num(f[3]) + 1
  if f[1] then
    add('conversations', 1)
    -- Capacity still held (open, offered, or in wrap-up) is freed now.
    release(P, conv, vkey, false)
    redis.call('ZREM', P .. ':wrapups', conv)
    redis.call('ZREM', P .. ':offers', conv)
    redis.call('ZREM', P .. ':bullseye', conv)
    unwait(P, conv, vkey)
    if f[2] ~= 'resolved' then
      add('withdrawn', 1)
      -- The event names no customer: its id and address go first.
      redis.call('HDEL', vkey, 'customer', 'address')
      redis.call('HSET', vkey, 'state', 'resolved', 'resolved_at', now, 'resolved_by', 'erased')
      emit(P, {type = 'switchboard.conversation.resolved', conv = conv, at = now, reason = 'erased'})
      keep = num(redis.call('HGET', vkey, 'event_seq'))
      -- Delivery waits for nothing before it (earlier events are erased).
      redis.call('SET', vkey .. ':delivered', fmt(keep - 1), 'EX', 86400)
    else
      redis.call('DEL', vkey .. ':delivered')
    end
  end
  add('sla_clocks', redis.call('DEL', P .. ':sla:' .. conv))
  redis.call('DEL', vkey, vkey .. ':messages', vkey .. ':declined', vkey .. ':stream', vkey .. ':msgids',
    P .. ':rpt:conv:' .. conv)
  redis.call('ZREM', P .. ':convs', conv)
  redis.call('SET', P .. ':erased:' .. conv, fmt(keep), 'EX', ttl)
end

local convs = redis.call('SMEMBERS', ckey .. ':convs')
local c = redis.call('HMGET', ckey, 'open', 'last_resolved')
local listed = {}
for _, conv in ipairs(convs) do listed[conv] = true end
for i = 1, 2 do
  if c[i] and not listed[c[i]] then
    listed[c[i]] = true
    table.insert(convs, c[i])
  end
end
for _, conv in ipairs(convs) do
  erase_conversation(conv)
end

for _, identity in ipairs(redis.call('SMEMBERS', ckey .. ':identities')) do
  local key = P .. ':ident:' .. identity
  if redis.call('GET', key) == cid then
    add('identities', redis.call('DEL', key))
  end
  local kind, value = string.match(identity, '^([^:]+):(.*)$')
  if value and value ~= '' then
    table.insert(needles, value)
  end
  if kind == 'visitor' then
    local log = P .. ':webchat:' .. value .. ':log'
    add('webchat_history', redis.call('ZCARD', log))
    redis.call('DEL', log, P .. ':webchat:' .. value .. ':seq')
  end
end
add('profile', redis.call('DEL', ckey))
redis.call('DEL', ckey .. ':identities', ckey .. ':convs')

local n = tonumber(ARGV[5])
for i = 6, 5 + n do
  add('other_keys', redis.call('DEL', ARGV[i]))
end
-- Markers (keyed hashes of the ids it could be asked by): a repeated
-- erase answers "nothing left" rather than "unknown".
local m = tonumber(ARGV[6 + n])
for i = 7 + n, 6 + n + m do
  redis.call('SET', P .. ':erased:' .. ARGV[i], cid, 'EX', 30 * 86400)
end
for i = 7 + n + m, #ARGV, 3 do
  local set = P .. ':optout:sms:' .. ARGV[i]
  if redis.call('SREM', set, ARGV[i + 1]) == 1 then
    redis.call('SADD', set, ARGV[i + 2])
  end
end

-- Dead letters that carry the customer: they name its id, one of its
-- conversations or one of its identities.
local dl = P .. ':deadletters:data'
for _, id in ipairs(scan_all('HSCAN', dl, '*')) do
  local v = redis.call('HGET', dl, id) or ''
  for _, needle in ipairs(needles) do
    if string.find(v, needle, 1, true) then
      add('dead_letters', redis.call('HDEL', dl, id))
      redis.call('ZREM', P .. ':deadletters', id)
      break
    end
  end
end

local any = false
for _, v in pairs(counts) do
  if v > 0 then any = true end
end
if any then
  emit(P, {type = 'switchboard.customer.erased', scope = 'system', at = now, customer = cid})
end
return reply(cjson.encode({counts = counts, streams = table.concat(streams, ' ')}))
