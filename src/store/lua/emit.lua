-- (Prefixed at load with lib.lua.)
-- Appends one event to the outbox for a change that no routing script
-- makes: an SLA warning or breach, a failed send, a disabled delivery
-- target. A cause (the SLA firing, the outbound id and failure) appends at
-- most once: a retried step gets the earlier event's id and appends
-- nothing.
--
-- ARGV: 1 base `{P}`, 2 now (ms), 3 type, 4 conversation ('' for an event
-- of the scope in 5), 5 scope (`agent:<id>`, `system`), 6 cause ('' for
-- none), 7 fields JSON {agent?, reason?, error?, supervisors?, notify? (list names)}, 8 the
-- message JSON ('' for none), 9 the SLA details JSON ('' for none).
-- Returns (see reply()) the event id, '' when the conversation does not
-- exist.
local P, now = ARGV[1], tonumber(ARGV[2])
local cause = ARGV[6] ~= '' and (P .. ':outbox:cause:' .. ARGV[6]) or nil
if cause then
  local earlier = redis.call('GET', cause)
  if earlier then
    return reply(earlier)
  end
end
local f = cjson.decode(ARGV[7])
local ev = {type = ARGV[3], at = now, reason = f.reason, error = f.error, supervisors = f.supervisors == true,
  message = ARGV[8], sla = ARGV[9], notify = f.notify}
if type(f.agent) == 'string' then
  ev.agent = f.agent
end
if ARGV[4] ~= '' then
  if redis.call('EXISTS', P .. ':conv:' .. ARGV[4]) == 0 then
    return reply('')
  end
  ev.conv = ARGV[4]
else
  ev.scope = ARGV[5]
end
local id = emit(P, ev)
if cause then
  redis.call('SET', cause, id, 'EX', 7 * 24 * 3600)
end
return reply(id)
