-- Sets a buyer company's standing in a sale (LotStore.set_standing), and journals it, in one atomic step.
-- KEYS: bidder, journal, retired marker. ARGV: encoded standing, journal entry.
-- Bumping the version makes every decision read against the old standing fail its commit and be decided again.
-- Reply: 1 if the sale was retired and this takes it out of retirement (the caller puts it back among the active
-- sales, so that the persister records the entry), else 0.
redis.call('HSET', KEYS[1], 's', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('XADD', KEYS[2], '*', 'j', ARGV[2])
return redis.call('HDEL', KEYS[3], 'at')
