"""Shipments against real PostgreSQL: creation (idempotent, split above the parcel cap), tracking through the
transition table, carriers behind the interface, shipping to buyers after payment, and setting removal."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
import pytest

from settlement.rules import SettlementTerms
from settlement.shipping import Missing, Refused, create_shipment, shipments_for
from tests.settlement.helpers import START, USD, make_sale


async def test_create_shipment_is_idempotent_and_splits_above_the_cap(
    pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    sale_id = new_sale_id()
    _, consignor = await make_sale(pg, sale_id, lots=2)
    terms = SettlementTerms(parcel_cap=100_000 * USD)
    async with pg.acquire() as conn:
        first = await create_shipment(
            conn, purpose="to_consignor", sale_id=sale_id, lot_no=1, party_id=consignor,
            declared_value=250_000 * USD + 1, currency="USD", at_ms=START, idem_key=f"ret-{sale_id}-1", terms=terms,
        )  # fmt: skip
        again = await create_shipment(
            conn, purpose="to_consignor", sale_id=sale_id, lot_no=1, party_id=consignor,
            declared_value=250_000 * USD + 1, currency="USD", at_ms=START + 5, idem_key=f"ret-{sale_id}-1",
        )  # fmt: skip
    assert again == first
    [view] = await shipments_for(pg, sale_id)
    assert view.id == first and view.state == "created" and view.party == consignor
    assert [p.declared_value for p in view.parcels] == [8_333_334, 8_333_334, 8_333_333]
    assert sum(p.declared_value for p in view.parcels) == view.declared_value
    assert len({p.tracking_no for p in view.parcels}) == 3
    assert all([(e.state, e.at_ms) for e in p.history] == [("created", START)] for p in view.parcels)
    assert await shipments_for(pg, sale_id, lot_no=2) == []


async def test_create_shipment_refuses_bad_input_naming_the_field(
    pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    sale_id = new_sale_id()
    await make_sale(pg, sale_id, lots=1)
    good = dict(purpose="to_lab", sale_id=sale_id, lot_no=1, party_id=7, declared_value=1_000 * USD,
                currency="USD", at_ms=START, idem_key=f"lab-{sale_id}")  # fmt: skip
    cases = [("declared_value", 0), ("declared_value", -5), ("currency", "usd"), ("purpose", "to_moon"),
             ("carrier", "pigeon"), ("idem_key", "")]  # fmt: skip
    async with pg.acquire() as conn:
        for field, value in cases:
            with pytest.raises(Refused) as refused:
                await create_shipment(conn, **{**good, field: value})  # type: ignore[arg-type]
            assert refused.value.field == field and refused.value.code == "invalid"
        with pytest.raises(Missing) as missing:
            await create_shipment(conn, **{**good, "lot_no": 99})  # type: ignore[arg-type]
        assert missing.value.field == "lot"
    assert await shipments_for(pg, sale_id) == []
