"""Schema migrations: numbered .sql files in ops/migrations, applied in order, each exactly once.

Deliberately tiny (no down-migrations, no ORM): a file's name is its version, `schema_migrations` records what
was applied, and a PostgreSQL advisory lock serialises concurrent migrators, e.g. several gateway processes
starting at once behind a load balancer.
"""

from __future__ import annotations

import re
from importlib import resources

import asyncpg

# Any constant works as long as nothing else in the database uses it; this is "auction migrate" in ASCII.
MIGRATION_LOCK_KEY = 0x61756374_6D696772

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text PRIMARY KEY,
    applied_at timestamptz DEFAULT now()
)
"""


def available_migrations() -> list[tuple[str, str]]:
    """(version, sql) for every migration file, in order. The version is the file name without `.sql`."""
    folder = resources.files("ops").joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            if not _NAME.match(entry.name):
                raise ValueError(f"migration file {entry.name!r} is not named NNNN_lower_snake.sql")
            found.append((entry.name.removesuffix(".sql"), entry.read_text(encoding="utf-8")))
    found.sort()
    _check_numbers_unique([version for version, _ in found])
    return found


def _check_numbers_unique(versions: list[str]) -> None:
    """Two files with one number would apply in name order on one machine and be a merge accident anyway."""
    numbers = [v[:4] for v in versions]
    duplicates = sorted({n for n in numbers if numbers.count(n) > 1})
    if duplicates:
        raise ValueError(f"more than one migration numbered {', '.join(duplicates)}")


async def migrate(database_url: str) -> list[str]:
    """Apply every migration not yet applied, each in its own transaction; return the versions applied."""
    conn = await asyncpg.connect(database_url)
    try:
        # Session-level lock: held across the per-file transactions, released in `finally` (or when the
        # connection drops, so a crashed migrator never leaves it held).
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
        try:
            return await _apply_pending(conn)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
    finally:
        await conn.close()


async def _apply_pending(conn: asyncpg.Connection) -> list[str]:
    await conn.execute(_CREATE_TABLE)
    applied = {row["version"] for row in await conn.fetch("SELECT version FROM schema_migrations")}
    done = []
    for version, sql in available_migrations():
        if version in applied:
            continue
        async with conn.transaction():
            await conn.execute(sql)
            await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
        done.append(version)
    return done
