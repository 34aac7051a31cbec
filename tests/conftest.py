"""Fixtures shared by every test: one Redis and one PostgreSQL per session, migrated once.

With AUCTION_REDIS_URL / AUCTION_DATABASE_URL set, tests run against those servers; otherwise embedded ones
start in a temporary folder (PostgreSQL as AUCTION_EMBEDDED_PG chooses, as for `auction`). Against a given
PostgreSQL the session works in a database of its own (`auction_test_<hex>`, dropped at the end), and against a
given Redis every test uses fresh sale ids from `new_sale_id`, so a shared server never needs flushing and real
data is never touched.
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis

from auction.store import LotStore
from ops.embedded import (
    EmbeddedPostgres,
    EmbeddedRedis,
    Services,
    create_database,
    drop_database,
    start_services,
    with_database,
)
from ops.migrate import migrate
from tests.verified import verify_records

EMBEDDED_PG = os.environ.get("AUCTION_EMBEDDED_PG") or None  # pgserver or path; unset: pgserver if installed


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    started = start_services(
        tmp_path_factory.mktemp("services"),
        redis_url=os.environ.get("AUCTION_REDIS_URL") or None,
        database_url=os.environ.get("AUCTION_DATABASE_URL") or None,
        pg_backend=EMBEDDED_PG,
    )
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="session")
def redis_url(services: Services) -> str:
    return services.redis_url


@pytest.fixture(scope="session")
async def database_url(services: Services) -> AsyncIterator[str]:
    """The session's migrated database: a throwaway one when the server was given by URL."""
    if not os.environ.get("AUCTION_DATABASE_URL"):
        await migrate(services.database_url)
        yield services.database_url
        return
    name = f"auction_test_{secrets.token_hex(6)}"
    await create_database(services.database_url, name)
    try:
        url = with_database(services.database_url, name)
        await migrate(url)
        yield url
    finally:
        await drop_database(services.database_url, name)


@pytest.fixture(scope="session")
async def pg(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=10)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """A client per test (cheap: it connects lazily), so one test's connection state never leaks into another."""
    client = Redis.from_url(redis_url, decode_responses=False)
    try:
        yield client
    finally:
        await client.aclose()


_ISSUED_SALES: list[int] = []  # every sale id handed out this session, in order


@pytest.fixture(scope="session")
def new_sale_id() -> Callable[[], int]:
    """Unique sale ids: a counter from a random 12-digit base, so sessions sharing a server don't collide.

    Kept below 2**53 so ids survive a round trip through JavaScript numbers.
    """
    counter = itertools.count(10**11 + secrets.randbelow(9 * 10**11))

    def issue() -> int:
        sale = next(counter)
        _ISSUED_SALES.append(sale)
        return sale

    return issue


@pytest.fixture(autouse=True)
async def record_verified(request: pytest.FixtureRequest, redis_url: str, database_url: str) -> AsyncIterator[None]:
    """After every test that made sales: each sale's record, copied into PostgreSQL as the persister would, is
    replayed through the pure core by the verifier (`auction audit verify`), and must be a history the rules
    produce. A test that corrupts a record on purpose says so with @pytest.mark.record_not_verified."""
    if "new_sale_id" not in request.fixturenames or request.node.get_closest_marker("record_not_verified"):
        yield
        return
    first = len(_ISSUED_SALES)
    yield
    problems = await verify_records(redis_url, database_url, _ISSUED_SALES[first:])
    if problems:
        pytest.fail("the verifier found records the rules could not produce:\n" + "\n".join(problems))


@pytest.fixture
def embedded_redis_factory(tmp_path: Path) -> Iterator[Callable[..., EmbeddedRedis]]:
    """Start a private Redis (for tests that kill -9 it); every one started is stopped at test end."""
    started: list[EmbeddedRedis] = []

    def start(appendfsync: str = "always") -> EmbeddedRedis:
        server = EmbeddedRedis(tmp_path / f"redis{len(started)}", appendfsync=appendfsync)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
async def embedded_postgres_factory(tmp_path: Path) -> AsyncIterator[Callable[[], Awaitable[EmbeddedPostgres]]]:
    """Start a private, migrated PostgreSQL (for tests that stop or kill it); every one started is stopped at
    test end. Restarted with astart() on the same folder, it keeps its data and its URL."""
    started: list[EmbeddedPostgres] = []

    async def start() -> EmbeddedPostgres:
        server = EmbeddedPostgres(tmp_path / f"pg{len(started)}", backend=EMBEDDED_PG)
        started.append(server)
        await server.astart()
        await migrate(server.url)
        return server

    yield start
    for server in started:
        await server.astop()


@pytest.fixture
async def store(redis: Redis) -> AsyncIterator[LotStore]:
    """A LotStore without limits enforcement; the tests of limits define an enforcing one of their own."""
    lot_store = LotStore(redis)
    try:
        yield lot_store
    finally:
        await lot_store.close()
