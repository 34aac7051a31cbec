"""The store's exceptions, one tree, and the one place where Redis's and PostgreSQL's errors are translated.

    StoreError                  anything the store could not do; callers may catch just this
     +-- LotNotFound            the command or read names a lot that was never created
     +-- StoreUnavailable       Redis or PostgreSQL failed or is unreachable, or a sale's owner did not answer
     +-- StoreClosed            a command after close()
     +-- EventsTrimmed          a lot's stream no longer holds the events asked for (the janitor trimmed them)

Rejections by the rules (too low, too late, busy, ...) are outcomes, never exceptions. The persister, the
scheduler and the streams follower raise the same tree, and settlement translates with the same map.
`FOREIGN_ERRORS` is that map: Redis's part is the adapter's (auction.redis_adapter.REDIS_ERRORS), PostgreSQL's
is here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import asyncpg

from auction.redis_adapter import REDIS_ERRORS


class StoreError(Exception):
    """Base of every error the store raises."""


class LotNotFound(StoreError):
    """A command or read named a lot that was never created."""


class StoreUnavailable(StoreError):
    """Redis or PostgreSQL failed. For a command the outcome is unknown: resend it with the same client id."""


class StoreClosed(StoreError):
    """The store was closed; it takes no more commands."""


class EventsTrimmed(StoreError):
    """A lot's stream in Redis no longer starts right after the seq asked for: the janitor trimmed older events
    (only ever ones the record in PostgreSQL has). `first_seq` is the oldest the stream still holds (0: none)."""

    def __init__(self, sale: int, lot: int, after_seq: int, first_seq: int) -> None:
        super().__init__(f"sale {sale} lot {lot}: events after {after_seq} start at {first_seq} in Redis")
        self.first_seq = first_seq


# How PostgreSQL failing reaches us through asyncpg: the server's errors, the driver's own (a connection lost or
# closed), and the socket's (refused, reset, timed out), which asyncpg lets through.
POSTGRES_ERRORS: tuple[type[Exception], ...] = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)

# Foreign exceptions, translated once at the edge (httpx style): Redis's map is the adapter's, PostgreSQL's is above.
FOREIGN_ERRORS: tuple[type[BaseException], ...] = (*REDIS_ERRORS, *POSTGRES_ERRORS)


@contextlib.contextmanager
def translate_errors(doing: str) -> Iterator[None]:
    """Redis or PostgreSQL failing inside the block raises StoreUnavailable, saying what was being done."""
    try:
        yield
    except FOREIGN_ERRORS as exc:
        raise StoreUnavailable(f"{doing}: {type(exc).__name__}: {exc}") from exc
