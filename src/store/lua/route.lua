-- (Prefixed at load with pick.lua, which defines pick() and assign().)
-- Routes one inbound message atomically: de-duplicate, find or create the
-- customer and their open conversation, append the message, and assign the
-- conversation to the least occupied eligible agent if it has none.
--
-- KEYS[1] seen key of the provider message   KEYS[2] identity key
-- ARGV: 1 base `{P}`, 2 message JSON, 3 new customer id, 4 new conversation
-- id, 5 now (ms), 6 dedupe TTL (s), 7 queue, 8 channel, 9 account,
-- 10 customer address, 11 message id, 12 hinted conversation ('' if none:
-- an email reply threaded by Message-ID or reply token), 13 number of
-- candidate agents, then per candidate: id, channel capacity, total capacity.
-- A hinted conversation that exists and is not resolved is joined whatever
-- the sender's address (a reply from another mailbox of the customer).
--
-- Returns the routing result as JSON; the same JSON is stored under KEYS[1]
-- so a redelivered message gets the original result back (flag `duplicate`).

local seen = redis.call('GET', KEYS[1])
if seen then
  return {1, seen}
end

local P, msg, now = ARGV[1], ARGV[2], tonumber(ARGV[5])
local queue, channel, account, address = ARGV[7], ARGV[8], ARGV[9], ARGV[10]

local hint = ARGV[12]
local hinted = false
if hint ~= '' then
  local st = redis.call('HGET', P .. ':conv:' .. hint, 'state')
  hinted = st and st ~= 'resolved'
end

local cid = redis.call('GET', KEYS[2])
if not cid then
  if hinted then
    cid = redis.call('HGET', P .. ':conv:' .. hint, 'customer')
  else
    cid = ARGV[3]
    redis.call('HSET', P .. ':customer:' .. cid, 'id', cid, 'created_at', now)
  end
  redis.call('SET', KEYS[2], cid)
end
local ckey = P .. ':customer:' .. cid

local conv = redis.call('HGET', ckey, 'open')
if hinted then
  conv = hint
elseif conv then
  local st = redis.call('HGET', P .. ':conv:' .. conv, 'state')
  if (not st) or st == 'resolved' then
    conv = false
  end
end
local created = false
if not conv then
  conv = ARGV[4]
  created = true
  redis.call('HSET', P .. ':conv:' .. conv, 'id', conv, 'customer', cid, 'state', 'queued',
    'queue', queue, 'created_at', now, 'enqueued_at', now)
  redis.call('HSET', ckey, 'open', conv)
end

local vkey = P .. ':conv:' .. conv
redis.call('HSET', vkey, 'channel', channel, 'account', account, 'address', address,
  'updated_at', now, 'last_customer_at', now)
redis.call('RPUSH', vkey .. ':messages', msg)

local state = redis.call('HGET', vkey, 'state')
local agent = redis.call('HGET', vkey, 'agent')
queue = redis.call('HGET', vkey, 'queue')
if state == 'waiting' then
  state = 'assigned'
  redis.call('HSET', vkey, 'state', state)
end

local decision = nil
if (not agent) or agent == '' then
  agent = nil
  local best
  best, decision = pick(P, channel, ARGV, 13)
  if best then
    agent = best
    state = 'assigned'
    assign(P, conv, best, channel, queue, now)
  else
    redis.call('ZADD', P .. ':queue:' .. queue .. ':waiting', 'NX',
      tonumber(redis.call('HGET', vkey, 'enqueued_at') or now), conv)
  end
end

local result = {
  conversation = conv, customer = cid, created = created, state = state, queue = queue,
  agent = agent, message_id = ARGV[11], decision = decision,
}
local encoded = cjson.encode(result)
redis.call('SET', KEYS[1], encoded, 'EX', tonumber(ARGV[6]))
return {0, encoded}
