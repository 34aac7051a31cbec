"""The verifier, run after a test on the sales it made (conftest.record_verified)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from redis.asyncio import Redis

from auction import audit, keys
from auction.engine.messages import EVENT_DECODER
from auction.record import event_row, journal_row, write_events, write_journal


async def verify_records(redis_url: str, database_url: str, sales: Sequence[int]) -> list[str]:
    """Copy each sale's journal and events from Redis to PostgreSQL (skipping what is there), then verify it
    from PostgreSQL alone. Sales the store never wrote (no journal) are skipped. Returns the reports that fail."""
    if not sales:
        return []
    redis = Redis.from_url(redis_url)
    pg = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        failed = []
        for sale in sales:
            if not await _copy_record(redis, pg, sale):
                continue
            verification = await audit.verify(pg, sale)
            if not verification.ok:
                failed.append(verification.report())
        return failed
    finally:
        await pg.close()
        await redis.aclose()


async def _copy_record(redis: Redis, pg: asyncpg.Pool, sale: int) -> bool:
    journal = await redis.xrange(keys.sale_journal(sale))
    if not journal:
        return False
    await write_journal(pg, [journal_row(sale, entry_id, fields[b"j"]) for entry_id, fields in journal])
    events = await redis.xrange(keys.sale_events(sale))
    rows = [
        event_row(sale, int(fields[b"lot"]), EVENT_DECODER.decode(fields[b"e"]), fields[b"e"].decode())
        for _id, fields in events
    ]
    await write_events(pg, rows)
    return True
