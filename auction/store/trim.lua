-- Trims a sale's journal (auction/janitor.py) and counts what went, in one atomic step, so that the journal's
-- length counting what was trimmed (LotStore.journal_length) is exact.
-- KEYS: journal, the sale's trimmed counts. ARGV: the id of the oldest entry to keep (XTRIM MINID).
-- Reply: how many entries went.
local trimmed = redis.call('XTRIM', KEYS[1], 'MINID', ARGV[1])
if trimmed > 0 then redis.call('HINCRBY', KEYS[2], 'journal', trimmed) end
return trimmed
