-- A sale's lease: which store writes its lots (auction/store/lease.py).
-- KEYS: owner, fence. ARGV: action ('acquire' | 'renew' | 'release'), store id, priority, ttl ms.
-- The owner key holds "<store id>|<priority>". A store may take a sale that nobody holds, or that a store of
-- lower priority holds (a gateway takes a sale from the worker's scheduler); each change of hands bumps the fence.
-- Reply: {'held', fence} (ours, now or still) | {'owned', owner} (someone else's) | {'lost'} (renew/release: not ours).
local action, me, priority, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local current = redis.call('GET', KEYS[1])
local owner, owner_priority = nil, nil
if current then
  local bar = string.find(current, '|', 1, true)
  owner, owner_priority = string.sub(current, 1, bar - 1), tonumber(string.sub(current, bar + 1))
end
if action == 'release' then
  if owner == me then redis.call('DEL', KEYS[1]); return {'held', redis.call('GET', KEYS[2]) or '0'} end
  return {'lost'}
end
if owner == me then
  redis.call('PEXPIRE', KEYS[1], ttl)
  return {'held', redis.call('GET', KEYS[2]) or '0'}
end
if action == 'renew' then return {'lost'} end
if owner == nil or owner_priority < priority then
  redis.call('SET', KEYS[1], me .. '|' .. priority, 'PX', ttl)
  return {'held', tostring(redis.call('INCR', KEYS[2]))}
end
return {'owned', owner}
