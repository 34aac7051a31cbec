"""Insurance claims against real PostgreSQL, from the shipment to the ledger: a paid claim on a lost parcel, a
damage claim against custody, a theft claim without its police report, and the reconcile check."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest

from settlement import billing, claims, custody, ledger, shipping
from settlement.claims import claim_problems
from settlement.errors import ShippingRefused
from settlement.reconcile import reconcile
from settlement.rules import DAY_MS, SettlementTerms
from tests.settlement.helpers import START, USD, make_sale

PDF = b"%PDF-1.4 invoice for the stone"
JPEG = b"\xff\xd8\xff\xe0 a photo of the stone"


async def _paid_lot(pg: asyncpg.Pool, sale_id: int, buyer: int, hammer: int) -> int:
    """Lot 1 sold to `buyer` at `hammer` and paid in full; returns the consignor."""
    _, consignor = await make_sale(pg, sale_id, lots=1)
    async with pg.acquire() as conn, conn.transaction():
        await billing.bill_lot(conn, sale_id=sale_id, lot_no=1, buyer_id=buyer, hammer=hammer, at_ms=START,
                               source="hammer", idem_key=f"lot-sold:{sale_id}:1")  # fmt: skip
    invoice_id = await billing.invoice_id_for(pg, sale_id, buyer)
    owed = (await billing.invoice(pg, invoice_id)).outstanding
    paid = await billing.pay(pg, invoice_id, owed, f"wire-{sale_id}", START + DAY_MS)
    assert paid.status == "paid"
    return consignor


async def _txn(pg: asyncpg.Pool, key: str) -> int:
    txn_id: int = await pg.fetchval("SELECT id FROM ledger_transactions WHERE idem_key = $1", key)
    return txn_id


async def test_a_paid_claim_on_a_lost_parcel(pg: asyncpg.Pool, new_sale_id: Callable[[], int]) -> None:
    sale_id, buyer = new_sale_id(), 4101
    await _paid_lot(pg, sale_id, buyer, 10_000 * USD)  # + 2,600 premium: declared 12,600
    await billing.set_terms(pg, sale_id, SettlementTerms(parcel_cap=8_000 * USD))  # so two parcels of 6,300

    # the paid invoice is shipped to its buyer, once, in two insured parcels
    t0 = START + 2 * DAY_MS
    [shipment_id] = await shipping.ship_paid_invoices(pg, t0, sale_id=sale_id)
    assert await shipping.ship_paid_invoices(pg, t0 + 1, sale_id=sale_id) == []
    view = await shipping.shipment(pg, shipment_id)
    assert (view.purpose, view.party, view.declared_value) == ("to_buyer", buyer, 12_600 * USD)
    assert [p.declared_value for p in view.parcels] == [6_300 * USD, 6_300 * USD]
    assert view.scheduled_ms == t0 + 3 * DAY_MS

    # parcel 1 arrives; parcel 2 is collected, goes into transit, then the carrier reports it missing, lost
    for state, at in [("collected", t0 + 1_000), ("in_transit", t0 + 2_000), ("delivered_signed", t0 + DAY_MS)]:
        await shipping.record_tracking(pg, shipment_id, 1, state, at)  # type: ignore[arg-type]
    for state, at in [("collected", t0 + 1_000), ("in_transit", t0 + 2_000), ("exception", t0 + 4 * DAY_MS),
                      ("lost", t0 + 10 * DAY_MS)]:  # fmt: skip
        view = await shipping.record_tracking(pg, shipment_id, 2, state, at)  # type: ignore[arg-type]
    again = await shipping.record_tracking(pg, shipment_id, 2, "lost", t0 + 10 * DAY_MS)  # a repeat: no new row
    assert len(again.parcels[1].history) == 5 and again.state == "lost"
    with pytest.raises(ShippingRefused) as illegal:
        await shipping.record_tracking(pg, shipment_id, 1, "in_transit", t0 + 2 * DAY_MS)
    assert illegal.value.field == "state"
    assert [e.state for e in view.parcels[1].history] == ["created", "collected", "in_transit", "exception", "lost"]
    assert view.insured_at(t0 + 500) == 0  # nothing is insured before the first scan
    assert view.insured_at(t0 + 1_000) == 12_600 * USD
    assert view.insured_at(t0 + 2 * DAY_MS) == 6_300 * USD  # parcel 1's cover ended at its signed delivery

    # a missing parcel may be claimed from 15 days after its scheduled delivery, up to 45 days
    due = view.scheduled_ms
    lost = {"kind": "loss", "shipment_id": shipment_id, "parcel_no": 2, "description": "parcel 2 never arrived"}
    for at in (due + 15 * DAY_MS - 1, due + 45 * DAY_MS + 1):
        with pytest.raises(ShippingRefused) as outside:
            await claims.file_claim(pg, at_ms=at, idem_key=f"c-{sale_id}-{at}", **lost)  # type: ignore[arg-type]
        assert outside.value.field == "at_ms"
    with pytest.raises(ShippingRefused) as delivered:
        await claims.file_claim(pg, kind="loss", shipment_id=shipment_id, parcel_no=1, at_ms=due + 20 * DAY_MS,
                                idem_key=f"c-{sale_id}-p1")  # fmt: skip
    assert delivered.value.field == "kind"
    filed_at = due + 15 * DAY_MS
    claim = await claims.file_claim(pg, at_ms=filed_at, idem_key=f"c-{sale_id}", **lost)  # type: ignore[arg-type]
    assert (await claims.file_claim(pg, at_ms=filed_at, idem_key=f"c-{sale_id}", **lost)).id == claim.id  # type: ignore[arg-type]
    with pytest.raises(ShippingRefused) as twice:
        await claims.file_claim(pg, at_ms=filed_at, idem_key=f"c-{sale_id}-b", **lost)  # type: ignore[arg-type]
    assert twice.value.field == "kind"
    assert (claim.status, claim.declared_value, claim.payee) == ("filed", 6_300 * USD, ledger.buyer(buyer))
    assert claim.missing == ["proof_of_value", "photo"]

    # evidence: refused for review without it, documents requested, then attached
    with pytest.raises(ShippingRefused) as bare:
        await claims.start_review(pg, claim.id, filed_at + 1)
    assert bare.value.field == "evidence"
    await claims.request_documents(pg, claim.id, filed_at + 2, "the invoice and the stone's photos, please")
    await claims.add_evidence(pg, claim.id, "invoice", "application/pdf", filed_at + 3, content=PDF)
    await claims.add_evidence(pg, claim.id, "photo", "image/jpeg", filed_at + 4, content=JPEG)
    await claims.add_evidence(pg, claim.id, "photo", "image/jpeg", filed_at + 5, content=JPEG)  # kept once
    claim = await claims.start_review(pg, claim.id, filed_at + 6, "complete")
    assert claim.missing == [] and len(claim.evidence) == 2

    # approval is capped at the declared value of what was lost
    with pytest.raises(ShippingRefused) as above:
        await claims.approve(pg, claim.id, 6_300 * USD + 1, filed_at + 7)
    assert above.value.field == "amount"
    receivable = await ledger.balance(pg, ledger.INSURANCE_RECEIVABLE, "USD")
    claim = await claims.approve(pg, claim.id, 6_300 * USD, filed_at + 8, "insurer agrees")
    assert await claims.approve(pg, claim.id, 6_300 * USD, filed_at + 8) == claim  # a retry changes nothing
    assert await ledger.balance(pg, ledger.INSURANCE_RECEIVABLE, "USD") == receivable + 6_300 * USD
    approved = await _txn(pg, f"claim-approved:{claim.id}")
    assert await ledger.txn_amount(pg, approved, ledger.CLAIMS_PAYABLE) == -6_300 * USD
    assert await claim_problems(pg) == []

    # payment: the insurer's money in, the payout to the buyer (who had paid and bore the loss)
    cash = await ledger.balance(pg, ledger.CASH, "USD")
    buyer_balance = await ledger.balance(pg, ledger.buyer(buyer), "USD")
    claim = await claims.pay(pg, claim.id, filed_at + 9 * DAY_MS, "insurer's wire received")
    assert await claims.pay(pg, claim.id, filed_at + 9 * DAY_MS) == claim
    assert claim.status == "paid" and claim.approved_amount == 6_300 * USD
    assert [e.status for e in claim.history] == ["filed", "documents_requested", "under_review", "approved", "paid"]
    assert claim.history[3].note == "insurer agrees" and claim.history[4].at_ms == filed_at + 9 * DAY_MS
    assert await ledger.txn_amount(pg, await _txn(pg, f"claim-insurer:{claim.id}"), ledger.CASH) == 6_300 * USD
    payout = await _txn(pg, f"claim-payout:{claim.id}")
    assert await ledger.txn_amount(pg, payout, ledger.buyer(buyer)) == -6_300 * USD
    remit = await _txn(pg, f"claim-remit:{claim.id}")
    assert await ledger.txn_amount(pg, remit, ledger.CASH) == -6_300 * USD
    assert await ledger.balance(pg, ledger.INSURANCE_RECEIVABLE, "USD") == receivable  # the insurer paid it all
    assert await ledger.balance(pg, ledger.CASH, "USD") == cash  # in from the insurer, out to the buyer
    assert await ledger.balance(pg, ledger.buyer(buyer), "USD") == buyer_balance  # credited, then remitted
    with pytest.raises(ShippingRefused) as closed:
        await claims.deny(pg, claim.id, "too late to deny", filed_at + 10 * DAY_MS)
    assert closed.value.field == "status"

    # the delivered parcel arrived damaged: its own claim, capped at its own value (parcel 2's claim is apart)
    damage = await claims.file_claim(pg, kind="damage", shipment_id=shipment_id, parcel_no=1,
                                     at_ms=t0 + 31 * DAY_MS, idem_key=f"cd-{sale_id}")  # fmt: skip
    await claims.add_evidence(pg, damage.id, "appraisal", "application/pdf", t0 + 31 * DAY_MS, content=PDF)
    await claims.add_evidence(pg, damage.id, "photo", "image/jpeg", t0 + 31 * DAY_MS, content=JPEG)
    await claims.start_review(pg, damage.id, t0 + 32 * DAY_MS)
    with pytest.raises(ShippingRefused):
        await claims.approve(pg, damage.id, 6_300 * USD + 1, t0 + 33 * DAY_MS)
    await claims.approve(pg, damage.id, 6_300 * USD, t0 + 33 * DAY_MS)
    assert await reconcile(pg, sale_id) == []
    assert await claim_problems(pg) == []


async def test_a_damage_claim_against_custody(pg: asyncpg.Pool, new_sale_id: Callable[[], int], tmp_path: Path) -> None:
    sale_id = new_sale_id()
    _, consignor = await make_sale(pg, sale_id, lots=1)
    removal = await custody.request_removal(pg, sale_id=sale_id, lot_no=1, declared_value=20_000 * USD,
                                            reason="grade it loose", at_ms=START, idem_key=f"rm-{sale_id}")  # fmt: skip
    await custody.record_consent(pg, removal.id, "Ruth Abrams", START + 1)
    await custody.add_photo(pg, removal.id, "before", "image/jpeg", START + 2, content=JPEG)
    await custody.start_removal(pg, removal.id, START + 3)
    after = tmp_path / "after.jpg"
    after.write_bytes(b"\xff\xd8\xff a chipped girdle")
    await custody.add_photo(pg, removal.id, "after", "image/jpeg", START + 4, path=str(after))
    removal = await custody.complete_removal(pg, removal.id, START + DAY_MS)
    assert removal.status == "completed" and removal.photos[1].path == str(after)

    # damage in custody: within 30 days of the work's end
    ends = START + DAY_MS + 30 * DAY_MS
    with pytest.raises(ShippingRefused) as late:
        await claims.file_claim(pg, kind="damage", removal_id=removal.id, at_ms=ends + 1, idem_key=f"d-{sale_id}-x")
    assert late.value.field == "at_ms"
    claim = await claims.file_claim(pg, kind="damage", removal_id=removal.id, at_ms=ends, idem_key=f"d-{sale_id}",
                                    description="girdle chipped while unsetting")  # fmt: skip
    assert claim.payee == ledger.consignor(consignor) and claim.declared_value == 20_000 * USD
    await claims.add_evidence(pg, claim.id, "appraisal", "application/pdf", ends + 1, content=PDF)
    await claims.add_evidence(pg, claim.id, "photo", "image/jpeg", ends + 2, path=str(after))
    await claims.start_review(pg, claim.id, ends + 3)
    with pytest.raises(ShippingRefused):
        await claims.approve(pg, claim.id, 20_000 * USD + 1, ends + 4)
    await claims.approve(pg, claim.id, 4_000 * USD, ends + 5, "loss of value after recutting")
    owed = await ledger.balance(pg, ledger.consignor(consignor), "USD")
    claim = await claims.pay(pg, claim.id, ends + 6)
    payout = await _txn(pg, f"claim-payout:{claim.id}")
    assert await ledger.txn_amount(pg, payout, ledger.consignor(consignor)) == -4_000 * USD
    assert await ledger.balance(pg, ledger.consignor(consignor), "USD") == owed

    # a second claim on the same custody may only take what the first left of the declared value
    theft = await claims.file_claim(pg, kind="theft", removal_id=removal.id, at_ms=ends + 7, idem_key=f"t-{sale_id}")
    for kind in ("invoice", "photo", "police_report"):
        await claims.add_evidence(pg, theft.id, kind, "image/jpeg", ends + 8, content=kind.encode())  # type: ignore[arg-type]
    await claims.start_review(pg, theft.id, ends + 9)
    with pytest.raises(ShippingRefused) as above:
        await claims.approve(pg, theft.id, 16_000 * USD + 1, ends + 10)
    assert above.value.field == "amount" and str(above.value).endswith(f"({16_000 * USD})")
    await claims.approve(pg, theft.id, 16_000 * USD, ends + 11)
    assert await reconcile(pg, sale_id) == []
    assert await claim_problems(pg) == []


async def test_a_theft_needs_a_police_report_and_a_denial_needs_a_reason(
    pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    sale_id = new_sale_id()
    _, consignor = await make_sale(pg, sale_id, lots=1)
    async with pg.acquire() as conn:
        shipment_id = await shipping.create_shipment(
            conn, purpose="to_consignor", sale_id=sale_id, lot_no=1, party_id=consignor,
            declared_value=5_000 * USD, currency="USD", at_ms=START, idem_key=f"ret-{sale_id}",
        )  # fmt: skip
    with pytest.raises(ShippingRefused) as uninsured:  # not collected yet: never insured
        await claims.file_claim(pg, kind="theft", shipment_id=shipment_id, at_ms=START + 1, idem_key=f"t0-{sale_id}")
    assert uninsured.value.field == "kind"
    await shipping.record_tracking(pg, shipment_id, 1, "collected", START + 10)
    claim = await claims.file_claim(pg, kind="theft", shipment_id=shipment_id, at_ms=START + 10,
                                    idem_key=f"t-{sale_id}")  # fmt: skip
    assert claim.payee == ledger.consignor(consignor)  # a return: the consignor's stone
    await claims.add_evidence(pg, claim.id, "grading_report", "application/pdf", START + 11, content=PDF)
    await claims.add_evidence(pg, claim.id, "photo", "image/png", START + 12, content=b"\x89PNG stone")
    assert (await claims.claim(pg, claim.id)).missing == ["police_report"]
    with pytest.raises(ShippingRefused) as no_report:
        await claims.start_review(pg, claim.id, START + 13)
    assert no_report.value.field == "evidence"
    with pytest.raises(ShippingRefused) as not_a_photo:
        await claims.add_evidence(pg, claim.id, "photo", "application/pdf", START + 14, content=PDF)
    assert not_a_photo.value.field == "media_type"
    with pytest.raises(ShippingRefused) as no_reason:
        await claims.deny(pg, claim.id, "  ", START + 15)
    assert no_reason.value.field == "reason"
    claim = await claims.deny(pg, claim.id, "the courier found it in the depot", START + 16)
    assert claim.status == "denied" and claim.denial_reason == "the courier found it in the depot"
    with pytest.raises(ShippingRefused) as closed:
        await claims.add_evidence(pg, claim.id, "police_report", "application/pdf", START + 17, content=PDF)
    assert closed.value.field == "claim"
    # a denied claim no longer blocks a new one on the same parcel
    second = await claims.file_claim(pg, kind="theft", shipment_id=shipment_id, at_ms=START + 18,
                                     idem_key=f"t2-{sale_id}")  # fmt: skip
    assert second.id != claim.id and second.status == "filed"
    assert await claim_problems(pg) == []
