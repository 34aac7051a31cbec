"""The shill monitor's scores, for operators: on the websocket (`watch_shill_scores`, answered `shill_scores` at
once and again whenever the scores change) and over HTTP (oversight.py).

One `ShillFeed` per sale with operators watching its scores in this process: it reads the sale's record as it
grows (auction.shill.SaleWatch, from PostgreSQL, every REFRESH_S) and, when the scores changed, encodes one frame
and puts it on every watcher's outbox (fanout.Outbox: never waiting, a watcher that can't keep up is dropped as
lagged by its connection). Who may watch is the access table's to say; a watcher is forgotten when it
unsubscribes from the sale or its connection ends. A refresh that fails (PostgreSQL out of reach) is tried again
at the next tick: the scores are late, nothing else is touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from auction.config import DEFAULT_SHILL_THRESHOLD
from auction.engine.shill import ShillReport
from auction.gateway.fanout import Outbox, now_ms
from auction.gateway.lookups import PG_OUT_OF_REACH
from auction.gateway.protocol import Error, ShillScores, encode
from auction.shill import SaleWatch, sale_report

log = logging.getLogger(__name__)

REFRESH_S = 1.0  # how often a watched sale's record is read again: scores for people to read, not for bidding
DEFAULT_THRESHOLD = DEFAULT_SHILL_THRESHOLD  # the score from which a bidder is flagged (AUCTION_SHILL_THRESHOLD)


class ShillFeed:
    """One sale's scores and the outboxes that want them."""

    def __init__(self, monitor: ShillMonitor, sale: int) -> None:
        self.monitor = monitor
        self.sale = sale
        self.record = SaleWatch(monitor.pg, sale)
        self.outboxes: set[Outbox] = set()
        self.report: ShillReport | None = None
        self.ready = asyncio.create_task(self._first_read(), name=f"shills-ready-{sale}")
        self.task: asyncio.Task[None] | None = None

    async def _first_read(self) -> bool:
        """Whether the catalogue knows the sale, once its record is read; then the feed follows it."""
        await self.record.refresh()
        self.report = self.record.report(self.monitor.threshold)
        self.task = asyncio.create_task(self._follow(), name=f"shills-{self.sale}")
        return bool(self.record.terms)

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(self.monitor.refresh_s)
            try:
                if not await self.record.refresh():
                    continue
            except PG_OUT_OF_REACH:
                log.warning("sale %s: the shill monitor could not read the record; retrying", self.sale, exc_info=True)
                continue
            report = self.record.report(self.monitor.threshold)
            if report != self.report:
                self.report = report
                frame = self.frame()
                for outbox in list(self.outboxes):
                    outbox.put(frame)

    def frame(self) -> bytes:
        assert self.report is not None
        report = self.report
        return encode(ShillScores(self.sale, now_ms(), report.threshold, report.events, report.bidders))

    def stop(self) -> None:
        self.ready.cancel()
        if self.task is not None:
            self.task.cancel()


class ShillMonitor:
    """Every sale whose scores operators watch through this process."""

    def __init__(self, pg: asyncpg.Pool, threshold: int = DEFAULT_THRESHOLD, refresh_s: float = REFRESH_S) -> None:
        self.pg = pg
        self.threshold = threshold
        self.refresh_s = refresh_s
        self._feeds: dict[int, ShillFeed] = {}

    async def report(self, sale: int) -> ShillReport | None:
        """The sale's scores from its record as it is now; None for a sale the catalogue doesn't have."""
        return await sale_report(self.pg, sale, self.threshold)

    async def watch(self, sale: int, outbox: Outbox) -> Error | None:
        """Send the sale's scores to `outbox` now and whenever they change; or say why not."""
        feed = self._feeds.get(sale) or self._new_feed(sale)
        try:
            known = await asyncio.shield(feed.ready)
        except BaseException:
            self._drop(feed)
            raise
        if not known:
            self._drop(feed)
            return Error("not_found", "sale", f"no sale {sale}")
        feed.outboxes.add(outbox)
        outbox.put(feed.frame())
        return None

    def unwatch(self, sale: int, outbox: Outbox) -> None:
        feed = self._feeds.get(sale)
        if feed is not None:
            feed.outboxes.discard(outbox)
            if not feed.outboxes and feed.ready.done():
                self._drop(feed)

    def forget(self, outbox: Outbox) -> None:
        """The connection is over: it watches nothing any more."""
        for sale in [sale for sale, feed in self._feeds.items() if outbox in feed.outboxes]:
            self.unwatch(sale, outbox)

    def _new_feed(self, sale: int) -> ShillFeed:
        feed = self._feeds[sale] = ShillFeed(self, sale)
        return feed

    def _drop(self, feed: ShillFeed) -> None:
        if self._feeds.get(feed.sale) is feed and not feed.outboxes:
            del self._feeds[feed.sale]
            feed.stop()

    async def close(self) -> None:
        feeds, self._feeds = list(self._feeds.values()), {}
        for feed in feeds:
            feed.stop()
        for feed in feeds:
            for task in (feed.ready, feed.task):
                if task is not None:
                    with contextlib.suppress(BaseException):
                        await task


__all__ = ["DEFAULT_THRESHOLD", "REFRESH_S", "ShillFeed", "ShillMonitor"]
