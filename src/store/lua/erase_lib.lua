-- (Prefixed at load with lib.lua; prefixes erase.lua and retention.lua.)
-- Removes one conversation and everything keyed by it: withdrawn from its
-- agent first when still open (capacity freed, a `resolved` event of
-- reason `erased` without the customer), its outbox entries, messages and
-- notes, send states, email Message-ID maps, SLA clocks, at-risk entries,
-- report state; its stream messages are collected in `streams` (for the
-- caller to delete) and a tombstone `{P}:erased:<id>` (TTL ARGV[4]) makes
-- those indexed later deleted too. Counts go to `counts`.
-- ARGV[1] base `{P}`, ARGV[3] now (ms), ARGV[4] tombstone TTL (s).
local P, now, ttl = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[4])
local counts = {profile = 0, identities = 0, conversations = 0, messages = 0, notes = 0, sla_clocks = 0,
  email_threads = 0, webchat_history = 0, outbound_states = 0, dead_letters = 0, withdrawn = 0, other_keys = 0}
local streams = {}
local needles = {}

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

