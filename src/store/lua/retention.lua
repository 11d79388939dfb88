-- (Prefixed at load with lib.lua and erase_lib.lua.)
-- One step of the retention sweep (`privacy::retention`): the next
-- `batch` conversations of the index `{P}:convs` after the cursor
-- `{P}:retention:cursor` (lexical order: ULIDs); each one resolved before
-- the cutoff is removed with its data (erase_lib.lua) and taken off its
-- customer's list (the profile stays). Then dead letters older than their
-- cutoff are dropped.
--
-- ARGV: 1 base `{P}`, 2 cutoff of resolved conversations (ms, 0 = keep),
-- 3 now (ms), 4 tombstone TTL (s), 5 batch, 6 dead-letter cutoff (ms, 0 =
-- keep). Returns JSON {counts, streams = '<stream>:<seq> …', done = the
-- index was walked to its end and no old dead letter is left}.
local cutoff, batch, dl_cutoff = tonumber(ARGV[2]), tonumber(ARGV[5]), tonumber(ARGV[6])
local cursor_key = P .. ':retention:cursor'
local done = true
if cutoff > 0 then
  local cursor = redis.call('GET', cursor_key)
  local from = cursor and ('(' .. cursor) or '-'
  local ids = redis.call('ZRANGEBYLEX', P .. ':convs', from, '+', 'LIMIT', 0, batch)
  for _, conv in ipairs(ids) do
    local f = redis.call('HMGET', P .. ':conv:' .. conv, 'state', 'resolved_at', 'customer')
    if f[1] == 'resolved' and num(f[2]) > 0 and num(f[2]) < cutoff then
      if f[3] then
        local ckey = P .. ':customer:' .. f[3]
        redis.call('SREM', ckey .. ':convs', conv)
        if redis.call('HGET', ckey, 'last_resolved') == conv then
          redis.call('HDEL', ckey, 'last_resolved', 'resolved_at')
        end
      end
      erase_conversation(conv)
    end
  end
  if #ids < batch then
    redis.call('DEL', cursor_key)
  else
    redis.call('SET', cursor_key, ids[#ids])
    done = false
  end
end
if dl_cutoff > 0 then
  local old = redis.call('ZRANGEBYSCORE', P .. ':deadletters', '-inf', '(' .. fmt(dl_cutoff), 'LIMIT', 0, 1000)
  for _, id in ipairs(old) do
    redis.call('HDEL', P .. ':deadletters:data', id)
    redis.call('ZREM', P .. ':deadletters', id)
    add('dead_letters', 1)
  end
  if #old == 1000 then
    done = false
  end
end
return cjson.encode({counts = counts, streams = table.concat(streams, ' '), done = done})
