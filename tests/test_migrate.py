"""Migrations apply once, in order, safely in parallel; and the initial schema's constraints hold."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest

from ops.embedded import create_database, drop_database, with_database
from ops.migrate import available_migrations, migrate


@pytest.fixture
async def empty_database(database_url: str) -> AsyncIterator[str]:
    """A new, unmigrated database on the session's server."""
    name = f"auction_migrate_{secrets.token_hex(6)}"
    await create_database(database_url, name)
    try:
        yield with_database(database_url, name)
    finally:
        await drop_database(database_url, name)


def test_migration_files_are_found_in_order() -> None:
    versions = [version for version, _ in available_migrations()]
    assert versions[0] == "0001_init"
    assert versions == sorted(versions)


async def test_applies_once_then_nothing(empty_database: str) -> None:
    assert await migrate(empty_database) == [v for v, _ in available_migrations()]
    assert await migrate(empty_database) == []
    conn = await asyncpg.connect(empty_database)
    try:
        recorded = await conn.fetchval("SELECT array_agg(version ORDER BY version) FROM schema_migrations")
    finally:
        await conn.close()
    assert recorded == [v for v, _ in available_migrations()]


async def test_concurrent_migrators_apply_each_file_once(empty_database: str) -> None:
    results = await asyncio.gather(*(migrate(empty_database) for _ in range(4)))
    applied = [version for result in results for version in result]
    assert applied == [v for v, _ in available_migrations()]


async def _insert_event(conn: asyncpg.Connection, sale_id: int, on_conflict: str = "") -> str:
    status: str = await conn.execute(
        "INSERT INTO lot_events (sale_id, lot_no, seq, type, at_ms, data)"
        f" VALUES ($1, 1, 1, 'bid', 1700000000000, '{{\"amount\": 500000}}') {on_conflict}",
        sale_id,
    )
    return status


async def test_lot_event_recorded_twice_is_refused_or_harmless(
    pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    sale_id = new_sale_id()
    async with pg.acquire() as conn:
        assert await _insert_event(conn, sale_id) == "INSERT 0 1"
        with pytest.raises(asyncpg.UniqueViolationError):
            await _insert_event(conn, sale_id)
        assert await _insert_event(conn, sale_id, "ON CONFLICT DO NOTHING") == "INSERT 0 0"
        assert await conn.fetchval("SELECT count(*) FROM lot_events WHERE sale_id = $1", sale_id) == 1


async def _insert_lot(conn: asyncpg.Connection, sale_id: int, reserve: int, low: int, high: int) -> None:
    await conn.execute(
        "INSERT INTO lots (sale_id, lot_no, title, carat_points, shape, low_estimate, high_estimate, reserve,"
        " opening_price, start_ms, end_ms) VALUES ($1, 1, '1.01 ct round', 101, 'round', $2, $3, $4, $4, 0, 1)",
        sale_id,
        low,
        high,
        reserve,
    )


async def test_reserve_above_low_estimate_is_rejected(pg: asyncpg.Pool, new_sale_id: Callable[[], int]) -> None:
    sale_id = new_sale_id()
    async with pg.acquire() as conn:
        await conn.execute(
            "INSERT INTO sales (id, name, currency, format, starts_at_ms, settings)"
            " VALUES ($1, 'Test sale', 'USD', 'timed', 0, '{}')",
            sale_id,
        )
        with pytest.raises(asyncpg.CheckViolationError):
            await _insert_lot(conn, sale_id, reserve=1_000_001, low=1_000_000, high=1_500_000)
        await _insert_lot(conn, sale_id, reserve=1_000_000, low=1_000_000, high=1_500_000)  # equal is allowed
