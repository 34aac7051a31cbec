"""`auction admin create`: the house's first admin, on a fresh database, and never a second by that route."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import asyncpg
import pytest

from auction import identity
from ops import cli
from ops.embedded import create_database, drop_database, with_database

PASSWORD = "correct horse battery"


@pytest.fixture
async def fresh_database(database_url: str) -> AsyncIterator[str]:
    """A new, unmigrated database: the command must migrate it itself, as on a new install."""
    name = f"auction_admin_{secrets.token_hex(6)}"
    await create_database(database_url, name)
    try:
        yield with_database(database_url, name)
    finally:
        await drop_database(database_url, name)


async def _run(url: str, monkeypatch: pytest.MonkeyPatch, *args: str, password: str = PASSWORD) -> int:
    """The command as a user runs it: in its own thread, since it runs its own event loop."""
    monkeypatch.setenv("AUCTION_DATABASE_URL", url)
    monkeypatch.setenv("AUCTION_ADMIN_PASSWORD", password)
    return await asyncio.to_thread(cli.main, ["admin", "create", *args])


async def _admins(url: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        return [r["email"] for r in await conn.fetch("SELECT email FROM accounts WHERE role = 'admin'")]
    finally:
        await conn.close()


async def test_first_admin_is_created_and_can_log_in(
    fresh_database: str, redis_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AUCTION_REDIS_URL", redis_url)
    assert await _run(fresh_database, monkeypatch, "head@house.example", "Head of Sales") == 0
    assert "head@house.example" in capsys.readouterr().out
    pool = await asyncpg.create_pool(fresh_database, min_size=1, max_size=1)
    try:
        account = await identity.login(pool, "head@house.example", PASSWORD, "127.0.0.1")
    finally:
        await pool.close()
    assert account.role == "admin"


async def test_a_second_admin_is_refused(
    fresh_database: str, redis_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AUCTION_REDIS_URL", redis_url)
    assert await _run(fresh_database, monkeypatch, "first@house.example", "First") == 0
    assert await _run(fresh_database, monkeypatch, "second@house.example", "Second") == 1
    assert "admin exists already" in capsys.readouterr().err
    assert await _admins(fresh_database) == ["first@house.example"]


@pytest.mark.parametrize(
    ("email", "password", "field"),
    [("not-an-email", PASSWORD, "email"), ("ok@house.example", "short", "password")],
)
async def test_bad_input_names_the_field_and_creates_nothing(
    fresh_database: str,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    email: str,
    password: str,
    field: str,
) -> None:
    monkeypatch.setenv("AUCTION_REDIS_URL", redis_url)
    assert await _run(fresh_database, monkeypatch, email, "Someone", password=password) == 1
    assert f"auction admin: {field}:" in capsys.readouterr().err
    assert await _admins(fresh_database) == []
