-- (Prefixed at load with lib.lua and erase_lib.lua.)
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
local cid, ckey = ARGV[2], KEYS[1]
table.insert(needles, cid)

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
