"""An email has one spelling (issue 12, finding 13): normalised as it enters identity, stored so, and compared by
equality, so that every spelling of one address is one account and one lock; migration 0013 gave existing rows
the same spelling."""

from __future__ import annotations

import secrets
import unicodedata
from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import pytest

from auction import identity
from ops.embedded import create_database, drop_database, with_database
from ops.migrate import available_migrations, migrate
from tests.gateway.conftest import PeopleMaker, Running
from tests.gateway.test_hardening import address, session

PASSWORD = "the right password"
MIGRATION = "0013_login_slots_and_emails"


def test_the_rule_is_nfkc_and_simple_lower_case() -> None:
    assert identity.normalise_email("  İlker.Öz@Example.TEST ") == "ilker.öz@example.test"
    full_width = "\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25"  # EXAMPLE
    assert identity.normalise_email(f"ﬁnance@{full_width}.test") == "finance@example.test"  # a ligature too
    assert identity.normalise_email("Ω@x.test") == identity.normalise_email("ω@x.test")
    decomposed = unicodedata.normalize("NFD", "Öz@x.test")
    assert identity.normalise_email(decomposed) == "öz@x.test"
    assert identity.normalise_email("ilker.öz@example.test") == "ilker.öz@example.test"  # idempotent


async def test_every_spelling_is_one_account_and_one_lock_over_http(
    gateway: Running, pg: asyncpg.Pool, make_people: PeopleMaker
) -> None:
    tag = secrets.token_hex(3)
    spelled = f"İlker.Öz-{tag}@Example.TEST"
    admin = await make_people()
    async with aiohttp.ClientSession(gateway.http, headers=await admin["admin"].headers(pg)) as http:
        body = {"email": spelled, "name": "Ilker", "password": PASSWORD, "role": "auctioneer"}
        async with http.post("/api/accounts", json=body) as reply:
            assert reply.status == 201
            assert (await reply.json())["email"] == f"ilker.öz-{tag}@example.test"
        again = {**body, "email": f"ILKER.ÖZ-{tag}@example.test"}  # the same address, spelled otherwise
        async with http.post("/api/accounts", json=again) as reply:
            assert reply.status == 409 and (await reply.json())["error"]["field"] == "email"
    spellings = [spelled, f"ilker.öz-{tag}@example.test", f"ILKER.ÖZ-{tag}@EXAMPLE.TEST"]
    async with session(gateway.http, address()) as http:
        async with http.post("/api/login", json={"email": spellings[1], "password": PASSWORD}) as reply:
            assert reply.status == 200
        for n in range(identity.ACCOUNT_FAILURES):  # the failures of every spelling count on one lock
            async with http.post("/api/login", json={"email": spellings[n % 3], "password": "wrong"}) as reply:
                assert reply.status == 401
        for email in spellings:
            async with http.post("/api/login", json={"email": email, "password": PASSWORD}) as reply:
                assert reply.status == 429, email


@pytest.fixture
async def before_0013(database_url: str) -> AsyncIterator[str]:
    """A new database migrated up to the migration before 0013."""
    name = f"auction_emails_{secrets.token_hex(6)}"
    await create_database(database_url, name)
    url = with_database(database_url, name)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE TABLE schema_migrations (version text PRIMARY KEY, applied_at timestamptz)")
        for version, sql in available_migrations():
            if version >= MIGRATION:
                break
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
    finally:
        await conn.close()
    try:
        yield url
    finally:
        await drop_database(database_url, name)


async def test_the_migration_gives_existing_emails_the_one_spelling(before_0013: str) -> None:
    conn = await asyncpg.connect(before_0013)
    try:
        rows = ["İlker@Example.test", "ﬁnance@x.test", "Finance@X.test", " plain@x.test"]
        ids = [
            await conn.fetchval(
                "INSERT INTO accounts (email, name, role) VALUES ($1, 'Op', 'admin') RETURNING id", email
            )
            for email in rows
        ]
        await migrate(before_0013)
        after = {
            r["id"]: (r["email"], r["disabled"]) for r in await conn.fetch("SELECT id, email, disabled FROM accounts")
        }
    finally:
        await conn.close()
    assert after[ids[0]] == ("ilker@example.test", False)
    assert after[ids[1]] == ("finance@x.test", False)  # the older of the two that became one spelling keeps it
    assert after[ids[2]] == (f"duplicate-{ids[2]}:finance@x.test", True)  # the newer is disabled, marked
    assert after[ids[3]] == ("plain@x.test", False)
    assert all(identity.normalise_email(email) == email for email, disabled in after.values() if not disabled)
