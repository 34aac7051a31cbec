"""Carriers behind one small interface, and the registry that names them.

A carrier does two things for settlement: it books a parcel (and answers with the tracking number), and it tells
what happened to parcels since (`updates`, polled by `settlement.shipping.poll_carriers`; a carrier that pushes
instead, by webhook, hands the same `TrackingUpdate`s to `settlement.shipping.apply_updates`).

Booking happens inside the database transaction that creates the shipment, so a crash may book twice: `book`
must be idempotent on `ParcelOrder.reference` (real carriers' APIs take such a reference; the manual carrier
derives the number from it).

The built-in `ManualCarrier` is how the whole flow works without any outside service: it books locally, and the
operator records each tracking state by hand (`settlement.shipping.record_tracking`), so it never has updates of
its own to report.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Protocol

import msgspec

from auction.httpkit.bounds import MAX_MS
from settlement.shipping_rules import Purpose, TrackingState


class ParcelOrder(msgspec.Struct, frozen=True):
    """What a carrier is asked to carry: one insured parcel."""

    reference: str  # unique per parcel; booking the same reference again must give the same tracking number
    shipment_id: int
    parcel_no: int
    purpose: Purpose
    party_id: int
    declared_value: int  # minor units
    currency: str
    at_ms: int


class TrackingUpdate(msgspec.Struct, frozen=True):
    """One scan of one parcel, as a carrier reports it."""

    tracking_no: Annotated[str, msgspec.Meta(max_length=200)]
    state: TrackingState
    at_ms: Annotated[int, msgspec.Meta(ge=0, le=MAX_MS)]
    note: Annotated[str, msgspec.Meta(max_length=2_000)] = ""


class Carrier(Protocol):
    """A carrier as settlement sees it."""

    @property
    def name(self) -> str: ...

    async def book(self, order: ParcelOrder) -> str:
        """Book the parcel; its tracking number. Idempotent on `order.reference`."""
        ...

    async def updates(self, tracking_nos: Sequence[str]) -> list[TrackingUpdate]:
        """What happened to these parcels, as far as the carrier knows (repeats are harmless)."""
        ...


class ManualCarrier:
    """The house's own courier, or any carrier whose scans an operator types in: no outside service."""

    name = "manual"

    async def book(self, order: ParcelOrder) -> str:
        return f"MAN-{order.shipment_id}-{order.parcel_no}"

    async def updates(self, tracking_nos: Sequence[str]) -> list[TrackingUpdate]:
        return []  # the operator records every state through settlement.shipping.record_tracking


class UnknownCarrier(KeyError):
    """No carrier is registered under that name."""


_REGISTRY: dict[str, Carrier] = {ManualCarrier.name: ManualCarrier()}


def register(carrier: Carrier) -> None:
    """Make a carrier available by its name (replacing one of the same name)."""
    _REGISTRY[carrier.name] = carrier


def unregister(name: str) -> None:
    if name != ManualCarrier.name:  # the built-in carrier is always there
        _REGISTRY.pop(name, None)


def get(name: str) -> Carrier:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownCarrier(name) from None


def names() -> list[str]:
    return sorted(_REGISTRY)
