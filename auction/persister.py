"""Copies every event from Redis into the record, PostgreSQL's `lot_events`.

Save, then acknowledge: the persister reads each active sale's event stream (`sale:{S}:events`) through the
consumer group "persister", inserts a batch with one INSERT ... ON CONFLICT (sale_id, lot_no, seq) DO NOTHING,
and only then XACKs it. A crash between insert and ack re-delivers the batch, which the primary key turns into
a no-op; so does running two persisters, or the store's postgres durability mode having written the rows first.

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
from auction.engine.messages import EVENT_DECODER, AnyEvent
from auction.sale_streams import Entry, SaleStreamGroup, follow
from auction.store import EventRow, StoreError, event_row, translate_errors, write_events

log = logging.getLogger(__name__)


_LOT = keys.LOT_FIELD.encode()
_EVENT = keys.EVENT_FIELD.encode()


async def load_lot_events(pg: asyncpg.Pool, sale: int, lot: int) -> list[AnyEvent]:
    """A lot's recorded events in seq order (data read as text, whatever jsonb codec the pool has)."""
    rows = await pg.fetch(
        "SELECT data::text FROM lot_events WHERE sale_id = $1 AND lot_no = $2 ORDER BY seq", sale, lot
    )
    return [EVENT_DECODER.decode(row[0]) for row in rows]


class Persister:
    def __init__(
        self,
        redis: Redis,
        pg: asyncpg.Pool,
        *,
        consumer: str = "persister-1",
        batch: int = 500,
        claim_idle_ms: int = 30_000,
    ) -> None:
        self._redis = redis
        self._pg = pg
        self._consumer = consumer
        self._streams = SaleStreamGroup(redis, keys.PERSISTER_GROUP, consumer, batch=batch, claim_idle_ms=claim_idle_ms)

    async def run(self, stop: asyncio.Event) -> None:
        """Persist until `stop` is set; a failing Redis or PostgreSQL is retried, never fatal."""
        await follow(stop, self.drain_once, retry_on=StoreError, name=f"persister {self._consumer}")

    async def drain_once(self) -> int:
        """Persist everything currently in the streams of active sales; returns the rows newly written."""
        with translate_errors("persisting events"):
            return await self._streams.drain_once(self._store)

    async def stream_lag(self) -> int:
        """Entries not yet acknowledged, across active sales: pending plus never delivered."""
        with translate_errors("measuring stream lag"):
            return sum([await self._sale_lag(sale) for sale in await self._streams.active_sales()])

    async def _store(self, sale: int, entries: list[Entry]) -> int:
        """Insert; the stream group acks once this returns, so an entry is acked only once PostgreSQL has it."""
        rows = [_row(sale, fields) for _id, fields in entries if fields]  # fields is None if the entry was deleted
        return await write_events(self._pg, rows)

    async def _sale_lag(self, sale: int) -> int:
        for group in await self._redis.xinfo_groups(keys.sale_events(sale)):
            if group["name"] in (keys.PERSISTER_GROUP, keys.PERSISTER_GROUP.encode()):
                return int(group["pending"]) + await self._undelivered(sale, group)
        return 0

    async def _undelivered(self, sale: int, group: dict[str, Any]) -> int:
        """Redis 7 reports `lag`; when it can't (it is None), count past the last delivered id."""
        if group.get("lag") is not None:
            return int(group["lag"])
        last = group["last-delivered-id"]
        last_id = last.decode() if isinstance(last, bytes) else str(last)
        after: list[Any] = await self._redis.xrange(keys.sale_events(sale), min=f"({last_id}")  # type: ignore[assignment]
        return len(after)


def _row(sale: int, fields: dict[bytes, bytes]) -> EventRow:
    data = fields[_EVENT]
    return event_row(sale, int(fields[_LOT]), EVENT_DECODER.decode(data), data.decode())
