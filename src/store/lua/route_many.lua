
-- Several messages routed in one call (see `store::coalesce`), each as
-- `route.lua` routes it (wrapped above as `route_one`), in their order. One
-- message's error (a key of the wrong type, say) fails that message only.
--
-- ARGV[1] how many messages; ARGV[2 .. 1 + 2n] each message's key count
-- and argument count; then every message's arguments in turn. KEYS: every
-- message's keys in turn.
-- Returns one list per message: {'ok', route.lua's answer...} or
-- {'err', the error}.
local n = tonumber(ARGV[1])
local out = {}
local ka, aa = 1, 2 + 2 * n
for i = 1, n do
  local nk, na = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local keys, args = {}, {}
  for j = 1, nk do keys[j] = KEYS[ka + j - 1] end
  for j = 1, na do args[j] = ARGV[aa + j - 1] end
  ka, aa = ka + nk, aa + na
  EMITTED = {}
  local ok, res = pcall(route_one, keys, args)
  if ok then
    table.insert(res, 1, 'ok')
    out[i] = res
  else
    local err = res
    if type(res) == 'table' then err = res.err or 'error' end
    out[i] = {'err', tostring(err)}
  end
end
return out
