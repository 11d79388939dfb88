-- Event `seq` (stream sequence) of a conversation was delivered. Its
-- publisher may not have registered it yet (a delivery may start as soon
-- as the event is on the log, before the publisher saw the ack, see
-- `delivery::turn`): it is then remembered as delivered early, so the
-- registration (see `published.lua`) does not add it as pending.
--
-- KEYS[1] `{P}:dq:<conversation>`, KEYS[2] `{P}:dq:<conversation>:early`.
-- ARGV[1] the stream sequence.
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then
  redis.call('SADD', KEYS[2], ARGV[1])
  redis.call('EXPIRE', KEYS[2], 7 * 24 * 3600)
end
return 1
