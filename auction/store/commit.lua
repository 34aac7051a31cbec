-- One commit of one sale's batch (auction/store/committer.py). All or nothing: it checks, in order, that the
-- sale is still held by the writer (fence), that the commit it was decided on was applied (chain), that no
-- command of it was answered before (dedupe), and that every lot and bidder record it read is at the version
-- it was decided against (CAS). Only if every check passes does it write.
--
-- KEYS: retired marker, sale events, opens, closes, commits, journal, fence, rostrum, then (lot state, lot
--       events) per lot, then one key per bidder, then one answer key per dedupe key (last, in their order).
-- ARGV[1]: one msgpack array of strings (planner.commit_args), read in order by `nextarg`:
--   store id, this commit's token, the token of the commit it was decided on ('' = none in flight),
--   the fencing token it holds the sale with ('' = not held: the optimistic mode), the journal entry (JSON),
--   how long an answer is kept (ms: the idempotency window);
--   n, dedupe keys...;
--   n lots; per lot: lot, expected v, changed (0/1) [, new v, new s, open score, close score, n events,
--   (seq, json)...];
--   n bidders; per bidder: bidder, expected v ('' = not read: write without checking), n set, (field, value)...,
--   n del, field...;
--   the rostrum of a live sale: '' (the batch touches no live lot) | expected v, changed (0/1) [, block, last];
--   then n answers, answer... (one per dedupe key, in the same order).
-- An empty open/close score removes the lot from that sorted set. A bidder key that is written gets v + 1.
-- Reply: {'ok', journal entry id, revived (1: the sale was retired, and this commit takes it out of retirement:
--        the caller puts it back among the active sales)} | {'fenced'} | {'chain'} | {'dup', {key, answer, ...}}
--      | {'stale', {{lot, v, s}...}, {{bidder, {HGETALL}}...}, {} or {HGETALL of the rostrum}}.
-- On 'ok' the store's field in `commits` is the token.
local args = cmsgpack.unpack(ARGV[1])
local pos = 0
local function nextarg() pos = pos + 1; return args[pos] end

local store, token, previous, fence, journal = nextarg(), nextarg(), nextarg(), nextarg(), nextarg()
local answer_ttl = nextarg()
if fence ~= '' and redis.call('GET', KEYS[7]) ~= fence then return {'fenced'} end
if previous ~= '' and redis.call('HGET', KEYS[5], store) ~= previous then return {'chain'} end

local ndedupe = tonumber(nextarg())
local first_answer = #KEYS - ndedupe  -- the answer keys come last
if ndedupe > 0 then
  local wanted, answer_keys = {}, {}
  for i = 1, ndedupe do wanted[i] = nextarg(); answer_keys[i] = KEYS[first_answer + i] end
  local found = redis.call('MGET', unpack(answer_keys))
  local answered = {}
  for i = 1, ndedupe do
    if found[i] then table.insert(answered, wanted[i]); table.insert(answered, found[i]) end
  end
  if #answered > 0 then return {'dup', answered} end
end

local FIXED = 8
local nlots = tonumber(nextarg())
local lots, stale = {}, {}
for i = 1, nlots do
  local lot = {state_key = KEYS[FIXED - 1 + 2 * i], events_key = KEYS[FIXED + 2 * i]}
  lot.no, lot.expected, lot.changed = nextarg(), nextarg(), nextarg() == '1'
  if lot.changed then
    lot.v, lot.s, lot.open, lot.close = nextarg(), nextarg(), nextarg(), nextarg()
    lot.events = {}
    for j = 1, tonumber(nextarg()) do lot.events[j] = {nextarg(), nextarg()} end
  end
  local current = redis.call('HGET', lot.state_key, 'v')
  if current ~= lot.expected then
    table.insert(stale, {lot.no, current or '', redis.call('HGET', lot.state_key, 's') or ''})
  end
  lots[i] = lot
end

local nbidders = tonumber(nextarg())
local bidders, stale_bidders = {}, {}
for i = 1, nbidders do
  local bidder = {key = KEYS[FIXED + 2 * nlots + i], set = {}, del = {}}
  bidder.no, bidder.expected = nextarg(), nextarg()
  for j = 1, 2 * tonumber(nextarg()) do bidder.set[j] = nextarg() end
  for j = 1, tonumber(nextarg()) do bidder.del[j] = nextarg() end
  if bidder.expected ~= '' and (redis.call('HGET', bidder.key, 'v') or '0') ~= bidder.expected then
    table.insert(stale_bidders, {bidder.no, redis.call('HGETALL', bidder.key)})
  end
  bidders[i] = bidder
end
local rostrum = {expected = nextarg()}
local stale_rostrum = {}  -- {HGETALL} when the rostrum moved since it was read
if rostrum.expected ~= '' then
  rostrum.changed = nextarg() == '1'
  if rostrum.changed then rostrum.block, rostrum.last = nextarg(), nextarg() end
  if (redis.call('HGET', KEYS[8], 'v') or '0') ~= rostrum.expected then
    stale_rostrum = {redis.call('HGETALL', KEYS[8])}
  end
end
if #stale > 0 or #stale_bidders > 0 or #stale_rostrum > 0 then
  return {'stale', stale, stale_bidders, stale_rostrum}
end

local function place(zset, score, member)
  if score == '' then redis.call('ZREM', zset, member) else redis.call('ZADD', zset, score, member) end
end
for _, lot in ipairs(lots) do
  if lot.changed then
    redis.call('HSET', lot.state_key, 'v', lot.v, 's', lot.s)
    for _, event in ipairs(lot.events) do
      redis.call('XADD', lot.events_key, event[1] .. '-0', 'e', event[2])
      redis.call('XADD', KEYS[2], '*', 'lot', lot.no, 'seq', event[1], 'e', event[2])
    end
    place(KEYS[3], lot.open, lot.no)
    place(KEYS[4], lot.close, lot.no)
  end
end
for _, bidder in ipairs(bidders) do
  if #bidder.set > 0 then redis.call('HSET', bidder.key, unpack(bidder.set)) end
  if #bidder.del > 0 then redis.call('HDEL', bidder.key, unpack(bidder.del)) end
  if #bidder.set + #bidder.del > 0 then redis.call('HINCRBY', bidder.key, 'v', 1) end
end
if rostrum.changed then
  redis.call('HSET', KEYS[8], 'block', rostrum.block, 'last', rostrum.last)
  redis.call('HINCRBY', KEYS[8], 'v', 1)
end
local nanswers = tonumber(nextarg())
for i = 1, nanswers do redis.call('SET', KEYS[first_answer + i], nextarg(), 'PX', answer_ttl) end
redis.call('HSET', KEYS[5], store, token)
local revived = redis.call('HDEL', KEYS[1], 'at')  -- a write to a retired sale's journal brings it back
return {'ok', redis.call('XADD', KEYS[6], '*', 'j', journal), revived}
