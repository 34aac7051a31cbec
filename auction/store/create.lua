-- Creates the lots of one sale that don't exist yet; an existing lot is left exactly as it is. Each lot created
-- is written to the sale's journal with its terms, so that the record alone can replay it.
-- KEYS: lots, opens, closes, journal, retired marker, then one lot state key per lot.
-- ARGV: (lot, encoded state, start, end, journal entry) per lot; start and end '' for a lot the clock doesn't open or
-- close (a live lot: the rostrum does).
-- A lot created in a retired sale takes it out of retirement (the caller puts it back among the active sales).
local FIXED = 5
local created = 0
for i = FIXED + 1, #KEYS do
  local at = (i - FIXED - 1) * 5
  local lot, state, start_ms, end_ms, entry = ARGV[at + 1], ARGV[at + 2], ARGV[at + 3], ARGV[at + 4], ARGV[at + 5]
  if redis.call('HSETNX', KEYS[i], 'v', '0') == 1 then
    redis.call('HSET', KEYS[i], 's', state)
    redis.call('ZADD', KEYS[1], lot, lot)
    if start_ms ~= '' then redis.call('ZADD', KEYS[2], start_ms, lot) end
    if end_ms ~= '' then redis.call('ZADD', KEYS[3], end_ms, lot) end
    redis.call('XADD', KEYS[4], '*', 'j', entry)
    created = created + 1
  end
end
if created > 0 then redis.call('HDEL', KEYS[5], 'at') end
return created
