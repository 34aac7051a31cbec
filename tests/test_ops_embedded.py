"""The embedded servers: reachable, never on standard ports, and durable the way the README promises."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from auction.config import Settings
from ops.embedded import EmbeddedPostgres, EmbeddedRedis, EmbeddedServerError, start_services
from ops.shared_services import start_configured_services


async def test_shared_redis_answers_ping(redis: Redis) -> None:
    assert await redis.ping() is True


async def test_embedded_redis_fsyncs_every_write(embedded_redis_factory: Callable[..., EmbeddedRedis]) -> None:
    server = embedded_redis_factory()
    assert server.port not in (None, 6379)
    client = Redis.from_url(server.url)
    try:
        # redis-py decodes CONFIG GET replies even with decode_responses=False.
        assert await client.config_get("appendfsync") == {"appendfsync": "always"}
        assert await client.config_get("appendonly") == {"appendonly": "yes"}
    finally:
        await client.aclose()


async def _write_then_read_back(server: EmbeddedRedis, restart: Callable[[], None]) -> list[bytes | str]:
    """200 acknowledged RPUSHes, `restart`, then what a new client reads (the old connections died with it)."""
    port = server.port
    writer = Redis.from_url(server.url)
    try:
        for i in range(200):
            await writer.rpush("bids", i)  # each reply is an acknowledgement: the write is in the AOF
    finally:
        await writer.aclose()
    restart()
    assert server.running and server.port == port
    reader = Redis.from_url(server.url)
    try:
        return await reader.lrange("bids", 0, -1)
    finally:
        await reader.aclose()


async def test_acknowledged_writes_survive_kill_9(embedded_redis_factory: Callable[..., EmbeddedRedis]) -> None:
    server = embedded_redis_factory()

    def kill_9_and_start() -> None:
        server.kill()
        assert not server.running
        server.start()

    assert await _write_then_read_back(server, kill_9_and_start) == [str(i).encode() for i in range(200)]


async def test_stop_and_start_keeps_data(embedded_redis_factory: Callable[..., EmbeddedRedis]) -> None:
    server = embedded_redis_factory(appendfsync="everysec")  # a clean SIGTERM flushes even without always

    def stop_and_start() -> None:
        server.stop()
        server.start()

    assert await _write_then_read_back(server, stop_and_start) == [str(i).encode() for i in range(200)]


async def test_embedded_redis_answers_only_with_its_password(
    embedded_redis_factory: Callable[..., EmbeddedRedis],
) -> None:
    """Finding 17 of issue 12: the embedded Redis had no password on its TCP port."""
    server = embedded_redis_factory()
    stranger = Redis(host="127.0.0.1", port=server.port or 0)
    try:
        with pytest.raises(RedisError, match=r"(?i)auth"):
            await stranger.get("anything")
    finally:
        await stranger.aclose()
    assert server.password in server.url
    assert_password_kept_private(server)


def assert_password_kept_private(server: EmbeddedRedis) -> None:
    assert server.config_path.stat().st_mode & 0o777 == 0o600
    pid = int(server.pid_path.read_text())
    assert server.password.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()  # `ps` never shows it


def test_redis_that_cannot_start_says_so(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path, binary=Path(shutil.which("false") or "/bin/false"))
    with pytest.raises(EmbeddedServerError, match="did not start"):
        server.start()


def test_bad_appendfsync_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="appendfsync"):
        EmbeddedRedis(tmp_path, appendfsync="sometimes")


def _backends() -> list[str]:
    """pgserver always (it is a dependency, and what a fresh machine uses); a PATH install when there is one."""
    return ["pgserver", "path"] if shutil.which("initdb") else ["pgserver"]


@pytest.mark.parametrize("backend", _backends())
async def test_embedded_postgres_on_a_private_socket(tmp_path: Path, backend: str) -> None:
    server = EmbeddedPostgres(tmp_path / "pg", backend=backend)
    server.start()
    try:
        assert server.backend == backend
        assert "?host=" in server.url and ":5432" not in server.url  # unix socket only: no TCP port at all
        conn = await asyncpg.connect(server.url)
        try:
            assert await conn.fetchval("SELECT current_database()") == "auction"
            assert await conn.fetchval("SHOW listen_addresses") == ""
            await conn.execute("CREATE TABLE kept (x bigint)")
            await conn.execute("INSERT INTO kept VALUES (42)")
        finally:
            await conn.close()
        server.stop()
        server.start()
        conn = await asyncpg.connect(server.url)
        try:
            assert await conn.fetchval("SELECT x FROM kept") == 42
        finally:
            await conn.close()
    finally:
        server.stop()


@pytest.mark.parametrize("backend", _backends())
async def test_embedded_postgres_killed_with_sigkill_restarts_with_what_was_committed(
    tmp_path: Path, backend: str
) -> None:
    server = EmbeddedPostgres(tmp_path / "pg", backend=backend)
    server.start()
    try:
        conn = await asyncpg.connect(server.url)
        await conn.execute("CREATE TABLE kept (x bigint)")
        await conn.execute("INSERT INTO kept VALUES (42)")
        server.kill()  # the connection is cut under us, as a client sees a crash
        with pytest.raises((OSError, asyncpg.PostgresError, asyncpg.InterfaceError)):
            await conn.fetchval("SELECT 1")
        conn.terminate()
        server.start()  # the same folder and socket: crash recovery, not initdb
        conn = await asyncpg.connect(server.url)
        try:
            assert await conn.fetchval("SELECT x FROM kept") == 42
        finally:
            await conn.close()
    finally:
        server.stop()


def test_configured_services_are_the_settings_servers(tmp_path: Path) -> None:
    settings = Settings(redis_url="redis://example:1/0", database_url="postgresql://h/db", state_dir=tmp_path)
    services = start_configured_services(settings)
    assert (services.redis_url, services.database_url) == ("redis://example:1/0", "postgresql://h/db")
    services.stop()


def test_the_embedded_postgresql_is_chosen_by_the_caller_not_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUCTION_EMBEDDED_PG", "path")
    assert EmbeddedPostgres(tmp_path / "pg").backend == "pgserver"  # the wheel is a dependency: always there


def test_given_urls_are_used_and_left_alone(tmp_path: Path) -> None:
    services = start_services(tmp_path, redis_url="redis://example:1/0", database_url="postgresql://h/db")
    assert (services.redis_url, services.database_url) == ("redis://example:1/0", "postgresql://h/db")
    services.stop()
    assert not any(tmp_path.iterdir())  # nothing was started
