"""Shipments against real PostgreSQL: creation (idempotent, split above the parcel cap), tracking through the
transition table, carriers behind the interface, shipping to buyers after payment, and setting removal."""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import asyncpg
import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from auction.gateway.http import errors
from auction.httpkit import document
from settlement import billing, carriers, custody, shipping, shipping_cli, shipping_http
from settlement.carriers import ParcelOrder, TrackingUpdate
from settlement.errors import Missing, ShippingRefused
from settlement.reconcile import reconcile
from settlement.rules import SettlementTerms
from settlement.shipping import create_shipment, shipments_for
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
            with pytest.raises(ShippingRefused) as refused:
                await create_shipment(conn, **{**good, field: value})  # type: ignore[arg-type]
            assert refused.value.field == field and refused.value.code == "invalid"
        with pytest.raises(Missing) as missing:
            await create_shipment(conn, **{**good, "lot_no": 99})  # type: ignore[arg-type]
        assert missing.value.field == "lot"
    assert await shipments_for(pg, sale_id) == []


class FakeCourier:
    """An outside carrier's API, faked (the one place a fake is allowed): it books idempotently by reference
    and reports the scans it was told about."""

    name = "fakecourier"

    def __init__(self) -> None:
        self.booked: dict[str, str] = {}
        self.scans: list[TrackingUpdate] = []

    async def book(self, order: ParcelOrder) -> str:
        return self.booked.setdefault(order.reference, f"FC{len(self.booked) + 1:06d}-{order.shipment_id}")

    async def updates(self, tracking_nos: Sequence[str]) -> list[TrackingUpdate]:
        return [scan for scan in self.scans if scan.tracking_no in tracking_nos]


async def test_an_outside_carrier_behind_the_interface(pg: asyncpg.Pool, new_sale_id: Callable[[], int]) -> None:
    sale_id = new_sale_id()
    await make_sale(pg, sale_id, lots=1)
    courier = FakeCourier()
    carriers.register(courier)
    try:
        async with pg.acquire() as conn:
            shipment_id = await create_shipment(
                conn, purpose="to_lab", sale_id=sale_id, lot_no=1, party_id=3, declared_value=2_000 * USD,
                currency="USD", at_ms=START, idem_key=f"lab-{sale_id}", carrier="fakecourier",
            )  # fmt: skip
        [parcel] = (await shipping.shipment(pg, shipment_id)).parcels
        assert parcel.tracking_no == courier.booked[f"lab-{sale_id}#1"]
        courier.scans = [
            TrackingUpdate(parcel.tracking_no, "in_transit", START + 20),
            TrackingUpdate(parcel.tracking_no, "collected", START + 10),  # out of order: applied in time order
            TrackingUpdate("FC-nobody", "collected", START + 10),
        ]
        result = await shipping.apply_updates(pg, "fakecourier", courier.scans)
        assert result.applied == 2 and result.refused == ["fakecourier FC-nobody: no such parcel"]
        courier.scans.append(TrackingUpdate(parcel.tracking_no, "lost", START + 30))  # illegal from in_transit
        polled = await shipping.poll_carriers(pg)
        assert polled.applied == 0  # the two scans again: recorded once
        assert [r for r in polled.refused if parcel.tracking_no in r] == [
            f"fakecourier {parcel.tracking_no}: a parcel that is in_transit cannot become lost"
        ]
        courier.scans = [TrackingUpdate(parcel.tracking_no, "delivered_signed", START + 40, "signed: J. Lab")]
        assert (await shipping.poll_carriers(pg)).applied == 1
        view = await shipping.shipment(pg, shipment_id)
        assert view.state == "delivered_signed" and view.parcels[0].history[-1].note == "signed: J. Lab"
        assert (view.parcels[0].collected_ms, view.parcels[0].delivered_ms) == (START + 10, START + 40)
    finally:
        carriers.unregister("fakecourier")
    assert "fakecourier" not in carriers.names() and "manual" in carriers.names()


async def test_paid_invoices_are_shipped_to_their_buyers_once(pg: asyncpg.Pool, new_sale_id: Callable[[], int]) -> None:
    sale_id = new_sale_id()
    await make_sale(pg, sale_id, lots=3)
    async with pg.acquire() as conn, conn.transaction():
        for lot, buyer, hammer in [(1, 51, 1_000 * USD), (2, 51, 3_000 * USD), (3, 52, 2_000 * USD)]:
            await billing.bill_lot(conn, sale_id=sale_id, lot_no=lot, buyer_id=buyer, hammer=hammer, at_ms=START,
                                   source="hammer", idem_key=f"lot-sold:{sale_id}:{lot}")  # fmt: skip
    assert await shipping.ship_paid_invoices(pg, START, sale_id=sale_id) == []  # nobody has paid
    inv = await billing.invoice(pg, await billing.invoice_id_for(pg, sale_id, 51))
    await billing.pay(pg, inv.id, inv.outstanding - 1, f"w-{sale_id}-a", START + 1)
    assert await shipping.ship_paid_invoices(pg, START + 2, sale_id=sale_id) == []  # paid in part only
    await billing.pay(pg, inv.id, 1, f"w-{sale_id}-b", START + 3)
    created = await shipping.ship_paid_invoices(pg, START + 4, sale_id=sale_id)
    assert len(created) == 2 and await shipping.ship_paid_invoices(pg, START + 5, sale_id=sale_id) == []
    views = await shipments_for(pg, sale_id)
    assert [(v.lot, v.purpose, v.party, v.declared_value) for v in views] == [
        (1, "to_buyer", 51, 1_000 * USD + 260 * USD),  # hammer + premium
        (2, "to_buyer", 51, 3_000 * USD + 780 * USD),
    ]
    assert await reconcile(pg, sale_id) == []  # no money moved: shipping was charged on the invoice


async def test_setting_removal_needs_consent_and_both_photos(
    pg: asyncpg.Pool, new_sale_id: Callable[[], int], tmp_path: Path
) -> None:
    sale_id = new_sale_id()
    _, consignor = await make_sale(pg, sale_id, lots=1)
    ask = dict(sale_id=sale_id, lot_no=1, declared_value=9_000 * USD, reason="sell it loose", at_ms=START,
               idem_key=f"rm-{sale_id}")  # fmt: skip
    removal = await custody.request_removal(pg, **ask)  # type: ignore[arg-type]
    assert (await custody.request_removal(pg, **ask)).id == removal.id  # type: ignore[arg-type]
    assert removal.consignor == consignor and removal.status == "requested"
    with pytest.raises(ShippingRefused) as no_consent:
        await custody.start_removal(pg, removal.id, START + 1)
    assert no_consent.value.field == "consent"
    with pytest.raises(ShippingRefused) as nobody:
        await custody.record_consent(pg, removal.id, " ", START + 1)
    assert nobody.value.field == "consented_by"
    removal = await custody.record_consent(pg, removal.id, "Ruth Abrams, by email", START + 2)
    assert (removal.status, removal.consented_by, removal.consent_ms) == ("consented", "Ruth Abrams, by email",
                                                                          START + 2)  # fmt: skip
    with pytest.raises(ShippingRefused) as no_before:
        await custody.start_removal(pg, removal.id, START + 3)
    assert no_before.value.field == "photos"
    with pytest.raises(ShippingRefused) as too_soon:
        await custody.add_photo(pg, removal.id, "after", "image/jpeg", START + 3, content=b"\xff\xd8 after")
    assert too_soon.value.field == "stage"
    with pytest.raises(ShippingRefused) as not_image:
        await custody.add_photo(pg, removal.id, "before", "text/plain", START + 3, content=b"hello")
    assert not_image.value.field == "media_type"
    with pytest.raises(ShippingRefused) as unreadable:
        await custody.add_photo(pg, removal.id, "before", "image/jpeg", START + 3, path=str(tmp_path / "none.jpg"))
    assert unreadable.value.field == "path"
    before = b"\xff\xd8 the ring, stone set"
    await custody.add_photo(pg, removal.id, "before", "image/jpeg", START + 4, content=before)
    await custody.start_removal(pg, removal.id, START + 5)
    with pytest.raises(ShippingRefused) as not_before:
        await custody.add_photo(pg, removal.id, "before", "image/jpeg", START + 6, content=b"\xff\xd8 late")
    assert not_before.value.field == "stage"
    with pytest.raises(ShippingRefused) as one_photo:
        await custody.complete_removal(pg, removal.id, START + 6)
    assert one_photo.value.field == "photos"
    await custody.add_photo(pg, removal.id, "after", "image/jpeg", START + 7, content=b"\xff\xd8 loose stone")
    removal = await custody.complete_removal(pg, removal.id, START + 8)
    assert (await custody.complete_removal(pg, removal.id, START + 9)).completed_ms == START + 8  # a retry
    assert removal.status == "completed" and [p.stage for p in removal.photos] == ["before", "after"]
    assert removal.photos[0].sha256 == hashlib.sha256(before).hexdigest() and removal.photos[0].size == len(before)


async def test_operator_routes_are_documented_and_refuse_with_the_field(
    pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    sale_id = new_sale_id()
    _, consignor = await make_sale(pg, sale_id, lots=1)
    app = web.Application(middlewares=[errors])
    table = shipping_http.add_routes(app, pg)
    doc = document(table, "shipping", "test")
    routed = {(r.method, r.resource.canonical) for r in app.router.routes() if r.method != "HEAD"}
    assert routed == {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    async with TestClient(TestServer(app)) as client:
        new = {"purpose": "to_consignor", "sale": sale_id, "lot": 1, "party": consignor,
               "declared_value": 150_000 * USD, "currency": "USD", "idem_key": f"http-{sale_id}"}  # fmt: skip
        made = await client.post("/api/settlement/shipments", json=new)
        assert made.status == 201
        shipment = await made.json()
        assert len(shipment["parcels"]) == 2  # above the default cap of 100,000.00
        bad = await client.post("/api/settlement/shipments", json={**new, "declared_value": "lots"})
        assert bad.status == 400 and (await bad.json())["error"]["field"] == "declared_value"
        zero = await client.post("/api/settlement/shipments", json={**new, "declared_value": 0})
        assert zero.status == 400 and (await zero.json())["error"]["field"] == "declared_value"
        track = f"/api/settlement/shipments/{shipment['id']}/parcels/1/tracking"
        illegal = await client.post(track, json={"state": "delivered_signed"})
        assert illegal.status == 409 and (await illegal.json())["error"] == {
            "code": "refused", "field": "state", "message": "a parcel that is created cannot become delivered_signed",
        }  # fmt: skip
        scanned = await client.post(track, json={"state": "collected", "note": "picked up"})
        assert scanned.status == 200 and (await scanned.json())["parcels"][0]["state"] == "collected"
        nowhere = await client.post(f"/api/settlement/shipments/{shipment['id']}/parcels/9/tracking",
                                    json={"state": "collected"})  # fmt: skip
        assert nowhere.status == 404 and (await nowhere.json())["error"]["field"] == "parcel"
        listed = await client.get(f"/api/settlement/sales/{sale_id}/shipments?lot=1")
        assert [s["id"] for s in await listed.json()] == [shipment["id"]]
        claim = {"kind": "loss", "shipment": shipment["id"], "parcel": 1, "idem_key": f"hc-{sale_id}"}
        early = await client.post("/api/settlement/claims", json=claim)
        assert early.status == 409 and (await early.json())["error"]["field"] == "at_ms"  # not missing yet
        ask = {"sale": sale_id, "lot": 1, "declared_value": 5_000 * USD, "reason": "grade", "idem_key": f"hr-{sale_id}"}
        removal = await client.post("/api/settlement/removals", json=ask)
        removal_id = (await removal.json())["id"]
        refused = await client.post(f"/api/settlement/removals/{removal_id}/start")
        assert refused.status == 409 and (await refused.json())["error"]["field"] == "consent"
        no_stage = await client.post(f"/api/settlement/removals/{removal_id}/photos", data=b"\xff\xd8",
                                     headers={"Content-Type": "image/jpeg"})  # fmt: skip
        assert no_stage.status == 400 and (await no_stage.json())["error"]["field"] == "stage"
        photo = await client.post(f"/api/settlement/removals/{removal_id}/photos?stage=before", data=b"\xff\xd8",
                                  headers={"Content-Type": "image/jpeg"})  # fmt: skip
        assert photo.status == 201 and (await photo.json())["photos"][0]["media_type"] == "image/jpeg"
        unknown = await client.get("/api/settlement/claims/999999999")
        assert unknown.status == 404 and (await unknown.json())["error"]["field"] == "claim"


async def test_operator_commands(
    pg: asyncpg.Pool, new_sale_id: Callable[[], int], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sale_id = new_sale_id()
    _, consignor = await make_sale(pg, sale_id, lots=1)
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    shipping_cli.add_commands(sub)

    async def run(*argv: str) -> tuple[int | None, str, str]:
        args = parser.parse_args(argv)
        code = await shipping_cli.command(pg, args.command, args)
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = await run("ship", "to_consignor", str(sale_id), "1", str(consignor), "500000", "USD",
                             f"cli-{sale_id}", "--now", str(START))  # fmt: skip
    shipment = msgspec.json.decode(out)
    assert code == 0 and shipment["declared_value"] == 500_000 and shipment["parcels"][0]["state"] == "created"
    code, _, err = await run("track", str(shipment["id"]), "1", "lost", "--now", str(START + 1))
    assert code == 1 and "state: a parcel that is created cannot become lost" in err
    code, out, _ = await run("track", str(shipment["id"]), "1", "collected", "--now", str(START + 2))
    assert code == 0 and msgspec.json.decode(out)["state"] == "collected"
    photo = tmp_path / "before.jpg"
    photo.write_bytes(b"\xff\xd8 set")
    code, out, _ = await run("removal-request", str(sale_id), "1", "900000", "grade it", f"cli-rm-{sale_id}")
    removal = msgspec.json.decode(out)["id"]
    code, _, err = await run("removal-start", str(removal))
    assert code == 1 and "consent" in err
    code, out, _ = await run("removal-photo", str(removal), "before", str(photo))
    assert code == 0 and msgspec.json.decode(out)["photos"][0]["media_type"] == "image/jpeg"
    code, _, err = await run("claim-move", "999999999", "approved")
    assert code == 1 and "amount" in err
    assert await shipping_cli.command(pg, "reconcile", parser.parse_args(["claims-check"])) is None
    code, out, _ = await run("claims-check")
    assert code == 0 and msgspec.json.decode(out) == {"clean": True, "problems": []}
