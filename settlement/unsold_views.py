"""What operators, consignors and buyers read of passed lots: each lot with its offers, consent, relisting and
return; a buyer's own post-sale offers and the lots open to them. Reading only: nothing here writes.

A consignor sees their own lots and the offers on them by paddle, as in the room; a buyer never sees a reserve
they weren't offered, nor anyone else's offer.
"""

from __future__ import annotations

import asyncpg
import msgspec

from settlement.errors import NotFound
from settlement.unsold_lots import PASSED_LOT
from settlement.unsold_rules import OfferKind


class PostSaleOffer(msgspec.Struct, frozen=True):
    id: int
    sale: int
    lot: int
    kind: OfferKind  # 'reserve': the house's offer to the top bidder; 'buyer': a buyer's offer to the consignor
    buyer: int | None  # the buyer company; None in a consignor's view (they see paddles, as in the room)
    paddle: int | None
    amount: int
    made_ms: int
    expires_ms: int
    status: str
    answered_ms: int | None


class RelistConsent(msgspec.Struct, frozen=True):
    reserve: int
    source: str  # 'consignor', or 'default' when the operator relisted a defaulted lot at its own reserve
    consented_ms: int
    withdrawn_ms: int | None


class Relisting(msgspec.Struct, frozen=True):
    from_sale: int
    from_lot: int
    to_sale: int
    to_lot: int
    reserve: int
    at_ms: int


class LotReturn(msgspec.Struct, frozen=True):
    reason: str  # 'unsold', or 'defaulted' (its sale fell through: nothing charged to the consignor)
    consignor: int
    currency: str
    unsold_fee: int
    return_shipping: int
    declared_value: int
    shipment: int
    at_ms: int


class PassedLot(msgspec.Struct, frozen=True):
    sale: int
    lot: int
    consignor: int
    status: str
    highest_bid: int
    reserve: int
    window_ms: int
    offers: list[PostSaleOffer]
    consent: RelistConsent | None
    relisting: Relisting | None
    returned: LotReturn | None


class OpenPassedLot(msgspec.Struct, frozen=True):
    """A passed lot as a buyer sees it: open for offers until `window_ms` (no reserve, no one else's offer)."""

    sale: int
    lot: int
    window_ms: int


class BuyerPostSale(msgspec.Struct, frozen=True):
    open_lots: list[OpenPassedLot]
    offers: list[PostSaleOffer]  # the buyer's own, the house's reserve offer to them included


_OFFERS = (
    "SELECT o.*, r.paddle FROM post_sale_offers o LEFT JOIN registrations r ON r.sale_id = o.sale_id "
    "AND r.company_id = o.buyer_id AND r.status = 'approved' "
)


def _offer_view(r: asyncpg.Record) -> PostSaleOffer:
    return PostSaleOffer(r["id"], r["sale_id"], r["lot_no"], r["kind"], r["buyer_id"], r["paddle"], r["amount"],
                         r["made_ms"], r["expires_ms"], r["status"], r["answered_ms"])  # fmt: skip


async def offer(pg: asyncpg.Connection | asyncpg.Pool, offer_id: int) -> PostSaleOffer:
    row = await pg.fetchrow(_OFFERS + "WHERE o.id = $1", offer_id)
    if row is None:
        raise NotFound(f"no post-sale offer {offer_id}")
    return _offer_view(row)


def _consent_view(r: asyncpg.Record) -> RelistConsent:
    return RelistConsent(r["reserve"], r["source"], r["consented_ms"], r["withdrawn_ms"])


async def consent(pg: asyncpg.Connection | asyncpg.Pool, sale_id: int, lot_no: int) -> RelistConsent | None:
    """The consignor's consent to relist the lot (or the operator's relisting of a defaulted one), if any."""
    r = await pg.fetchrow("SELECT * FROM relist_consents WHERE sale_id = $1 AND lot_no = $2", sale_id, lot_no)
    return _consent_view(r) if r else None


async def passed_lots(pg: asyncpg.Pool, sale_id: int, *, consignor_id: int | None = None) -> list[PassedLot]:
    """Every passed lot of a sale with its offers, consent, relisting and return: everything, for operators;
    a consignor's own lots only, with offers by paddle, for a consignor."""
    lots = await pg.fetch(
        PASSED_LOT + "WHERE p.sale_id = $1 AND ($2::bigint IS NULL OR l.consignor_id = $2) ORDER BY p.lot_no",
        sale_id,
        consignor_id,
    )
    offers = await _offers_by_lot(pg, sale_id, by_paddle=consignor_id is not None)
    consents = await _consents_by_lot(pg, sale_id)
    relistings = await _relistings_by_lot(pg, sale_id)
    returns = await _returns_by_lot(pg, sale_id)
    return [
        PassedLot(r["sale_id"], r["lot_no"], r["consignor_id"], r["status"], r["highest_bid"], r["reserve"],
                  r["window_ms"], offers.get(r["lot_no"], []), consents.get(r["lot_no"]),
                  relistings.get(r["lot_no"]), returns.get(r["lot_no"]))
        for r in lots
    ]  # fmt: skip


async def _offers_by_lot(pg: asyncpg.Pool, sale_id: int, *, by_paddle: bool) -> dict[int, list[PostSaleOffer]]:
    """The sale's offers by lot, oldest first; `by_paddle`: without the buyer company, as a consignor sees them."""
    offers: dict[int, list[PostSaleOffer]] = {}
    for r in await pg.fetch(_OFFERS + "WHERE o.sale_id = $1 ORDER BY o.id", sale_id):
        view = _offer_view(r)
        offers.setdefault(view.lot, []).append(msgspec.structs.replace(view, buyer=None) if by_paddle else view)
    return offers


async def _consents_by_lot(pg: asyncpg.Pool, sale_id: int) -> dict[int, RelistConsent]:
    rows = await pg.fetch("SELECT * FROM relist_consents WHERE sale_id = $1", sale_id)
    return {r["lot_no"]: _consent_view(r) for r in rows}


async def _relistings_by_lot(pg: asyncpg.Pool, sale_id: int) -> dict[int, Relisting]:
    rows = await pg.fetch("SELECT * FROM relistings WHERE from_sale_id = $1", sale_id)
    return {
        r["from_lot_no"]: Relisting(r["from_sale_id"], r["from_lot_no"], r["to_sale_id"], r["to_lot_no"],
                                    r["reserve"], r["at_ms"])
        for r in rows
    }  # fmt: skip


async def _returns_by_lot(pg: asyncpg.Pool, sale_id: int) -> dict[int, LotReturn]:
    rows = await pg.fetch("SELECT * FROM lot_returns WHERE sale_id = $1", sale_id)
    return {
        r["lot_no"]: LotReturn(r["reason"], r["consignor_id"], r["currency"].strip(), r["unsold_fee"],
                               r["return_shipping"], r["declared_value"], r["shipment_id"], r["at_ms"])
        for r in rows
    }  # fmt: skip


async def buyer_view(pg: asyncpg.Pool, sale_id: int, buyer_id: int, now_ms: int) -> BuyerPostSale:
    """What a buyer may see: the sale's lots open for offers now, and their own offers (the house's reserve
    offer to them included): never the reserve of a lot they weren't offered, nor anyone else's offer."""
    lots = await pg.fetch(
        "SELECT sale_id, lot_no, window_ms FROM passed_lots WHERE sale_id = $1 AND status = 'post_sale' "
        "AND window_ms > $2 ORDER BY lot_no",
        sale_id,
        now_ms,
    )
    own = await pg.fetch(_OFFERS + "WHERE o.sale_id = $1 AND o.buyer_id = $2 ORDER BY o.id", sale_id, buyer_id)
    return BuyerPostSale(
        [OpenPassedLot(r["sale_id"], r["lot_no"], r["window_ms"]) for r in lots], [_offer_view(r) for r in own]
    )
