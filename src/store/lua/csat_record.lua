-- (Prefixed at load with lib.lua.)
-- Records a customer's satisfaction score, once per conversation: the
-- first score of an asked round within the window is kept (`csat_score`,
-- `csat_comment`, `csat_at`, `csat_msg` = what carried it) and the
-- `rated` event appended; a second answer changes nothing.
--
-- KEYS[1] the conversation key, or (ARGV[3] = 'customer') the identity
-- key of the customer whose last resolved conversation is meant: then a
-- customer with an open conversation has nothing to rate (the text is a
-- message of that one).
-- ARGV: 1 base `{P}`, 2 now (ms), 3 'conversation' or 'customer', 4 the
-- round ('' for any: a text reply answers the latest question), 5 score,
-- 6 comment, 7 the id of what carried it (message id, token), 8 window
-- (ms), 9 '1' when the score goes to the supervisors too, 10 the comment
-- as stored (sealed with `[security] data_keys`, else as 6).
-- Returns (see reply()) JSON {outcome, conversation, queue, agent};
-- outcome `recorded`, `duplicate` (this very answer before), `rated`
-- (another answer before), `not_asked`, `stale` (another round), `expired`
-- or `open` / `unknown` (by customer: nothing to rate).
local P, now, by, round = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local function answer(outcome, conv, queue, agent)
  return reply(cjson.encode({outcome = outcome, conversation = conv or '', queue = queue or '', agent = agent or ''}))
end
local vkey = KEYS[1]
if by == 'customer' then
  local cid = redis.call('GET', KEYS[1])
  if not cid then
    return answer('unknown')
  end
  local c = redis.call('HMGET', P .. ':customer:' .. cid, 'open', 'last_resolved')
  if c[1] then
    return answer('open')
  end
  if not c[2] then
    return answer('unknown')
  end
  vkey = P .. ':conv:' .. c[2]
end
local f = redis.call('HMGET', vkey, 'id', 'csat_asked', 'csat_asked_at', 'csat_score', 'csat_msg', 'queue', 'agent')
local conv, queue, agent = f[1], f[6], f[7]
if not conv then
  return answer('unknown')
end
if f[4] then
  return answer(f[5] == ARGV[7] and 'duplicate' or 'rated', conv, queue, agent)
end
if not f[2] then
  return answer('not_asked', conv)
end
if round ~= '' and f[2] ~= round then
  return answer('stale', conv)
end
if now - num(f[3]) > tonumber(ARGV[8]) then
  return answer('expired', conv)
end
redis.call('HSET', vkey, 'csat_score', ARGV[5], 'csat_at', now, 'csat_msg', ARGV[7])
if ARGV[6] ~= '' then
  redis.call('HSET', vkey, 'csat_comment', ARGV[10])
end
emit(P, {type = 'switchboard.conversation.rated', conv = conv, at = now, score = tonumber(ARGV[5]),
  comment = ARGV[6], supervisors = ARGV[9] == '1'})
return answer('recorded', conv, queue, agent)
