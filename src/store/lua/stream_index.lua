-- Records where a conversation's messages went on the JetStream streams
-- (`{P}:conv:<id>:stream`), so an erase deletes them by sequence without
-- reading a stream. A conversation erased meanwhile (its tombstone
-- `{P}:erased:<id>` holds the first event seq kept) gets nothing recorded:
-- the message is returned for deletion instead, unless it is an event the
-- erase itself appended (no personal data: it stays for delivery).
--
-- ARGV: 1 base `{P}`, then per message: conversation, stream (`inbound`,
-- `outbound`, `events`), stream sequence, event seq (0 for none).
-- Returns the `<stream>:<seq>` to delete.
local P = ARGV[1]
local purge = {}
for i = 2, #ARGV, 4 do
  local conv, stream, seq, eseq = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3]) or 0
  local tomb = redis.call('GET', P .. ':erased:' .. conv)
  if tomb then
    if stream ~= 'events' or eseq < (tonumber(tomb) or 0) then
      table.insert(purge, stream .. ':' .. seq)
    end
  elseif redis.call('EXISTS', P .. ':conv:' .. conv) == 1 then
    redis.call('SADD', P .. ':conv:' .. conv .. ':stream', stream .. ':' .. seq)
  end
end
return purge
