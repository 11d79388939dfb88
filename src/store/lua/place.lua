-- A web chat visitor's place in the line for a person, read in one step:
-- the visitor's customer, its open conversation, and that conversation's
-- rank in the waiting line it is in (`waiting_in`).
-- ARGV: 1 base `{P}`, 2 visitor id.
-- Returns -1 (no open conversation), 0 (not waiting for a person: with a
-- bot, offered, assigned) or the place (1 = next).
local P = ARGV[1]
local cid = redis.call('GET', P .. ':ident:visitor:' .. ARGV[2])
if not cid then return -1 end
local conv = redis.call('HGET', P .. ':customer:' .. cid, 'open')
if not conv then return -1 end
local f = redis.call('HMGET', P .. ':conv:' .. conv, 'state', 'waiting_in')
if f[1] ~= 'queued' or not f[2] then return 0 end
local rank = redis.call('ZRANK', f[2], conv)
if not rank then return 0 end
return rank + 1
