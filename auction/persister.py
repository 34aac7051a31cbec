"""Copies every event and every journal entry from Redis into the record in PostgreSQL.

Save, then acknowledge: the persister reads each active sale's event stream (`sale:{S}:events`) and journal
(`sale:{S}:journal`) through the consumer group "persister", inserts a batch with one INSERT ... ON CONFLICT DO
NOTHING (lot_events is unique on (sale, lot, seq), sale_journal on (sale, entry id)), and only then XACKs it. A
crash between insert and ack re-delivers the batch, which the keys turn into a no-op; so does running two
persisters, or the store's postgres durability mode having written the rows first.

On every pass a consumer first re-reads its own pending entries (delivered before a crash, never acked), then
claims entries that another consumer left pending for longer than `claim_idle_ms` (it died), then reads new
ones. Errors are StoreError (see auction.store), translated from Redis and asyncpg at this edge.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg
from redis.asyncio import Redis

from auction import keys
from auction.engine.messages import EVENT_DECODER
from auction.record import EventRow, event_row, journal_row, write_events, write_journal
from auction.sale_streams import Entry, SaleStreamGroup, follow
from auction.store import StoreError, translate_errors

log = logging.getLogger(__name__)


LAG_COUNT_CAP = 100_000  # past this many undelivered entries per stream, the figure says "at least"

_LOT = keys.LOT_FIELD.encode()
_EVENT = keys.EVENT_FIELD.encode()
_JOURNAL = keys.JOURNAL_FIELD.encode()


class Persister:
    def __init__(
        self,
        redis: Redis,
        pg: asyncpg.Pool,
        *,
        consumer: str = "persister-1",
        batch: int = 500,
        claim_idle_ms: int = 30_000,
        only_sales: frozenset[int] | None = None,
    ) -> None:
        """`only_sales` limits it to some sales (tests sharing a Redis with other tests' sales)."""
        self._redis = redis
        self._pg = pg
        self._consumer = consumer
        group = keys.PERSISTER_GROUP
        self._events = SaleStreamGroup(
            redis, group, consumer, batch=batch, claim_idle_ms=claim_idle_ms, only_sales=only_sales
        )
        self._journal = SaleStreamGroup(
            redis, group, consumer, batch=batch, claim_idle_ms=claim_idle_ms, only_sales=only_sales,
            stream=keys.sale_journal,
        )  # fmt: skip

    async def run(self, stop: asyncio.Event) -> None:
        """Persist until `stop` is set; a failing Redis or PostgreSQL is retried, never fatal."""
        await follow(stop, self.drain_once, retry_on=StoreError, name=f"persister {self._consumer}")

    async def drain_once(self) -> int:
        """Persist everything currently in the streams of active sales; returns the rows newly written. The
        journal goes second: an entry is never recorded before the events it names."""
        with translate_errors("persisting events"):
            written = await self._events.drain_once(self._store_events)
            return written + await self._journal.drain_once(self._store_journal)

    async def stream_lag(self) -> int:
        """Entries not yet acknowledged, across active sales: pending plus never delivered."""
        return await stream_lag(self._redis)

    async def _store_events(self, sale: int, entries: list[Entry]) -> int:
        """Insert; the stream group acks once this returns, so an entry is acked only once PostgreSQL has it."""
        rows = [_event_row(sale, fields) for _id, fields in entries if fields]  # None: the entry was deleted
        return await write_events(self._pg, rows)

    async def _store_journal(self, sale: int, entries: list[Entry]) -> int:
        rows = [journal_row(sale, entry_id, fields[_JOURNAL]) for entry_id, fields in entries if fields]
        return await write_journal(self._pg, rows)


async def stream_lag(redis: Redis) -> int:
    """What the persister has yet to copy, across active sales: entries pending (delivered, not acknowledged)
    plus entries never delivered, in every sale's event stream and journal. Raises StoreUnavailable."""
    with translate_errors("measuring stream lag"):
        members = await redis.smembers(keys.ACTIVE_SALES)
        lag = 0
        for sale in sorted(int(member) for member in members):
            for stream in (keys.sale_events(sale), keys.sale_journal(sale)):
                lag += await _group_lag(redis, stream)
        return lag


async def _group_lag(redis: Redis, stream: str) -> int:
    if not await redis.exists(stream):
        return 0
    for group in await redis.xinfo_groups(stream):
        if group["name"] in (keys.PERSISTER_GROUP, keys.PERSISTER_GROUP.encode()):
            return int(group["pending"]) + await _undelivered(redis, stream, group)
    return int(await redis.xlen(stream))  # no group yet: the persister has read nothing


async def _undelivered(redis: Redis, stream: str, group: dict[str, Any]) -> int:
    """Entries past the group's last delivered id, counted (up to LAG_COUNT_CAP). Not Redis's own `lag`: it
    is estimated from a counter that a restart of Redis can leave wrong (thousands with nothing left)."""
    last = group["last-delivered-id"]
    last_id = last.decode() if isinstance(last, bytes) else str(last)
    after: list[Any] = await redis.xrange(stream, min=f"({last_id}", count=LAG_COUNT_CAP)  # type: ignore[assignment]
    return len(after)


def _event_row(sale: int, fields: dict[bytes, bytes]) -> EventRow:
    data = fields[_EVENT]
    return event_row(sale, int(fields[_LOT]), EVENT_DECODER.decode(data), data.decode())
