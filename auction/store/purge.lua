-- Purges a retired sale's keys (auction/janitor.py), if nothing was written to it since it was retired.
-- KEYS: retired marker, opens, closes, then every key to delete (never the marker, nor the fence: a fencing
--       token must never go back, or a store that held the sale long ago could write again).
-- ARGV: the time its retirement wrote in the marker (`at`).
-- Every write to a sale's journal deletes `at` in its own atomic step, so finding it unchanged here means the
-- sale is exactly as the janitor found it finished. `at` stays: a later write still takes the sale out of
-- retirement (a standing published to it, which the persister must then record); `purged` marks it finished.
-- Reply: 'purged' | 'moved' (`at` is not that one: the sale was written to, or a janitor marks it again)
--      | 'busy' (a lot is still scheduled or open: never expected while the mark is in place).
if redis.call('HGET', KEYS[1], 'at') ~= ARGV[1] then return 'moved' end
if redis.call('ZCARD', KEYS[2]) > 0 or redis.call('ZCARD', KEYS[3]) > 0 then return 'busy' end
local CHUNK = 1000  -- keys per UNLINK: unpack has a limit
for first = 4, #KEYS, CHUNK do
  redis.call('UNLINK', unpack(KEYS, first, math.min(first + CHUNK - 1, #KEYS)))
end
redis.call('HSET', KEYS[1], 'purged', '1')
return 'purged'
