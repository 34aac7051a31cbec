"""Prometheus metrics of a gateway process, served at GET /metrics.

Each gateway has its own registry (not prometheus_client's global one), so that tests can build several apps
in one process. The stream lag is measured when scraped: it needs Redis, which a collector can't await.

    auction_bids_total{outcome, reason}   bids answered: outcome accepted|rejected, reason "" when accepted
    auction_ack_seconds                   from a bid frame received to its answer queued for the socket
    auction_watchers                      sale subscriptions live in this process
    auction_stream_lag                    sale stream entries not yet acknowledged by the persister group
    auction_store_*_total                 the store's committer: batches, commands, commits (EVALSHAs), conflicts,
                                          busy answers, and seconds spent deciding and waiting for commits
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from redis.asyncio import Redis

from auction.persister import stream_lag
from auction.store import StoreError, StoreStats

log = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST
ACK_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class StoreCollector:
    """The store's own counters (StoreStats), read when scraped: the committer keeps plain ints, not metrics."""

    def __init__(self, stats: StoreStats) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        stats = self._stats
        counts = {
            "batches": ("Batches taken from the store's queue", stats.batches),
            "commands": ("Commands committed or refused by the store", stats.commands),
            "commits": ("Commit scripts sent to Redis", stats.commits),
            "conflicts": ("Commits refused because a lot or a buyer had moved", stats.conflicts),
            "busy": ("Commands answered busy", stats.busy),
            "forwarded": ("Commands sent to the store that holds their sale", stats.forwarded),
            "served": ("Commands taken from other stores, for sales this store holds", stats.served),
            "fenced": ("Commits refused because their sale had changed hands", stats.fenced),
            "deciding_seconds": ("Time deciding batches with the pure core", stats.deciding_ns / 1e9),
            "committing_seconds": ("Time waiting for commit scripts' replies", stats.committing_ns / 1e9),
        }
        for name, (documentation, value) in counts.items():
            yield CounterMetricFamily(f"auction_store_{name}", documentation, value=value)


class Metrics:
    def __init__(self, store_stats: StoreStats | None = None) -> None:
        self.registry = CollectorRegistry()
        if store_stats is not None:
            self.registry.register(StoreCollector(store_stats))
        self.bids = Counter("auction_bids", "Bids answered", ["outcome", "reason"], registry=self.registry)
        self.ack_seconds = Histogram(
            "auction_ack_seconds", "Bid frame received to answer sent", buckets=ACK_BUCKETS, registry=self.registry
        )
        self.watchers = Gauge("auction_watchers", "Sale subscriptions in this process", registry=self.registry)
        self.stream_lag = Gauge(
            "auction_stream_lag", "Sale stream entries the persister has not acknowledged", registry=self.registry
        )

    def bid_answered(self, reason: str | None, seconds: float) -> None:
        """`reason` None for an accepted bid."""
        if reason is None:
            self.bids.labels("accepted", "").inc()
        else:
            self.bids.labels("rejected", reason).inc()
        self.ack_seconds.observe(seconds)

    def bid_waiting(self, seconds: float) -> None:
        """An online bid of a live sale received and waiting for the clerk: neither kept nor refused yet."""
        self.bids.labels("waiting", "").inc()
        self.ack_seconds.observe(seconds)

    def watchers_changed(self, delta: int) -> None:
        self.watchers.inc(delta)

    async def render(self, redis: Redis) -> bytes:
        try:
            self.stream_lag.set(await stream_lag(redis))
        except StoreError as exc:
            log.warning("stream lag not measured: %s", exc)  # the rest of the metrics are still worth serving
        return bytes(generate_latest(self.registry))
