-- Counts one event of the log into the report aggregates (see
-- `crate::reports` for the definitions). Idempotent: the event id is
-- remembered in `{P}:rpt:seen:<id>` and a second call counts nothing.
-- Events of one conversation are applied in their `seq` order: an event
-- past the conversation's mark + 1 answers `wait` unless `force` is set
-- (the caller forces it once the gap outlived the order wait).
--
-- KEYS (see `store::schema`; one Cluster slot):
--   1 {P}:rpt:seen:<event id>   string, EX seen_ttl
--   2 {P}:rpt:conv:<conv>       hash, the conversation's report state, EX conv_ttl
--   3 {P}:rpt:h:<hour>          hash `<dim>|<figure>` → count, until retention past the hour
--   4 {P}:rpt:m:<minute>        hash `in:<channel>`, `fr|<bin>`, until minute_ttl past the minute
--   5 {P}:conv:<conv>           read: `tags` (complaints)
--   6 {P}:sla:<conv>            read: the SLA clocks (met at a stop)
--
-- ARGV: 1 type, 2 seq (0: none), 3 time (ms), 4 queue, 5 agent, 6 channel,
-- 7 from_agent, 8 '1' when the event carries a customer message, 9 score
-- ('' none), 10 SLA clock of a breach ('' none), 11 its run, 12 retention
-- (s), 13 conv_ttl (s), 14 seen_ttl (s, at least conv_ttl: the seen keys
-- are what makes a repeat a no-op), 15 minute_ttl (s), 16 force ('1').
-- Returns 'counted', 'duplicate' or 'wait'.
local kind = ARGV[1]
local seq, t = tonumber(ARGV[2]), tonumber(ARGV[3])
local queue, agent, channel, from_agent = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local inbound, score = ARGV[8] == '1', ARGV[9]
local breach_clock, breach_run = ARGV[10], ARGV[11]
local retention, conv_ttl, seen_ttl, minute_ttl = tonumber(ARGV[12]), tonumber(ARGV[13]), tonumber(ARGV[14]), tonumber(ARGV[15])
local force = ARGV[16] == '1'

local seen = KEYS[1]
if redis.call('EXISTS', seen) == 1 then
  return 'duplicate'
end
local ckey = KEYS[2]
local st = {}
do
  local raw = redis.call('HGETALL', ckey)
  for i = 1, #raw, 2 do st[raw[i]] = raw[i + 1] end
end
local mark = tonumber(st.mark or '0')
-- An event at or below the mark that was not seen is a late one (its
-- gap was forced past): it is counted now, with what the state knows.
if seq > mark + 1 and not force then
  return 'wait'
end

local hour = math.floor(t / 3600000)
local hkey = KEYS[3]
local mkey = KEYS[4]
local touched_minute = false

-- The histogram bin of `ms`: 0 below 1 s, else 1 + floor(2·log2(s)),
-- i.e. bins [√2^(i-1), √2^i) s; capped at 80.
local function bin(ms)
  local s = ms / 1000
  if s < 1 then return 0 end
  local i = math.floor(2 * math.log(s) / math.log(2)) + 1
  -- Floating point at the edges: settle on the bin whose bounds hold s.
  while i > 1 and 2 ^ ((i - 1) / 2) > s do i = i - 1 end
  while 2 ^ (i / 2) <= s do i = i + 1 end
  if i > 80 then i = 80 end
  return i
end

local function dims(with_agent, in_queue)
  local d = {'all'}
  local q = in_queue or queue
  if q ~= '' then table.insert(d, 'q:' .. q) end
  if channel ~= '' then table.insert(d, 'c:' .. channel) end
  if with_agent and with_agent ~= '' then table.insert(d, 'a:' .. with_agent) end
  return d
end

local function count(d, figure, n)
  for _, dim in ipairs(d) do
    redis.call('HINCRBY', hkey, dim .. '|' .. figure, n or 1)
  end
end

local function duration(d, figure, ms)
  if ms < 0 then ms = 0 end
  count(d, figure .. '|' .. bin(ms))
  return ms
end

local set = {}
local function put(k, v) st[k] = v; table.insert(set, k); table.insert(set, v) end

-- The first event of a conversation opens it (whatever its type: queued,
-- assigned or offered, each carrying the first customer message).
local opening = (seq == 1) or (seq == 0 and st.open == nil and
  (kind == 'switchboard.conversation.queued' or kind == 'switchboard.conversation.assigned'
   or kind == 'switchboard.conversation.offered'))
if opening and st.open == nil then
  put('open', tostring(t))
  put('cycle', tostring(t))
  local tags = redis.call('HGET', KEYS[5], 'tags') or ''
  local complaint = string.find(tags, '"complaint"', 1, true) ~= nil
  count(dims(nil), 'conv')
  if complaint then
    put('cmp', '1')
    count(dims(nil), 'cmp')
  end
  if queue ~= '' then put('q:' .. queue, '1') end
  if channel ~= '' then put('c:' .. channel, '1') end
end

-- A conversation counts once in every queue and on every channel it was
-- in (a transfer to another queue, a customer continuing on a second
-- channel), as it does for every agent it had: a queue's resolution and
-- transfer rates are of the conversations it handled.
if st.open ~= nil then
  for _, d in ipairs({{'q:', queue}, {'c:', channel}}) do
    local key = d[1] .. d[2]
    if d[2] ~= '' and st[key] == nil then
      put(key, '1')
      count({key}, 'conv')
      if st.cmp == '1' then count({key}, 'cmp') end
    end
  end
end

-- An agent's conversations: each conversation once per agent it was
-- assigned (or transferred) to.
if agent ~= '' and (kind == 'switchboard.conversation.assigned' or kind == 'switchboard.conversation.transferred')
    and st['as:' .. agent] == nil then
  put('as:' .. agent, '1')
  count({'a:' .. agent}, 'conv')
  if st.cmp == '1' then count({'a:' .. agent}, 'cmp') end
end

-- SLA clocks of this conversation that stopped with this event: each run
-- of a clock counts once, met or breached.
local function clocks()
  local raw = redis.call('GET', KEYS[6])
  if not raw then return {} end
  local ok, doc = pcall(cjson.decode, raw)
  if not ok or type(doc) ~= 'table' or type(doc.clocks) ~= 'table' then return {} end
  return doc.clocks
end

local function stopped_clocks(kinds)
  for _, c in ipairs(clocks()) do
    if type(c) == 'table' and kinds[c.kind] and c.state == 'stopped' then
      local k = 'sla:' .. c.kind .. ':' .. tostring(c.run)
      if st[k] == nil then
        local outcome = (c.breached == true) and 'br' or 'met'
        put(k, outcome)
        count(dims(agent), 'sla|' .. c.kind .. '|' .. outcome)
      end
    end
  end
end

if inbound and kind ~= 'switchboard.conversation.reopened' then
  if channel ~= '' then
    redis.call('HINCRBY', mkey, 'in:' .. channel, 1)
    touched_minute = true
  end
  -- A customer message after the first response waits for a next one.
  if st.fr == '1' and st.pend == nil then put('pend', tostring(t)) end
end

if kind == 'switchboard.conversation.replied' then
  if st.fr == nil then
    if st.open ~= nil then
      local ms = duration(dims(agent), 'fr', t - tonumber(st.open))
      redis.call('HINCRBY', mkey, 'fr|' .. bin(ms), 1)
      touched_minute = true
    end
    put('fr', '1')
  elseif st.pend ~= nil then
    duration(dims(agent), 'nr', t - tonumber(st.pend))
  end
  if st.pend ~= nil then
    redis.call('HDEL', ckey, 'pend')
    st.pend = nil
  end
  stopped_clocks({first_response = true, next_response = true})
elseif kind == 'switchboard.conversation.resolved' then
  count(dims(agent), 'res')
  if st.cycle ~= nil then duration(dims(agent), 'rt', t - tonumber(st.cycle)) end
  stopped_clocks({resolution = true})
elseif kind == 'switchboard.conversation.handed_off' then
  -- A bot passed it to a person: the team's first response is counted
  -- from here, not from the bot's first turn.
  if st.fr == nil and st.open ~= nil then put('open', tostring(t)) end
elseif kind == 'switchboard.conversation.reopened' then
  count(dims(agent), 'reo')
  put('cycle', tostring(t))
  -- The reply to the reopening message is a next response.
  put('fr', '1')
  put('pend', tostring(t))
elseif kind == 'switchboard.conversation.transferred' then
  local by = from_agent
  if by == '' then by = agent end
  -- A transfer counts for the queue the conversation left.
  count(dims(by, st.lastq), 'xfer')
elseif kind == 'switchboard.sla.breached' and breach_clock ~= '' then
  if breach_run == '' then
    -- An event without the run: the clock's latest run.
    for _, c in ipairs(clocks()) do
      if type(c) == 'table' and c.kind == breach_clock then breach_run = tostring(c.run) end
    end
  end
  local k = 'sla:' .. breach_clock .. ':' .. breach_run
  if st[k] == nil then
    put(k, 'br')
    count(dims(agent), 'sla|' .. breach_clock .. '|br')
  end
elseif kind == 'switchboard.conversation.rated' and score ~= '' then
  count(dims(agent), 'csat|n')
  count(dims(agent), 'csat|sum', tonumber(score))
  count(dims(agent), 'csat|' .. score)
end

if queue ~= '' and st.lastq ~= queue then put('lastq', queue) end
if seq > mark then put('mark', tostring(seq)) end
if #set > 0 then redis.call('HSET', ckey, unpack(set)) end
redis.call('EXPIRE', ckey, conv_ttl)
-- Buckets live `retention` past their end (an event older than that
-- drops its bucket at once: it is outside what is kept).
if redis.call('EXISTS', hkey) == 1 then redis.call('EXPIREAT', hkey, (hour + 1) * 3600 + retention) end
if touched_minute then redis.call('EXPIREAT', mkey, (math.floor(t / 60000) + 1) * 60 + minute_ttl) end
redis.call('SET', seen, '1', 'EX', seen_ttl)
return 'counted'
