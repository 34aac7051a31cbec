"""Unsold stones: the post-sale window of a passed lot, then a later sale or the return to the consignor.

A passed lot (`passed_lots`, recorded by the service from its LotPassed) moves through these states:

    post_sale --an accepted offer (billed as source 'post_sale')--> sold
        | the window has passed (`sweep`)
        |-- the consignor consented to relist ---> relist --relist_into(a later sale)--> a lot of that sale
        |                                            | consent withdrawn before it is relisted
        `-- otherwise ---------------------------> returning (fee and return shipping posted, insured shipment)

During the window (`SettlementTerms.post_sale_window_ms` from the close) the top bidder holds the house's offer
of the lot at its reserve (`open_window`, made by `sweep` for every lot that passed with bids), and registered
buyers make offers (`make_offer`) that the consignor accepts or declines (`answer_offer`). The first accepted
offer sells the lot, billed through `billing.bill_lot` with the sale's own premium, and closes every other.

Each function is one transaction that locks the passed lot first (so offers, answers, consents and the sweep
of one lot never interleave) and is safe to repeat: the same offer (buyer, client id) is recorded once, the
same answer twice returns the same result, a return is posted and shipped once (keyed by the lot). Refusals
are `errors.PostSaleRefused`, naming the field at fault and a reason code from `unsold_rules.Refusal`.
"""

from __future__ import annotations

import asyncpg
import msgspec

from auction import catalog, vetting
from auction.engine.standing import refusal as standing_refusal
from auction.record import load_lot_events
from auction.store import LotStore
from settlement import billing, buyers, ledger, shipping
from settlement.errors import NotFound, NotYours, PostSaleRefused, translate_errors
from settlement.rules import unsold_charges
from settlement.unsold_rules import (
    OfferKind,
    Refusal,
    amount_refusal,
    answered_status,
    lot_refusal,
    relist_opening,
    relist_reserve_refusal,
    return_declared_value,
    top_bidder,
    window_open,
)

MAX_CLIENT_ID = 64
HOUSE_CLIENT_ID = "reserve"  # the client id of the house's reserve offer (kind 'reserve', so never a buyer's)


# ---- views --------------------------------------------------------------------------------------------------


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


# ---- the passed lot -----------------------------------------------------------------------------------------

_PASSED = (
    "SELECT p.sale_id, p.lot_no, p.status, p.highest_bid, p.at_ms, p.window_ms, l.consignor_id, l.reserve, "
    "l.low_estimate, l.opening_price, s.currency FROM passed_lots p "
    "JOIN lots l ON l.sale_id = p.sale_id AND l.lot_no = p.lot_no JOIN sales s ON s.id = p.sale_id "
)


async def _locked_lot(conn: asyncpg.Connection, sale_id: int, lot_no: int) -> asyncpg.Record:
    row = await conn.fetchrow(_PASSED + "WHERE p.sale_id = $1 AND p.lot_no = $2 FOR UPDATE OF p", sale_id, lot_no)
    if row is None:
        raise NotFound(f"lot {lot_no} of sale {sale_id} is not a passed lot")
    return row


def _own(lot: asyncpg.Record, consignor_id: int | None) -> None:
    """A consignor acts only on their own lots (None: an operator, who acts for anyone)."""
    if consignor_id is not None and consignor_id != lot["consignor_id"]:
        raise NotYours("lot", "not_yours", f"lot {lot['lot_no']} of sale {lot['sale_id']} is not your lot")


def _refuse_lot(lot: asyncpg.Record, window_ms: int, now_ms: int, field: str) -> None:
    reason = lot_refusal(lot["status"], window_ms, now_ms)
    if reason is not None:
        raise PostSaleRefused(
            field, reason, f"lot {lot['lot_no']} of sale {lot['sale_id']}: {reason.replace('_', ' ')}"
        )


async def _refuse_buyer(conn: asyncpg.Connection, lot: asyncpg.Record, buyer_id: int, now_ms: int) -> None:
    """The engine's own rule for who may bid on this lot now (approved, registered, not suspended, not the
    consignor or linked to them), and settlement's suspension record as well."""
    standing = await vetting.standing_of(conn, lot["sale_id"], buyer_id)
    reason: Refusal | None = standing_refusal(standing, lot["consignor_id"], now_ms)
    if reason is None and await buyers.is_suspended(conn, buyer_id):
        reason = "suspended"
    if reason is not None:
        raise PostSaleRefused(
            "buyer", reason, f"buyer {buyer_id} may not buy lot {lot['lot_no']}: {reason.replace('_', ' ')}"
        )


# ---- the window: the reserve offer, buyers' offers, answers -------------------------------------------------


async def open_window(conn: asyncpg.Connection, sale_id: int, lot_no: int, now_ms: int) -> int | None:
    """Offer a passed lot at its reserve to its top bidder, open until the window ends; the offer's id, or None
    when nobody bid (or the lot is no longer in its window). Call inside a transaction. Idempotent."""
    lot = await _locked_lot(conn, sale_id, lot_no)
    existing: int | None = await conn.fetchval(
        "SELECT id FROM post_sale_offers WHERE sale_id = $1 AND lot_no = $2 AND kind = 'reserve'", sale_id, lot_no
    )
    if existing is not None or lot["highest_bid"] <= 0 or lot["reserve"] <= 0:
        return existing
    if lot_refusal(lot["status"], lot["window_ms"], now_ms) is not None:
        return None
    leader = top_bidder(await load_lot_events(conn, sale_id, lot_no))
    if leader is None or await conn.fetchval(
        "SELECT 1 FROM lot_defaults WHERE sale_id = $1 AND lot_no = $2 AND defaulter = $3", sale_id, lot_no, leader
    ):
        return None  # nobody bid, or the top bidder is the buyer who defaulted on it
    offer_id: int = await conn.fetchval(
        "INSERT INTO post_sale_offers (sale_id, lot_no, kind, buyer_id, amount, client_id, made_ms, expires_ms) "
        "VALUES ($1, $2, 'reserve', $3, $4, $5, $6, $7) RETURNING id",
        sale_id,
        lot_no,
        leader,
        lot["reserve"],
        HOUSE_CLIENT_ID,
        now_ms,
        lot["window_ms"],
    )
    return offer_id


def _check_offer_input(amount: object, client_id: object) -> None:
    reason = amount_refusal(amount)
    if reason is not None:
        raise PostSaleRefused("amount", reason, "an offer is a positive whole number of minor units")
    if not isinstance(client_id, str) or not 0 < len(client_id) <= MAX_CLIENT_ID:
        raise PostSaleRefused("client_id", "bad_client_id", f"client_id must be 1 to {MAX_CLIENT_ID} characters")


async def make_offer(
    pg: asyncpg.Pool, sale_id: int, lot_no: int, buyer_id: int, amount: int, client_id: str, now_ms: int
) -> PostSaleOffer:
    """A registered buyer's offer for a passed lot, for its consignor to answer. It replaces the buyer's earlier
    open offer on the lot; the same `client_id` again returns the first offer unchanged."""
    _check_offer_input(amount, client_id)
    async with pg.acquire() as conn, conn.transaction():
        lot = await _locked_lot(conn, sale_id, lot_no)
        earlier: int | None = await conn.fetchval(
            "SELECT id FROM post_sale_offers WHERE sale_id = $1 AND lot_no = $2 AND buyer_id = $3 AND kind = 'buyer' "
            "AND client_id = $4",
            sale_id,
            lot_no,
            buyer_id,
            client_id,
        )
        if earlier is not None:
            return await _offer(conn, earlier)
        _refuse_lot(lot, lot["window_ms"], now_ms, "lot")
        await _refuse_buyer(conn, lot, buyer_id, now_ms)
        await conn.execute(
            "UPDATE post_sale_offers SET status = 'replaced', answered_ms = $4 WHERE sale_id = $1 AND lot_no = $2 "
            "AND buyer_id = $3 AND kind = 'buyer' AND status = 'open'",
            sale_id,
            lot_no,
            buyer_id,
            now_ms,
        )
        offer_id = await conn.fetchval(
            "INSERT INTO post_sale_offers (sale_id, lot_no, kind, buyer_id, amount, client_id, made_ms, expires_ms) "
            "VALUES ($1, $2, 'buyer', $3, $4, $5, $6, $7) RETURNING id",
            sale_id,
            lot_no,
            buyer_id,
            amount,
            client_id,
            now_ms,
            lot["window_ms"],
        )
        return await _offer(conn, offer_id)


def _may_answer(offer: asyncpg.Record, lot: asyncpg.Record, buyer_id: int | None, consignor_id: int | None) -> None:
    """The house's reserve offer is answered by the buyer it was made to; a buyer's offer by the consignor.
    An operator (neither given) records either answer on the party's word."""
    if offer["kind"] == "reserve":
        if consignor_id is not None or (buyer_id is not None and buyer_id != offer["buyer_id"]):
            raise NotYours("offer", "not_yours", f"offer {offer['id']} was not made to you")
    elif buyer_id is not None:
        raise NotYours("offer", "not_yours", f"offer {offer['id']} is for the lot's consignor to answer")
    else:
        _own(lot, consignor_id)


async def answer_offer(
    pg: asyncpg.Pool,
    offer_id: int,
    accept: bool,
    now_ms: int,
    *,
    buyer_id: int | None = None,
    consignor_id: int | None = None,
) -> str:
    """Accept or decline an offer; the offer's status after. Accepting sells the lot at the offer's amount:
    billed to the buyer (premium from the sale's schedule) and every other open offer on it closed. The same
    answer twice returns the same status; a different answer to an answered offer is refused."""
    async with pg.acquire() as conn, conn.transaction():
        where = await conn.fetchrow("SELECT sale_id, lot_no FROM post_sale_offers WHERE id = $1", offer_id)
        if where is None:
            raise NotFound(f"no post-sale offer {offer_id}")
        lot = await _locked_lot(conn, where["sale_id"], where["lot_no"])  # the lot first, as everyone locks
        offer = await conn.fetchrow("SELECT * FROM post_sale_offers WHERE id = $1 FOR UPDATE", offer_id)
        _may_answer(offer, lot, buyer_id, consignor_id)
        wanted = answered_status(accept)
        if offer["status"] == wanted:
            return wanted
        if offer["status"] != "open":
            raise PostSaleRefused("offer", "offer_closed", f"offer {offer_id} is {offer['status']}")
        _refuse_lot(lot, offer["expires_ms"], now_ms, "offer")
        if accept:
            await _refuse_buyer(conn, lot, offer["buyer_id"], now_ms)
            await _sell(conn, offer, now_ms)
        else:
            await conn.execute(
                "UPDATE post_sale_offers SET status = 'declined', answered_ms = $2 WHERE id = $1", offer_id, now_ms
            )
        return wanted


async def _sell(conn: asyncpg.Connection, offer: asyncpg.Record, now_ms: int) -> None:
    sale_id, lot_no = offer["sale_id"], offer["lot_no"]
    await conn.execute(
        "UPDATE post_sale_offers SET status = CASE WHEN id = $3 THEN 'accepted' ELSE 'closed' END, answered_ms = $4 "
        "WHERE sale_id = $1 AND lot_no = $2 AND (id = $3 OR status = 'open')",
        sale_id,
        lot_no,
        offer["id"],
        now_ms,
    )
    await conn.execute("UPDATE passed_lots SET status = 'sold' WHERE sale_id = $1 AND lot_no = $2", sale_id, lot_no)
    await billing.bill_lot(
        conn,
        sale_id=sale_id,
        lot_no=lot_no,
        buyer_id=offer["buyer_id"],
        hammer=offer["amount"],
        at_ms=now_ms,
        source="post_sale",
        idem_key=f"post-sale:{offer['id']}",
    )


# ---- relisting ----------------------------------------------------------------------------------------------


async def consent_relist(
    pg: asyncpg.Pool, sale_id: int, lot_no: int, reserve: int, now_ms: int, *, consignor_id: int | None = None
) -> RelistConsent:
    """The consignor agrees that the stone goes into a later sale at `reserve` (lower than the one it failed
    to reach) instead of coming back. Effective when the window passes unsold; may be changed or withdrawn
    until the stone is relisted. Giving the same consent again changes nothing."""
    async with pg.acquire() as conn, conn.transaction():
        lot = await _locked_lot(conn, sale_id, lot_no)
        _own(lot, consignor_id)
        await _refuse_relist_change(conn, lot)
        reason = relist_reserve_refusal(lot["reserve"], reserve)
        if reason is not None:
            raise PostSaleRefused(
                "reserve", reason, f"the new reserve must be lower than the reserve of {lot['reserve']}"
            )
        await conn.execute(
            "INSERT INTO relist_consents (sale_id, lot_no, reserve, source, consented_ms) "
            "VALUES ($1, $2, $3, 'consignor', $4) ON CONFLICT (sale_id, lot_no) DO UPDATE SET "
            "reserve = EXCLUDED.reserve, source = EXCLUDED.source, consented_ms = EXCLUDED.consented_ms, "
            "withdrawn_ms = NULL WHERE relist_consents.reserve <> EXCLUDED.reserve "
            "OR relist_consents.source <> EXCLUDED.source OR relist_consents.withdrawn_ms IS NOT NULL",
            sale_id,
            lot_no,
            reserve,
            now_ms,
        )
        consent = await _consent(conn, sale_id, lot_no)
        assert consent is not None
        return consent


async def withdraw_relist(
    pg: asyncpg.Pool, sale_id: int, lot_no: int, now_ms: int, *, consignor_id: int | None = None
) -> RelistConsent:
    """The consignor takes their consent back: when the window has passed, the stone comes back to them."""
    async with pg.acquire() as conn, conn.transaction():
        lot = await _locked_lot(conn, sale_id, lot_no)
        _own(lot, consignor_id)
        await _refuse_relist_change(conn, lot)
        await conn.execute(
            "UPDATE relist_consents SET withdrawn_ms = $3 WHERE sale_id = $1 AND lot_no = $2 AND withdrawn_ms IS NULL",
            sale_id,
            lot_no,
            now_ms,
        )
        consent = await _consent(conn, sale_id, lot_no)
        if consent is None:
            raise NotFound(f"lot {lot_no} of sale {sale_id} has no consent to relist")
        return consent


async def _refuse_relist_change(conn: asyncpg.Connection, lot: asyncpg.Record) -> None:
    relisted = await conn.fetchval(
        "SELECT 1 FROM relistings WHERE from_sale_id = $1 AND from_lot_no = $2", lot["sale_id"], lot["lot_no"]
    )
    if lot["status"] not in ("post_sale", "relist") or relisted:
        reason: Refusal = "lot_sold" if lot["status"] == "sold" else "lot_not_open"
        raise PostSaleRefused("lot", reason, f"lot {lot['lot_no']} of sale {lot['sale_id']} is {lot['status']}")


async def queue_relist(conn: asyncpg.Connection, sale_id: int, lot_no: int, now_ms: int) -> None:
    """A defaulted lot the operator chose to relist (settlement.defaults): it waits for a later sale at its own
    reserve, like a consigned stone whose window passed with consent. Call inside the caller's transaction,
    once the lot is in passed_lots with status 'relist'."""
    await conn.execute(
        "INSERT INTO relist_consents (sale_id, lot_no, reserve, source, consented_ms) "
        "SELECT sale_id, lot_no, reserve, 'default', $3 FROM lots WHERE sale_id = $1 AND lot_no = $2 "
        "ON CONFLICT (sale_id, lot_no) DO NOTHING",
        sale_id,
        lot_no,
        now_ms,
    )


_AWAITING_RELIST = (
    "SELECT p.sale_id, p.lot_no, c.reserve, l.opening_price FROM passed_lots p "
    "JOIN relist_consents c ON c.sale_id = p.sale_id AND c.lot_no = p.lot_no AND c.withdrawn_ms IS NULL "
    "JOIN lots l ON l.sale_id = p.sale_id AND l.lot_no = p.lot_no JOIN sales s ON s.id = p.sale_id "
    "WHERE p.status = 'relist' AND s.currency = $1 AND p.sale_id <> $2 AND NOT EXISTS (SELECT 1 FROM relistings r "
    "WHERE r.from_sale_id = p.sale_id AND r.from_lot_no = p.lot_no) ORDER BY p.sale_id, p.lot_no "
    "FOR UPDATE OF p SKIP LOCKED"
)


async def relist_into(pg: asyncpg.Pool, to_sale: int, now_ms: int, store: LotStore | None = None) -> list[Relisting]:
    """Put every stone waiting to be relisted (in the sale's currency) into `to_sale`, a later sale that has not
    started: each becomes a new lot of it with its diamond, consignor and new reserve. When the sale is already
    loaded in `store`, its relisted lots are created there too (idempotent: a retry after a crash between the
    two creates what is missing). Returns the stones relisted by this call."""
    made: list[Relisting] = []
    async with pg.acquire() as conn, conn.transaction():
        sale = await conn.fetchrow("SELECT currency, starts_at_ms FROM sales WHERE id = $1", to_sale)
        if sale is None:
            raise NotFound(f"no sale {to_sale} in the catalogue")
        if sale["starts_at_ms"] <= now_ms:
            raise PostSaleRefused("sale", "sale_started", f"sale {to_sale} has started: relist into a later sale")
        for row in await conn.fetch(_AWAITING_RELIST, sale["currency"], to_sale):
            new_lot = await catalog.relist_lot(
                conn,
                from_sale=row["sale_id"],
                from_lot=row["lot_no"],
                to_sale=to_sale,
                reserve=row["reserve"],
                opening=relist_opening(row["opening_price"], row["reserve"]),
            )
            await conn.execute(
                "INSERT INTO relistings (from_sale_id, from_lot_no, to_sale_id, to_lot_no, reserve, at_ms) "
                "VALUES ($1, $2, $3, $4, $5, $6)",
                row["sale_id"],
                row["lot_no"],
                to_sale,
                new_lot,
                row["reserve"],
                now_ms,
            )
            made.append(Relisting(row["sale_id"], row["lot_no"], to_sale, new_lot, row["reserve"], now_ms))
    if store is not None:
        await _load_relisted(pg, store, to_sale)
    return made


async def _load_relisted(pg: asyncpg.Pool, store: LotStore, to_sale: int) -> None:
    """Create the sale's relisted lots in the store, if the sale is loaded there (else whoever loads it later
    loads them from the catalogue, `catalog.stored_terms`)."""
    relisted = {
        r["to_lot_no"] for r in await pg.fetch("SELECT to_lot_no FROM relistings WHERE to_sale_id = $1", to_sale)
    }
    with translate_errors(f"loading relisted lots of sale {to_sale}"):
        if not relisted or not await store.states(to_sale):
            return
        await store.create_lots([t for t in await catalog.stored_terms(pg, to_sale) if t.lot in relisted])


# ---- the window's end: relist or return ---------------------------------------------------------------------


async def sweep(pg: asyncpg.Pool, now_ms: int, only_sale: int | None = None) -> dict[str, int]:
    """Everything the passing of time does to passed lots, up to now_ms (of one sale, or all). Idempotent: run it
    as often as you like.

    Makes the reserve offer to the top bidder of every lot that passed with bids; when a lot's window has
    passed, expires its open offers and queues it for relisting (with consent) or returns it; returns a lot
    whose relist consent was withdrawn, and a lot the operator sent back after a default; and marks a
    returning stone returned once its consignor has signed for every parcel."""
    done = {"reserve_offers": 0, "windows_closed": 0, "relists_queued": 0, "returns": 0, "returned": 0}
    for row in await pg.fetch(
        "SELECT sale_id, lot_no FROM passed_lots p WHERE status = 'post_sale' AND highest_bid > 0 AND window_ms > $1 "
        "AND NOT EXISTS (SELECT 1 FROM post_sale_offers o WHERE o.sale_id = p.sale_id AND o.lot_no = p.lot_no "
        "AND o.kind = 'reserve') AND ($2::bigint IS NULL OR sale_id = $2) ORDER BY sale_id, lot_no",
        now_ms,
        only_sale,
    ):
        async with pg.acquire() as conn, conn.transaction():
            done["reserve_offers"] += int(await open_window(conn, row["sale_id"], row["lot_no"], now_ms) is not None)
    for row in await pg.fetch(
        "SELECT sale_id, lot_no FROM passed_lots WHERE status = 'post_sale' AND window_ms <= $1 "
        "AND ($2::bigint IS NULL OR sale_id = $2) ORDER BY 1, 2",
        now_ms,
        only_sale,
    ):
        async with pg.acquire() as conn, conn.transaction():
            outcome = await _close_window(conn, row["sale_id"], row["lot_no"], now_ms)
            done["windows_closed"] += int(outcome is not None)
            done["relists_queued"] += int(outcome == "relist")
            done["returns"] += int(outcome == "returning")
    for row in await pg.fetch(_TO_RETURN, only_sale):
        async with pg.acquire() as conn, conn.transaction():
            done["returns"] += int(await _return(conn, row["sale_id"], row["lot_no"], now_ms))
    done["returned"] = int((await pg.execute(_BACK_HOME, only_sale)).split()[-1])
    return done


# A returning stone is back once every parcel of its return shipment is delivered and signed for.
_BACK_HOME = (
    "UPDATE passed_lots p SET status = 'returned' FROM lot_returns r WHERE r.sale_id = p.sale_id "
    "AND r.lot_no = p.lot_no AND p.status = 'returning' AND ($1::bigint IS NULL OR p.sale_id = $1) "
    "AND NOT EXISTS (SELECT 1 FROM parcels x WHERE x.shipment_id = r.shipment_id AND x.state <> 'delivered_signed')"
)


# A stone waiting for a later sale whose consent is gone, or one the operator sent back after a default.
_TO_RETURN = (
    "SELECT p.sale_id, p.lot_no FROM passed_lots p WHERE NOT EXISTS (SELECT 1 FROM lot_returns r "
    "WHERE r.sale_id = p.sale_id AND r.lot_no = p.lot_no) AND (p.status = 'returning' OR (p.status = 'relist' "
    "AND NOT EXISTS (SELECT 1 FROM relistings x WHERE x.from_sale_id = p.sale_id AND x.from_lot_no = p.lot_no) "
    "AND NOT EXISTS (SELECT 1 FROM relist_consents c WHERE c.sale_id = p.sale_id AND c.lot_no = p.lot_no "
    "AND c.withdrawn_ms IS NULL))) AND ($1::bigint IS NULL OR p.sale_id = $1) ORDER BY 1, 2"
)


async def _close_window(conn: asyncpg.Connection, sale_id: int, lot_no: int, now_ms: int) -> str | None:
    lot = await _locked_lot(conn, sale_id, lot_no)
    if lot["status"] != "post_sale" or window_open(lot["window_ms"], now_ms):
        return None  # sold, or moved on, since the sweep listed it
    await conn.execute(
        "UPDATE post_sale_offers SET status = 'expired', answered_ms = $3 WHERE sale_id = $1 AND lot_no = $2 "
        "AND status = 'open'",
        sale_id,
        lot_no,
        now_ms,
    )
    consent = await _consent(conn, sale_id, lot_no)
    if consent is not None and consent.withdrawn_ms is None:
        await conn.execute(
            "UPDATE passed_lots SET status = 'relist' WHERE sale_id = $1 AND lot_no = $2", sale_id, lot_no
        )
        return "relist"
    await _return(conn, sale_id, lot_no, now_ms)
    return "returning"


async def _return(conn: asyncpg.Connection, sale_id: int, lot_no: int, now_ms: int) -> bool:
    """Send the stone back to its consignor: the unsold fee and the return shipping posted to their account as
    the consignment agreement (the sale's SettlementTerms) says, and an insured shipment to them. Nothing is
    charged for a lot whose sale fell through because its buyer defaulted. False if it was returned before."""
    lot = await _locked_lot(conn, sale_id, lot_no)
    if await conn.fetchval("SELECT 1 FROM lot_returns WHERE sale_id = $1 AND lot_no = $2", sale_id, lot_no):
        return False
    terms = await billing.load_terms(conn, sale_id)
    defaulted = bool(
        await conn.fetchval("SELECT 1 FROM lot_defaults WHERE sale_id = $1 AND lot_no = $2", sale_id, lot_no)
    )
    fee, carriage = (0, 0) if defaulted else unsold_charges(lot["reserve"], terms)
    currency, consignor = lot["currency"].strip(), lot["consignor_id"]
    txn_id = None
    if fee + carriage > 0:
        txn_id = await ledger.post(
            conn,
            ledger.Posting(
                idem_key=f"unsold-return:{sale_id}:{lot_no}",
                kind="unsold_return",
                currency=currency,
                at_ms=now_ms,
                sale_id=sale_id,
                lot_no=lot_no,
                memo="unsold fee and return shipping, as the consignment agreement says",
                entries=ledger.entries(
                    (ledger.consignor(consignor), fee + carriage),
                    (ledger.HOUSE_FEES, -fee),
                    (ledger.HOUSE_SHIPPING, -carriage),
                ),
            ),
        )
    declared = return_declared_value(lot["reserve"], lot["low_estimate"])
    shipment = await shipping.create_shipment(
        conn,
        purpose="to_consignor",
        sale_id=sale_id,
        lot_no=lot_no,
        party_id=consignor,
        declared_value=declared,
        currency=currency,
        at_ms=now_ms,
        idem_key=f"return:{sale_id}:{lot_no}",
        terms=terms,
    )
    await conn.execute(
        "INSERT INTO lot_returns (sale_id, lot_no, consignor_id, reason, currency, unsold_fee, return_shipping, "
        "declared_value, txn_id, shipment_id, at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        sale_id,
        lot_no,
        consignor,
        "defaulted" if defaulted else "unsold",
        currency,
        fee,
        carriage,
        declared,
        txn_id,
        shipment,
        now_ms,
    )
    await conn.execute(
        "UPDATE passed_lots SET status = 'returning' WHERE sale_id = $1 AND lot_no = $2", sale_id, lot_no
    )
    return True


# ---- reading ------------------------------------------------------------------------------------------------

_OFFERS = (
    "SELECT o.*, r.paddle FROM post_sale_offers o LEFT JOIN registrations r ON r.sale_id = o.sale_id "
    "AND r.company_id = o.buyer_id AND r.status = 'approved' "
)


def _offer_view(r: asyncpg.Record) -> PostSaleOffer:
    return PostSaleOffer(r["id"], r["sale_id"], r["lot_no"], r["kind"], r["buyer_id"], r["paddle"], r["amount"],
                         r["made_ms"], r["expires_ms"], r["status"], r["answered_ms"])  # fmt: skip


async def _offer(conn: asyncpg.Connection | asyncpg.Pool, offer_id: int) -> PostSaleOffer:
    row = await conn.fetchrow(_OFFERS + "WHERE o.id = $1", offer_id)
    if row is None:
        raise NotFound(f"no post-sale offer {offer_id}")
    return _offer_view(row)


async def offer(pg: asyncpg.Pool, offer_id: int) -> PostSaleOffer:
    return await _offer(pg, offer_id)


def _consent_view(r: asyncpg.Record) -> RelistConsent:
    return RelistConsent(r["reserve"], r["source"], r["consented_ms"], r["withdrawn_ms"])


async def _consent(conn: asyncpg.Connection | asyncpg.Pool, sale_id: int, lot_no: int) -> RelistConsent | None:
    r = await conn.fetchrow("SELECT * FROM relist_consents WHERE sale_id = $1 AND lot_no = $2", sale_id, lot_no)
    return _consent_view(r) if r else None


async def passed_lots(pg: asyncpg.Pool, sale_id: int, *, consignor_id: int | None = None) -> list[PassedLot]:
    """Every passed lot of a sale with its offers, consent, relisting and return: everything, for operators;
    a consignor's own lots only, with offers by paddle, for a consignor."""
    lots = await pg.fetch(
        _PASSED + "WHERE p.sale_id = $1 AND ($2::bigint IS NULL OR l.consignor_id = $2) ORDER BY p.lot_no",
        sale_id,
        consignor_id,
    )
    offers: dict[int, list[PostSaleOffer]] = {}
    for r in await pg.fetch(_OFFERS + "WHERE o.sale_id = $1 ORDER BY o.id", sale_id):
        view = _offer_view(r)
        offers.setdefault(view.lot, []).append(
            view if consignor_id is None else msgspec.structs.replace(view, buyer=None)
        )
    relistings = {
        r["from_lot_no"]: Relisting(r["from_sale_id"], r["from_lot_no"], r["to_sale_id"], r["to_lot_no"],
                                    r["reserve"], r["at_ms"])
        for r in await pg.fetch("SELECT * FROM relistings WHERE from_sale_id = $1", sale_id)
    }  # fmt: skip
    consents = {
        r["lot_no"]: _consent_view(r)
        for r in await pg.fetch("SELECT * FROM relist_consents WHERE sale_id = $1", sale_id)
    }
    returns = {
        r["lot_no"]: LotReturn(r["reason"], r["consignor_id"], r["currency"].strip(), r["unsold_fee"],
                               r["return_shipping"], r["declared_value"], r["shipment_id"], r["at_ms"])
        for r in await pg.fetch("SELECT * FROM lot_returns WHERE sale_id = $1", sale_id)
    }  # fmt: skip
    return [
        PassedLot(r["sale_id"], r["lot_no"], r["consignor_id"], r["status"], r["highest_bid"], r["reserve"],
                  r["window_ms"], offers.get(r["lot_no"], []), consents.get(r["lot_no"]),
                  relistings.get(r["lot_no"]), returns.get(r["lot_no"]))
        for r in lots
    ]  # fmt: skip


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


# ---- reconcile ----------------------------------------------------------------------------------------------


async def consignor_charges(pg: asyncpg.Pool) -> dict[tuple[str, str], int]:
    """What returns charged each consignor account, by (account code, currency): a debit, for reconcile's
    check that every consignor account equals what the records say."""
    rows = await pg.fetch(
        "SELECT consignor_id, currency, sum(unsold_fee + return_shipping) AS charged FROM lot_returns "
        "GROUP BY 1, 2 HAVING sum(unsold_fee + return_shipping) <> 0"
    )
    return {(ledger.consignor(r["consignor_id"]), r["currency"].strip()): int(r["charged"]) for r in rows}


async def unsold_problems(pg: asyncpg.Pool) -> list[str]:
    """Every return's charges agree with its posting; no stone both sold and returned (or relisted); every
    accepted offer was billed at its amount; every relisting is a lot of the later sale with its new reserve."""
    problems: list[str] = []
    for r in await pg.fetch("SELECT * FROM lot_returns ORDER BY sale_id, lot_no"):
        where = f"return of sale {r['sale_id']} lot {r['lot_no']}"
        if r["txn_id"] is None:
            continue
        moved = (
            await ledger.txn_amount(pg, r["txn_id"], ledger.consignor(r["consignor_id"])),
            await ledger.txn_amount(pg, r["txn_id"], ledger.HOUSE_FEES),
            await ledger.txn_amount(pg, r["txn_id"], ledger.HOUSE_SHIPPING),
        )
        expected = (r["unsold_fee"] + r["return_shipping"], -r["unsold_fee"], -r["return_shipping"])
        if moved != expected:
            problems.append(f"{where}: charges {expected} (consignor, fees, shipping) but the ledger moved {moved}")
    for r in await pg.fetch(
        "SELECT p.sale_id, p.lot_no, p.status, (SELECT 1 FROM lot_returns x WHERE x.sale_id = p.sale_id "
        "AND x.lot_no = p.lot_no) AS returned, (SELECT 1 FROM relistings x WHERE x.from_sale_id = p.sale_id "
        "AND x.from_lot_no = p.lot_no) AS relisted, (SELECT 1 FROM invoice_lines l WHERE l.sale_id = p.sale_id "
        "AND l.lot_no = p.lot_no AND l.status = 'active') AS sold FROM passed_lots p ORDER BY 1, 2"
    ):
        where = f"passed lot {r['lot_no']} of sale {r['sale_id']}"
        if r["sold"] and (r["returned"] or r["relisted"]):
            problems.append(f"{where}: billed to a buyer and also {'returned' if r['returned'] else 'relisted'}")
        if r["returned"] and r["status"] not in ("returning", "returned"):
            problems.append(f"{where}: returned but its status is {r['status']}")
    for r in await pg.fetch(
        "SELECT o.id, o.amount, (SELECT array_agg(l.hammer) FROM invoice_lines l JOIN ledger_transactions t "
        "ON t.id = l.txn_id WHERE t.idem_key = 'post-sale:' || o.id) AS billed FROM post_sale_offers o "
        "WHERE o.status = 'accepted' ORDER BY o.id"
    ):
        if r["billed"] != [r["amount"]]:
            problems.append(f"post-sale offer {r['id']}: accepted at {r['amount']} but billed {r['billed'] or []}")
    for r in await pg.fetch(
        "SELECT x.*, l.reserve AS lot_reserve, l.consignor_id AS to_consignor, o.consignor_id AS from_consignor "
        "FROM relistings x LEFT JOIN lots l ON l.sale_id = x.to_sale_id AND l.lot_no = x.to_lot_no "
        "JOIN lots o ON o.sale_id = x.from_sale_id AND o.lot_no = x.from_lot_no ORDER BY 1, 2"
    ):
        if (r["lot_reserve"], r["to_consignor"]) != (r["reserve"], r["from_consignor"]):
            problems.append(
                f"relisting of sale {r['from_sale_id']} lot {r['from_lot_no']}: lot {r['to_lot_no']} of sale "
                f"{r['to_sale_id']} has reserve {r['lot_reserve']} and consignor {r['to_consignor']}"
            )
    return problems
