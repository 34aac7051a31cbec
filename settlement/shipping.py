"""Shipments and their parcels' tracking: the database half of settlement/shipping_rules.py.

Every movement of a stone is a shipment (to its buyer after payment, back to its consignor, to or from a lab) of
one or more insured parcels: a declared value above the per-parcel cap (`SettlementTerms.parcel_cap`) is split,
and each parcel is booked with the carrier on its own, with its own tracking number and history. Each function
is one transaction, keyed so that running it again changes nothing: `create_shipment` by its `idem_key`, a
tracking update by (parcel, state, time), the buyers' sweep by the invoice line it ships.

Refusals are `errors.ShippingRefused` (a rule says no, or an input is malformed) and `errors.Missing` (no such
thing), both naming the field at fault, for the HTTP and CLI edges to pass on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import get_args

import asyncpg
import msgspec

from settlement import billing, carriers
from settlement.carriers import ParcelOrder, TrackingUpdate
from settlement.errors import Missing, ShippingRefused
from settlement.rules import SettlementTerms
from settlement.shipping_rules import (
    TRACKING_FINAL,
    Purpose,
    TrackingState,
    buyer_declared_value,
    coverage,
    insured_at,
    parcel_values,
    scheduled_delivery,
    shipment_state,
    tracking_problem,
)

_CURRENCY = re.compile(r"^[A-Z]{3}$")


# ---- creating a shipment ------------------------------------------------------------------------------------


def _check_order(purpose: str, declared_value: int, currency: str, idem_key: str) -> None:
    if purpose not in get_args(Purpose):
        raise ShippingRefused("purpose", f"purpose must be one of {', '.join(get_args(Purpose))}", "invalid")
    if type(declared_value) is not int or declared_value <= 0:
        raise ShippingRefused(
            "declared_value", "the declared value must be a positive whole number of minor units", "invalid"
        )
    if not _CURRENCY.match(currency):
        raise ShippingRefused("currency", "the currency must be an ISO 4217 code such as USD", "invalid")
    if not idem_key:
        raise ShippingRefused("idem_key", "an idempotency key is required", "invalid")


def _carrier(name: str) -> carriers.Carrier:
    try:
        return carriers.get(name)
    except carriers.UnknownCarrier:
        raise ShippingRefused(
            "carrier", f"no carrier {name!r}; known: {', '.join(carriers.names())}", "invalid"
        ) from None


async def create_shipment(
    conn: asyncpg.Connection,
    *,
    purpose: Purpose,
    sale_id: int,
    lot_no: int,
    party_id: int,
    declared_value: int,
    currency: str,
    at_ms: int,
    idem_key: str,
    carrier: str = "manual",
    terms: SettlementTerms | None = None,
) -> int:
    """Create an insured shipment of a lot's stone and book its parcels; the shipment id.

    `party_id` is the buyer company (to_buyer), the consignor (to_consignor) or the lab (to_lab, from_lab).
    Runs in the caller's transaction (a savepoint of it). The same `idem_key` twice returns the first shipment's
    id and creates nothing new. The scheduled delivery is `terms.transit_days` after `at_ms`.
    """
    _check_order(purpose, declared_value, currency, idem_key)
    chosen = _carrier(carrier)
    async with conn.transaction():
        existing: int | None = await conn.fetchval("SELECT id FROM shipments WHERE idem_key = $1", idem_key)
        if existing is not None:
            return existing
        if not await conn.fetchval("SELECT 1 FROM lots WHERE sale_id = $1 AND lot_no = $2", sale_id, lot_no):
            raise Missing("lot", f"sale {sale_id} has no lot {lot_no}")
        terms = terms or await billing.load_terms(conn, sale_id)
        shipment_id: int | None = await conn.fetchval(
            "INSERT INTO shipments (idem_key, purpose, sale_id, lot_no, party_id, carrier, declared_value, currency, "
            "created_ms, scheduled_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
            "ON CONFLICT (idem_key) DO NOTHING RETURNING id",
            idem_key, purpose, sale_id, lot_no, party_id, carrier, declared_value, currency, at_ms,
            scheduled_delivery(at_ms, terms),
        )  # fmt: skip
        if shipment_id is None:  # a concurrent call with the same key committed first
            first: int = await conn.fetchval("SELECT id FROM shipments WHERE idem_key = $1", idem_key)
            return first
        for parcel_no, value in enumerate(parcel_values(declared_value, terms.parcel_cap), start=1):
            order = ParcelOrder(f"{idem_key}#{parcel_no}", shipment_id, parcel_no, purpose, party_id, value,
                                currency, at_ms)  # fmt: skip
            tracking_no = await chosen.book(order)
            parcel_id = await conn.fetchval(
                "INSERT INTO parcels (shipment_id, parcel_no, declared_value, carrier, tracking_no) "
                "VALUES ($1, $2, $3, $4, $5) RETURNING id",
                shipment_id, parcel_no, value, carrier, tracking_no,
            )  # fmt: skip
            await _event(conn, parcel_id, "created", at_ms, f"booked with {carrier}")
    return shipment_id


async def _event(conn: asyncpg.Connection, parcel_id: int, state: TrackingState, at_ms: int, note: str) -> None:
    await conn.execute(
        "INSERT INTO parcel_events (parcel_id, state, at_ms, note) VALUES ($1, $2, $3, $4)",
        parcel_id,
        state,
        at_ms,
        note,
    )
    await conn.execute("UPDATE parcels SET state = $2 WHERE id = $1", parcel_id, state)


# ---- reading shipments --------------------------------------------------------------------------------------


class TrackingEvent(msgspec.Struct, frozen=True):
    state: TrackingState
    at_ms: int
    note: str


class ParcelView(msgspec.Struct, frozen=True):
    no: int
    tracking_no: str
    declared_value: int
    state: TrackingState
    collected_ms: int | None  # insured from here ...
    delivered_ms: int | None  # ... to here
    history: list[TrackingEvent]


class ShipmentView(msgspec.Struct, frozen=True):
    id: int
    purpose: Purpose
    sale: int
    lot: int
    party: int
    carrier: str
    declared_value: int
    currency: str
    created_ms: int
    scheduled_ms: int  # the scheduled delivery
    state: TrackingState  # its least advanced parcel's (a lost or troubled parcel marks it)
    parcels: list[ParcelView]

    def insured_at(self, at_ms: int) -> int:
        """The value insured in transit at `at_ms`: the parcels between their first scan and signed delivery."""
        return sum(
            p.declared_value for p in self.parcels if insured_at(coverage([(e.state, e.at_ms) for e in p.history]),
                                                                 at_ms)
        )  # fmt: skip


async def _views(pg: asyncpg.Pool | asyncpg.Connection, rows: Sequence[asyncpg.Record]) -> list[ShipmentView]:
    ids = [r["id"] for r in rows]
    parcels: dict[int, list[ParcelView]] = {i: [] for i in ids}
    events: dict[int, list[TrackingEvent]] = {}
    for e in await pg.fetch(
        "SELECT e.parcel_id, e.state, e.at_ms, e.note FROM parcel_events e JOIN parcels p ON p.id = e.parcel_id "
        "WHERE p.shipment_id = any($1::bigint[]) ORDER BY e.at_ms, e.id",
        ids,
    ):
        events.setdefault(e["parcel_id"], []).append(TrackingEvent(e["state"], e["at_ms"], e["note"]))
    for p in await pg.fetch(
        "SELECT * FROM parcels WHERE shipment_id = any($1::bigint[]) ORDER BY shipment_id, parcel_no", ids
    ):
        history = events.get(p["id"], [])
        cover = coverage([(e.state, e.at_ms) for e in history])
        parcels[p["shipment_id"]].append(
            ParcelView(p["parcel_no"], p["tracking_no"], p["declared_value"], p["state"], cover.collected_ms,
                       cover.delivered_ms, history)
        )  # fmt: skip
    return [
        ShipmentView(r["id"], r["purpose"], r["sale_id"], r["lot_no"], r["party_id"], r["carrier"],
                     r["declared_value"], r["currency"].strip(), r["created_ms"], r["scheduled_ms"],
                     shipment_state({p.state for p in parcels[r["id"]]}), parcels[r["id"]])
        for r in rows
    ]  # fmt: skip


async def shipments_for(pg: asyncpg.Pool | asyncpg.Connection, sale_id: int, lot_no: int | None = None
                        ) -> list[ShipmentView]:  # fmt: skip
    """Every shipment of a sale (or of one lot of it), oldest first, with each parcel's tracking history."""
    rows = await pg.fetch(
        "SELECT * FROM shipments WHERE sale_id = $1 AND ($2::int IS NULL OR lot_no = $2) ORDER BY id",
        sale_id,
        lot_no,
    )
    return await _views(pg, rows)


async def shipments_of(pg: asyncpg.Pool | asyncpg.Connection, purpose: Purpose, party_id: int) -> list[ShipmentView]:
    """Every shipment to one party, newest first: a buyer company's purchases (`to_buyer`), or a consignor's
    stones coming back to them (`to_consignor`), with each parcel's tracking history."""
    rows = await pg.fetch(
        "SELECT * FROM shipments WHERE purpose = $1 AND party_id = $2 ORDER BY id DESC LIMIT 1000", purpose, party_id
    )
    return await _views(pg, rows)


async def shipment(pg: asyncpg.Pool | asyncpg.Connection, shipment_id: int) -> ShipmentView:
    rows = await pg.fetch("SELECT * FROM shipments WHERE id = $1", shipment_id)
    if not rows:
        raise Missing("shipment", f"no shipment {shipment_id}")
    return (await _views(pg, rows))[0]


# ---- tracking -----------------------------------------------------------------------------------------------


async def _apply(conn: asyncpg.Connection, parcel: asyncpg.Record, state: TrackingState, at_ms: int,
                 note: str) -> bool:  # fmt: skip
    """Record one tracking state of a locked parcel; False if that very update was recorded before."""
    if state not in get_args(TrackingState):
        raise ShippingRefused("state", f"state must be one of {', '.join(get_args(TrackingState))}", "invalid")
    if await conn.fetchval(
        "SELECT 1 FROM parcel_events WHERE parcel_id = $1 AND state = $2 AND at_ms = $3", parcel["id"], state, at_ms
    ):
        return False
    last_at = await conn.fetchval("SELECT max(at_ms) FROM parcel_events WHERE parcel_id = $1", parcel["id"])
    problem = tracking_problem(parcel["state"], state, last_at, at_ms)
    if problem is not None:
        raise ShippingRefused.of(problem)
    await _event(conn, parcel["id"], state, at_ms, note)
    return True


async def record_tracking(
    pg: asyncpg.Pool, shipment_id: int, parcel_no: int, state: TrackingState, at_ms: int, note: str = ""
) -> ShipmentView:
    """An operator records a parcel's tracking state (the manual carrier's whole interface). Repeating the
    same update is harmless; an illegal transition is refused naming `state`."""
    async with pg.acquire() as conn, conn.transaction():
        parcel = await conn.fetchrow(
            "SELECT * FROM parcels WHERE shipment_id = $1 AND parcel_no = $2 FOR UPDATE", shipment_id, parcel_no
        )
        if parcel is None:
            raise Missing("parcel", f"shipment {shipment_id} has no parcel {parcel_no}")
        await _apply(conn, parcel, state, at_ms, note)
        return await shipment(conn, shipment_id)


class TrackingApplied(msgspec.Struct, frozen=True):
    applied: int
    refused: list[str]  # updates the table refused or for parcels nobody knows, as sentences


async def apply_updates(pg: asyncpg.Pool, carrier: str, updates: Sequence[TrackingUpdate]) -> TrackingApplied:
    """A carrier's updates (polled, or pushed to us): each applied in its own transaction, in time order.
    A carrier's scan that doesn't fit is reported, not raised: one bad scan must not hold back the others."""
    applied, refused = 0, list[str]()
    for update in sorted(updates, key=lambda u: u.at_ms):
        async with pg.acquire() as conn, conn.transaction():
            parcel = await conn.fetchrow(
                "SELECT * FROM parcels WHERE carrier = $1 AND tracking_no = $2 FOR UPDATE", carrier, update.tracking_no
            )
            if parcel is None:
                refused.append(f"{carrier} {update.tracking_no}: no such parcel")
                continue
            try:
                applied += await _apply(conn, parcel, update.state, update.at_ms, update.note)
            except ShippingRefused as exc:
                refused.append(f"{carrier} {update.tracking_no}: {exc}")
    return TrackingApplied(applied, refused)


async def poll_carriers(pg: asyncpg.Pool) -> TrackingApplied:
    """Ask every registered carrier about its parcels still on their way, and apply what it says."""
    applied, refused = 0, list[str]()
    for name in carriers.names():
        rows = await pg.fetch(
            "SELECT tracking_no FROM parcels WHERE carrier = $1 AND NOT (state = any($2::text[])) ORDER BY id",
            name,
            sorted(TRACKING_FINAL),
        )
        if not rows:
            continue
        result = await apply_updates(pg, name, await carriers.get(name).updates([r["tracking_no"] for r in rows]))
        applied, refused = applied + result.applied, refused + result.refused
    return TrackingApplied(applied, refused)


# ---- shipping to buyers after payment -----------------------------------------------------------------------


async def ship_paid_invoices(
    pg: asyncpg.Pool, now_ms: int, sale_id: int | None = None, carrier: str = "manual"
) -> list[int]:
    """One shipment to the buyer per active line of every invoice paid in full (of one sale, or all), not yet
    shipped; the new shipment ids. Declared at hammer + premium (shipping_rules.buyer_declared_value). No charge:
    shipping and insurance are already on the invoice. Idempotent: the line is the key (`ship-line:<line id>`)."""
    rows = await pg.fetch(
        "SELECT l.id, l.sale_id, l.lot_no, l.hammer, l.premium, i.buyer_id, i.currency FROM invoice_lines l "
        "JOIN invoices i ON i.id = l.invoice_id WHERE i.status = 'paid' AND l.status = 'active' "
        "AND ($1::bigint IS NULL OR l.sale_id = $1) "
        "AND NOT EXISTS (SELECT 1 FROM shipments s WHERE s.idem_key = 'ship-line:' || l.id) ORDER BY l.id",
        sale_id,
    )
    created = []
    for r in rows:
        async with pg.acquire() as conn, conn.transaction():
            created.append(
                await create_shipment(
                    conn,
                    purpose="to_buyer",
                    sale_id=r["sale_id"],
                    lot_no=r["lot_no"],
                    party_id=r["buyer_id"],
                    declared_value=buyer_declared_value(r["hammer"], r["premium"]),
                    currency=r["currency"].strip(),
                    at_ms=now_ms,
                    idem_key=f"ship-line:{r['id']}",
                    carrier=carrier,
                )
            )
    return created
