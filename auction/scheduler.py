"""Opens and closes timed lots when their time comes.

Each tick reads, for every active sale, the lots whose start (`sale:{S}:opens`) or current end
(`sale:{S}:closes`) has passed, and sends OpenLot / CloseLot through the store. The store's compare-and-set
makes this safe to run in several processes at once: only one LotSold or LotPassed is ever committed for a
lot, and the others' commands are rejected (lot_closed, not_due) as a matter of course. An extended lot has
its close score moved by the same atomic step that extended it, and the core refuses to close it early.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from redis.asyncio import Redis

from auction import keys
from auction.engine.messages import AnyCommand, CloseLot, OpenLot
from auction.store import Accepted, LotStore, StoreError, translate_errors

log = logging.getLogger(__name__)


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class Scheduler:
    def __init__(
        self,
        store: LotStore,
        redis: Redis,
        *,
        tick_ms: int = 100,
        clock: Callable[[], int] = wall_clock_ms,
        only_sales: frozenset[int] | None = None,
    ) -> None:
        """`only_sales` limits it to some sales (tests sharing a Redis with other tests' sales)."""
        self._store = store
        self._redis = redis
        self._only = only_sales
        self._tick_s = tick_ms / 1000
        self._clock = clock

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until `stop` is set; a failed tick is logged and the next one tries again."""
        while not stop.is_set():
            try:
                await self.tick(self._clock())
            except StoreError:
                log.warning("scheduler tick failed", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._tick_s)

    async def tick(self, now_ms: int) -> list[Accepted]:
        """Send every due open and close; return what was committed (rejections are expected and dropped)."""
        due = await self._due_commands(now_ms)
        calls = (self._store.execute(sale, lot, command) for sale, lot, command in due)
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        for (sale, lot, command), outcome in zip(due, outcomes, strict=True):
            if isinstance(outcome, BaseException):  # one broken lot must not stop the others closing
                log.warning("sale %s lot %s: %s failed: %r", sale, lot, type(command).__name__, outcome)
        return [outcome for outcome in outcomes if isinstance(outcome, Accepted)]

    async def _due_commands(self, now_ms: int) -> list[tuple[int, int, AnyCommand]]:
        """Opens first: a lot due to both (never opened, already ended) is refused the open, then passed."""
        with translate_errors("finding due lots"):
            sales = sorted(int(sale) for sale in await self._redis.smembers(keys.ACTIVE_SALES))
            sales = [sale for sale in sales if self._only is None or sale in self._only]
            async with self._redis.pipeline(transaction=False) as pipe:
                for sale in sales:
                    pipe.zrangebyscore(keys.sale_opens(sale), "-inf", now_ms)
                    pipe.zrangebyscore(keys.sale_closes(sale), "-inf", now_ms)
                found: list[list[bytes]] = await pipe.execute()
        due: list[tuple[int, int, AnyCommand]] = []
        for index, sale in enumerate(sales):
            due += [(sale, int(lot), OpenLot(at_ms=now_ms)) for lot in found[2 * index]]
            due += [(sale, int(lot), CloseLot(at_ms=now_ms)) for lot in found[2 * index + 1]]
        return due
