"""The exceptions of the settlement package, one tree (httpx style: foreign errors translated once, at the edge).

SettlementError              anything settlement could not do; callers may catch just this
 +-- NotFound                no such invoice, lot, offer, buyer or consignor
 |    +-- Missing            no such shipment, parcel, removal or claim, naming the identifier's field
 +-- InvalidState            the request doesn't fit where the thing is (pay a defaulted invoice, accept an
 |    |                      expired offer, overpay, resolve a default twice the other way)
 |    +-- ShippingRefused    shipping, custody or claims said no, naming the field; `code` invalid or refused
 |    +-- PostSaleRefused    a rule of the post-sale window said no, naming the field, with a `reason`
 |    |    +-- NotYours      a party acting on another's lot, or on an offer not made to them
 |    +-- IllegalPassedLotMove  a move the passed lot's table (unsold_lifecycle) lacks: a bug, nothing written
 +-- Unbalanced              a posting whose entries don't sum to zero (a bug, refused before writing)
 +-- SettlementUnavailable   Redis or PostgreSQL failed (translated from their errors)

Which errors those are is the store's map (auction.store.FOREIGN_ERRORS), not restated here; the store's own
errors join them, being its translation of the same failures under it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Literal

from auction.store import FOREIGN_ERRORS as STORE_FOREIGN_ERRORS
from auction.store import StoreError
from settlement.shipping_rules import Problem
from settlement.unsold_rules import Refusal


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


class Missing(NotFound):
    """No such shipment, parcel, lot, removal or claim; `field` names the identifier."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


RefusalCode = Literal["invalid", "refused"]


class ShippingRefused(InvalidState):
    """Shipping, custody or claims said no. `field` names the input at fault; `code` is "invalid" for a
    malformed input and "refused" for a well-formed request that the rules or the thing's state refuse."""

    def __init__(self, field: str | None, message: str, code: RefusalCode = "refused") -> None:
        super().__init__(message)
        self.field = field
        self.code: RefusalCode = code

    @classmethod
    def of(cls, problem: Problem) -> ShippingRefused:
        return cls(problem.field, problem.message)


class PostSaleRefused(InvalidState):
    """A rule of the post-sale window said no. `field` names the input at fault, `reason` says why."""

    def __init__(self, field: str, reason: Refusal, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.reason = reason


class NotYours(PostSaleRefused):
    """The caller is a party, but not this lot's consignor or this offer's buyer."""


class IllegalPassedLotMove(InvalidState):
    """A passed lot moved by an event its table (settlement.unsold_lifecycle) has no move for, from its status:
    a bug, since every caller checks the lot's status first. Raised before anything is written."""


# The store's errors are its own translation of Redis and PostgreSQL failing under it; settlement treats them alike.
FOREIGN_ERRORS: tuple[type[BaseException], ...] = (*STORE_FOREIGN_ERRORS, StoreError)


@contextlib.contextmanager
def translate_errors(doing: str) -> Iterator[None]:
    try:
        yield
    except FOREIGN_ERRORS as exc:
        raise SettlementUnavailable(f"{doing}: {type(exc).__name__}: {exc}") from exc
