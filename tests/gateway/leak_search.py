"""Searching everything the house keeps or says for a secret, in every encoding the code uses.

A secret number is looked for as decimal text (JSON writes integers so), hex, its 8-byte little- and big-endian
forms, its msgpack encoding (msgspec's, which the store writes state and answers in), and each of those in hex
and in base64 (standard and URL-safe, at each of the three alignments a value can have inside a longer base64
text). Secret bytes (a key) and text (a salt, a share) likewise. Where: every Redis key of every type, every row
of every PostgreSQL table as text (bytea as hex), captured log lines, and answers given.
"""

from __future__ import annotations

import base64
import logging
import struct
from collections.abc import Iterable, Iterator

import asyncpg
import msgspec
from redis.asyncio import Redis


def _b64_needles(data: bytes) -> Iterator[bytes]:
    """What `data` looks like inside any base64 text that contains it, at each alignment: the characters that
    depend on `data` alone."""
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + data)
        start, end = -(-8 * offset // 6), 8 * (offset + len(data)) // 6
        needle = encoded[start:end]
        if len(needle) >= 6:
            yield needle
            yield needle.replace(b"+", b"-").replace(b"/", b"_")


def needles(secret: int | bytes | str) -> dict[str, bytes]:
    """name -> the bytes to look for."""
    raw: dict[str, bytes]
    if isinstance(secret, int):
        raw = {"decimal": str(secret).encode(), "le8": struct.pack("<Q", secret), "be8": struct.pack(">Q", secret),
               "msgpack": msgspec.msgpack.encode(secret)}  # fmt: skip
        found = {"hex": format(secret, "x").encode(), "HEX": format(secret, "X").encode()}
    else:
        raw = {"raw": secret.encode() if isinstance(secret, str) else secret}
        found = {}
    for name, data in raw.items():
        found[name] = data
        found[f"hex({name})"] = data.hex().encode()
        for index, needle in enumerate(_b64_needles(data)):
            found[f"base64({name})#{index}"] = needle
    return found


def hits(blobs: Iterable[tuple[str, bytes]], secrets: dict[str, int | bytes | str]) -> list[str]:
    """Every (secret, encoding, where) found, as text."""
    wanted = {(name, encoding): needle for name, secret in secrets.items()
              for encoding, needle in needles(secret).items()}  # fmt: skip
    found = []
    for where, blob in blobs:
        for (name, encoding), needle in wanted.items():
            if needle in blob:
                found.append(f"{name} as {encoding} in {where}")
    return found


async def redis_blobs(redis: Redis) -> list[tuple[str, bytes]]:
    """Every key of the database and everything in it, by type (DUMP would compress large values)."""
    blobs: list[tuple[str, bytes]] = []
    async for key in redis.scan_iter(count=1_000):
        kind = (await redis.type(key)).decode()
        name = f"redis {key.decode(errors='replace')} ({kind})"
        parts: list[bytes] = [key]
        if kind == "string":
            parts.append(await redis.get(key) or b"")
        elif kind == "hash":
            for field, value in (await redis.hgetall(key)).items():
                parts += [field, value]
        elif kind == "list":
            parts += await redis.lrange(key, 0, -1)
        elif kind == "set":
            parts += list(await redis.smembers(key))
        elif kind == "zset":
            for member, score in await redis.zrange(key, 0, -1, withscores=True):
                parts += [member, repr(score).encode()]
        elif kind == "stream":
            for entry_id, fields in await redis.xrange(key):
                parts.append(entry_id)
                for field, value in fields.items():
                    parts += [field, value]
        blobs.append((name, b"\n".join(parts)))
    return blobs


async def postgres_blobs(pg: asyncpg.Pool) -> list[tuple[str, bytes]]:
    """Every row of every table in the schema, as PostgreSQL writes a row as text."""
    tables = await pg.fetch("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
                            "AND table_type = 'BASE TABLE' ORDER BY table_name")  # fmt: skip
    blobs = []
    for row in tables:
        name = row["table_name"]
        rows = await pg.fetch(f'SELECT t::text AS row FROM "{name}" t')  # the names come from the catalog
        blobs.append((f"postgres {name}", "\n".join(r["row"] for r in rows).encode()))
    return blobs


class Captured(logging.Handler):
    """Every log record of every logger, formatted with its traceback, while installed."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def blobs(self) -> list[tuple[str, bytes]]:
        return [(f"log line {i}", line.encode()) for i, line in enumerate(self.lines)]
