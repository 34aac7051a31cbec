"""The exceptions of the settlement package, one tree (httpx style: foreign errors translated once, at the edge).

SettlementError              anything settlement could not do; callers may catch just this
 +-- NotFound                no such invoice, lot, offer, buyer or consignor
 +-- InvalidState            the request doesn't fit where the thing is (pay a defaulted invoice, accept an
 |                           expired offer, overpay, resolve a default twice the other way)
 +-- Unbalanced              a posting whose entries don't sum to zero (a bug, refused before writing)
 +-- SettlementUnavailable   Redis or PostgreSQL failed (translated from their errors)

Which errors those are is the store's map (auction.store.FOREIGN_ERRORS), not restated here; the store's own
errors join them, being its translation of the same failures under it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from auction.store import FOREIGN_ERRORS as STORE_FOREIGN_ERRORS
from auction.store import StoreError


class SettlementError(Exception):
    """Base of every error settlement raises."""


class NotFound(SettlementError):
    pass


class InvalidState(SettlementError):
    pass


class Unbalanced(SettlementError):
    pass


class SettlementUnavailable(SettlementError):
    pass


# The store's errors are its own translation of Redis and PostgreSQL failing under it; settlement treats them alike.
FOREIGN_ERRORS: tuple[type[BaseException], ...] = (*STORE_FOREIGN_ERRORS, StoreError)


@contextlib.contextmanager
def translate_errors(doing: str) -> Iterator[None]:
    try:
        yield
    except FOREIGN_ERRORS as exc:
        raise SettlementUnavailable(f"{doing}: {type(exc).__name__}: {exc}") from exc
