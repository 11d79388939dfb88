-- (Prefixed at load with lib.lua.)
-- One evaluation of the peak alerts (`supervisor::alerts`), by any
-- replica. An alert's state changes here only, atomically, so a crossing
-- is recorded, and its `switchboard.ops.alert` event appended to the
-- outbox (scope `ops`, for the supervisors' targets), once however many
-- replicas evaluate the same figures:
-- * over its threshold and not firing: fires (`{P}:alerts` gets
--   `<alert>|<scope>` → {alert, scope, figure, threshold, state, since =
--   now}; event state `firing`);
-- * firing and still over: its figure is updated, nothing appended;
-- * firing and no longer over: once it has been so for the clear delay
--   (`clear` ms since the first evaluation that found it so), resolves
--   (the field goes; event state `resolved` with the `since` of its
--   firing); over again before that, it just goes on firing;
-- * firing but no longer checked (its queue is gone): resolves.
--
-- The inbound surge is not judged before the deployment has counted
-- inbound messages for its whole baseline: `{P}:alerts:since` holds when
-- the first evaluation ran, and a surge is not over its threshold until
-- the warm-up (ARGV 4) has passed since (a new deployment's first traffic
-- against an empty history is not a surge).
--
-- ARGV: 1 base `{P}`, 2 now (ms), 3 the clear delay (ms), 4 the surge's
-- warm-up (ms), then 5 items per alert: its name, scope
-- (a queue, or `all`), figure, threshold, `1` if over its threshold else `0`.
-- Returns (see reply()) how many alerts fired or resolved, then the
-- outbox entries appended.
local P, now, clear, warmup = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local hkey = P .. ':alerts'
local changed = 0

local function alert_event(alert, scope, figure, threshold, state, since)
  local body = cjson.encode({alert = alert, scope = scope, figure = figure, threshold = threshold, state = state})
  body = string.sub(body, 1, -2) .. ',"since":"' .. rfc3339(since) .. '"}'
  emit(P, {type = 'switchboard.ops.alert', scope = 'ops', at = now, supervisors = true, alert = body})
  changed = changed + 1
end

local started = tonumber(redis.call('GET', P .. ':alerts:since') or '')
if not started then
  started = now
  redis.call('SET', P .. ':alerts:since', tostring(now))
end
local checked = {}
for i = 5, #ARGV - 4, 5 do
  local alert, scope = ARGV[i], ARGV[i + 1]
  local figure, threshold, over = tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3]), ARGV[i + 4] == '1'
  if alert == 'inbound_surge' and now - started < warmup then over = false end
  local field = alert .. '|' .. scope
  checked[field] = true
  local raw = redis.call('HGET', hkey, field)
  local ok, state = pcall(cjson.decode, raw or '')
  if not ok or type(state) ~= 'table' then
    state = nil
  end
  if over then
    local since = (state and tonumber(state.since)) or now
    redis.call('HSET', hkey, field, cjson.encode({alert = alert, scope = scope, figure = figure,
      threshold = threshold, state = 'firing', since = since}))
    if not state then
      alert_event(alert, scope, figure, threshold, 'firing', since)
    end
  elseif raw then
    local clearing = state and tonumber(state.clear_since)
    if state and clear > 0 and not clearing then
      -- Back under: the clear delay starts.
      state.clear_since = now
      redis.call('HSET', hkey, field, cjson.encode(state))
    elseif not state or clear <= 0 or now - clearing >= clear then
      redis.call('HDEL', hkey, field)
      if state then
        alert_event(alert, scope, figure, threshold, 'resolved', tonumber(state.since) or now)
      end
    end
  end
end
-- A firing alert no evaluation checks any more (its queue was removed
-- from the configuration) resolves with its last figure.
local firing = redis.call('HGETALL', hkey)
for i = 1, #firing, 2 do
  if not checked[firing[i]] then
    redis.call('HDEL', hkey, firing[i])
    local ok, state = pcall(cjson.decode, firing[i + 1])
    if ok and type(state) == 'table' then
      alert_event(state.alert, state.scope, state.figure, state.threshold, 'resolved', tonumber(state.since) or now)
    end
  end
end
return reply(tostring(changed))
