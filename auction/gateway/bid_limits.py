"""One rate limit on bids per bidding company, whatever the transport (websocket or HTTP) and the gateway.

Each company has a token bucket in Redis (keys.bid_bucket): `rate_per_s` bids a second on average, bursts of
`burst`, refilled by Redis's own clock so that every gateway sees one bucket. A bid takes a token before it
reaches the store, or is refused `rate_limited` with a retry hint. The per-connection limit of the websocket
(channel.TokenBucket) stays: it bounds every message of one connection; this one bounds what one company bids.

Why batched: a bid must not pay a round trip of its own. Takes asked within one turn of the event loop go to
Redis together, one pipeline of one script call per company (each atomic; no two companies' keys in one call, so
it works on a Redis Cluster), and each is answered from the pipeline's reply. Why it lets a bid through when
Redis fails: the limiter guards capacity, it must not make bids fail on its own; the store answers them as
its Redis allows.

The default (20 a second, bursts of 60) is what the load generator (loadtest/: up to 15 bids/s per buyer in the
ramp, 10 in the writers' bench) and the websocket's per-connection limit already allow one buyer; an honest
person bids far less often.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass, field

from redis.asyncio import Redis

from auction import keys
from auction.redis_adapter import REDIS_ERRORS

log = logging.getLogger(__name__)

BID_RATE_PER_S = 20
BURST_SECONDS = 3  # a company's burst: this many seconds of its rate

# KEYS[1] the company's bucket; ARGV rate (tokens/s), burst, tokens wanted. Returns {granted, wait_ms}: how many
# of the wanted tokens were taken (the first ones asked get them), and when the next one will be there.
TAKE_LUA = """
local rate, burst, wanted = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local held = redis.call('HMGET', KEYS[1], 't', 'at')
local tokens, at = tonumber(held[1]) or burst, tonumber(held[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
local granted = math.min(wanted, math.floor(tokens))
tokens = tokens - granted
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
local wait_ms = 0
if granted < wanted then wait_ms = math.ceil((1 - tokens) * 1000 / rate) end
return {granted, wait_ms}
"""


@dataclass(slots=True)
class _Asks:
    """One company's takes in a batch, in the order asked."""

    futures: list[asyncio.Future[int]] = field(default_factory=list)


class BidLimits:
    """`take(company)`: a future of 0 (bid) or the seconds to wait (refused). Off with `rate_per_s` 0."""

    def __init__(self, redis: Redis, rate_per_s: int = BID_RATE_PER_S) -> None:
        self._redis = redis
        self.rate_per_s = rate_per_s
        self.burst = max(1, rate_per_s * BURST_SECONDS)
        self._script = redis.register_script(TAKE_LUA)
        self._batch: dict[int, _Asks] = {}
        self._sending: asyncio.Task[None] | None = None  # one batch at a time, so bids keep their order

    def take(self, company: int) -> asyncio.Future[int]:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        if self.rate_per_s <= 0:
            future.set_result(0)
            return future
        if not self._batch and self._sending is None:
            asyncio.get_running_loop().call_soon(self._flush)
        self._batch.setdefault(company, _Asks()).futures.append(future)
        return future

    def _flush(self) -> None:
        if self._sending is not None or not self._batch:
            return
        batch, self._batch = self._batch, {}
        self._sending = asyncio.create_task(self._send(batch))
        self._sending.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sending = None
        self._flush()  # what was asked meanwhile

    async def _send(self, batch: dict[int, _Asks]) -> None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for company, asks in batch.items():
                    args = [self.rate_per_s, self.burst, len(asks.futures)]
                    await self._script(keys=[keys.bid_bucket(company)], args=args, client=pipe)
                replies = await pipe.execute()
        except REDIS_ERRORS:
            log.warning("the bid limits could not be read: %d companies' bids let through", len(batch), exc_info=True)
            replies = [[len(asks.futures), 0] for asks in batch.values()]
        except Exception:  # a bug must not leave bids waiting forever
            log.exception("the bid limits failed: %d companies' bids let through", len(batch))
            replies = [[len(asks.futures), 0] for asks in batch.values()]
        for asks, (granted, wait_ms) in zip(batch.values(), replies, strict=True):
            wait_s = max(1, math.ceil(int(wait_ms) / 1000))
            for n, future in enumerate(asks.futures):
                if not future.done():
                    future.set_result(0 if n < int(granted) else wait_s)

    async def close(self) -> None:
        """Let the batch in flight (and those asked meanwhile) answer their bids."""
        while self._sending is not None:
            await asyncio.gather(self._sending, return_exceptions=True)
            await asyncio.sleep(0)
