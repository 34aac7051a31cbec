"""PostgreSQL's answers, cached briefly, and the last of them standing in while PostgreSQL can't be reached.

Bidding needs only Redis once the gateway knows who is calling and their paddle, so an outage of PostgreSQL
must not stop it: every lookup there (identities.Identities, desk.Quotes) goes through `ask_pg`, which keeps
the last answer PostgreSQL gave and, when PostgreSQL can't be reached, answers from it for as long as the
outage lasts (each lookup says whether its last answer may stand in). What can't be answered that way raises
DatabaseUnavailable, and the edge answers it `unavailable` (HTTP 503): never `internal`, never a close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Generic, TypeVar

import asyncpg

log = logging.getLogger(__name__)

CACHE_ENTRIES = 100_000
PG_LOOKUP_TIMEOUT_S = 2.0  # a lookup slower than this counts as PostgreSQL unreachable (a black-holed network)
OUTAGE_RECHECK_S = 1.0  # while PostgreSQL is unreachable, a last answer is reused this long before asking again

K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """A small in-process cache: entries expire, and it is emptied when it grows past `entries`."""

    def __init__(self, entries: int = CACHE_ENTRIES) -> None:
        self._items: dict[K, tuple[float, V]] = {}
        self._entries = entries

    def get(self, key: K) -> tuple[bool, V | None]:
        hit = self._items.get(key)
        if hit is None or hit[0] < time.monotonic():
            return False, None
        return True, hit[1]

    def entry(self, key: K) -> tuple[float, V] | None:
        """(expiry on the monotonic clock, value), expired or not: an entry stays until it is replaced or the
        cache is emptied, so an expired one is still the last answer given, for when none can be had."""
        return self._items.get(key)

    def put(self, key: K, value: V, ttl_s: float) -> None:
        if len(self._items) >= self._entries:
            self._items.clear()  # crude, and enough: a miss only costs one query
        self._items[key] = (time.monotonic() + ttl_s, value)

    def clear(self) -> None:
        self._items.clear()

    def discard_if(self, stale: Callable[[V], bool]) -> None:
        """Drop every entry whose value `stale` picks (a scan: for rare events, such as a token revoked)."""
        for key in [key for key, (_, value) in self._items.items() if stale(value)]:
            del self._items[key]


class DatabaseUnavailable(Exception):
    """PostgreSQL could not be reached and no earlier answer stands in: what needed it was not done. The edge
    answers it `unavailable` (HTTP 503), never `internal`."""


# PostgreSQL unreachable, as asyncpg reports it: the socket refused, reset, missing or timed out (OSError, which
# TimeoutError is), a connection that is closed or lost (InterfaceError; class 08, PostgresConnectionError), the
# server shutting down or starting up (class 57). A query PostgreSQL answered with an error of another kind is a
# fault of ours, not an outage, and stays `internal`.
PG_UNREACHABLE: tuple[type[Exception], ...] = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
)


# What the edge answers `unavailable` for PostgreSQL: translated already, or straight from asyncpg.
PG_OUT_OF_REACH: tuple[type[Exception], ...] = (DatabaseUnavailable, *PG_UNREACHABLE)


@contextlib.contextmanager
def pg_unreachable_as_unavailable(doing: str) -> Iterator[None]:
    try:
        yield
    except PG_UNREACHABLE as exc:
        raise DatabaseUnavailable(f"{doing}: PostgreSQL unreachable: {type(exc).__name__}: {exc}") from exc


async def ask_pg(
    cache: TtlCache[K, V],
    key: K,
    lookup: Callable[[], Awaitable[V]],
    ttl_s: Callable[[V], float],
    doing: str,
    stands_in: Callable[[V], bool] = lambda _answer: True,
) -> V:
    """PostgreSQL's answer for `key`, cached for ttl_s(answer). When PostgreSQL can't be reached, the last
    answer it gave for `key` however old, if `stands_in` says it may, reused for OUTAGE_RECHECK_S before asking
    again; else DatabaseUnavailable."""
    entry = cache.entry(key)
    if entry is not None and entry[0] >= time.monotonic():
        return entry[1]
    try:
        with pg_unreachable_as_unavailable(doing):
            answer = await asyncio.wait_for(lookup(), PG_LOOKUP_TIMEOUT_S)
    except DatabaseUnavailable:
        entry = cache.entry(key)
        if entry is None or not stands_in(entry[1]):
            raise
        log.debug("%s: PostgreSQL unreachable, answering from its last answer", doing, exc_info=True)
        cache.put(key, entry[1], OUTAGE_RECHECK_S)
        return entry[1]
    cache.put(key, answer, ttl_s(answer))
    return answer
