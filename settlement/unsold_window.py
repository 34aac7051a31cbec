"""The post-sale window of a passed lot: the house's offer of the lot at its reserve to its top bidder, buyers'
offers for the consignor to answer, the answers, and the sale an accepted offer makes.

The window runs `SettlementTerms.post_sale_window_ms` from the close (`unsold_rules.window_open`). The service
makes the reserve offer as it records the pass (`open_window`; the sweep is a backstop); registered buyers make
offers (`make_offer`), which the consignor accepts or declines (`answer_offer`). The first accepted offer sells
the lot, billed through `billing.bill_lot` with the sale's own premium, and closes every other; when the window
ends unsold, the sweep expires what is still open (`expire_offers`). A lot reopened after the hammer takes its
offers with it (`withdraw_offers`, called by settlement.closings).

Who may buy is who may bid, limit included: an offer is refused when the buyer's standing in the sale refuses
them, or when its amount all-in, on top of what they owe and lead in the sale, passes their limit; acceptance
(of the house's reserve offer, or of a buyer's offer by the consignor) checks both again (settlement.eligibility).

Each function is safe to repeat: the same offer (buyer, client id) is recorded once, the same answer twice
returns the same status. Refusals are `errors.PostSaleRefused`, naming the field at fault and a reason code
from `unsold_rules.Refusal`.
"""

from __future__ import annotations

import asyncpg

from auction.record import load_lot_events
from settlement import billing, eligibility, unsold_views
from settlement.eligibility import LiveExposure
from settlement.errors import NotFound, NotYours, PostSaleRefused
from settlement.unsold_lots import locked_lot, move, must_be_own
from settlement.unsold_rules import (
    amount_refusal,
    answered_status,
    lot_refusal,
    top_bidder,
)
from settlement.unsold_views import PostSaleOffer

MAX_CLIENT_ID = 64
# The client id of the house's reserve offer (kind 'reserve', so never a buyer's); a lot reopened and passed again
# gets another, "reserve-2" and so on, since the earlier one stays on the record, withdrawn.
HOUSE_CLIENT_ID = "reserve"


def _refuse_lot(lot: asyncpg.Record, window_ms: int, now_ms: int, field: str) -> None:
    reason = lot_refusal(lot["status"], window_ms, now_ms)
    if reason is not None:
        raise PostSaleRefused(
            field, reason, f"lot {lot['lot_no']} of sale {lot['sale_id']}: {reason.replace('_', ' ')}"
        )


async def _refuse_buyer(
    conn: asyncpg.Connection,
    lot: asyncpg.Record,
    buyer_id: int,
    price: int,
    now_ms: int,
    *,
    price_field: str,
    live: LiveExposure | None,
) -> None:
    """Who may buy the lot at `price` now: the engine's standing and limit rules (settlement.eligibility)."""
    await eligibility.refuse(
        conn,
        sale_id=lot["sale_id"],
        lot_no=lot["lot_no"],
        consignor_id=lot["consignor_id"],
        buyer_id=buyer_id,
        price=price,
        now_ms=now_ms,
        price_field=price_field,
        live=live,
    )


async def open_window(conn: asyncpg.Connection, sale_id: int, lot_no: int, now_ms: int) -> int | None:
    """Offer a passed lot at its reserve to its top bidder, open until the window ends; the offer's id, or None
    when nobody bid (or the lot is no longer in its window). Call inside a transaction. Idempotent."""
    lot = await locked_lot(conn, sale_id, lot_no)
    existing: int | None = await conn.fetchval(
        "SELECT id FROM post_sale_offers WHERE sale_id = $1 AND lot_no = $2 AND kind = 'reserve' "
        "AND status <> 'withdrawn'",
        sale_id,
        lot_no,
    )
    if existing is not None or lot["highest_bid"] <= 0 or lot["reserve"] <= 0:
        return existing
    if lot_refusal(lot["status"], lot["window_ms"], now_ms) is not None:
        return None
    events = await load_lot_events(conn, sale_id, lot_no)
    if lot["pass_seq"] is not None:  # who led when this pass fell, not after a reopen the record may hold already
        events = [event for event in events if event.seq <= lot["pass_seq"]]
        if not events or events[-1].seq != lot["pass_seq"]:
            return None  # the record doesn't hold the pass yet (the persister is behind): the sweep offers it later
    leader = top_bidder(events)
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
        await _reserve_client_id(conn, sale_id, lot_no),
        now_ms,
        lot["window_ms"],
    )
    return offer_id


async def _reserve_client_id(conn: asyncpg.Connection, sale_id: int, lot_no: int) -> str:
    """The client id of a lot's next reserve offer: "reserve" for its first; after a reopen withdrew n of them,
    "reserve-<n + 1>"."""
    withdrawn: int = await conn.fetchval(
        "SELECT count(*) FROM post_sale_offers WHERE sale_id = $1 AND lot_no = $2 AND kind = 'reserve'", sale_id, lot_no
    )
    return HOUSE_CLIENT_ID if withdrawn == 0 else f"{HOUSE_CLIENT_ID}-{withdrawn + 1}"


def _check_offer_input(amount: object, client_id: object) -> None:
    reason = amount_refusal(amount)
    if reason is not None:
        raise PostSaleRefused("amount", reason, "an offer is a positive whole number of minor units")
    if not isinstance(client_id, str) or not 0 < len(client_id) <= MAX_CLIENT_ID:
        raise PostSaleRefused("client_id", "bad_client_id", f"client_id must be 1 to {MAX_CLIENT_ID} characters")


async def make_offer(
    pg: asyncpg.Pool,
    sale_id: int,
    lot_no: int,
    buyer_id: int,
    amount: int,
    client_id: str,
    now_ms: int,
    *,
    live: LiveExposure | None = None,
) -> PostSaleOffer:
    """A registered buyer's offer for a passed lot, for its consignor to answer. It replaces the buyer's earlier
    open offer on the lot; the same `client_id` again returns the first offer unchanged. Refused when the buyer
    may not buy the lot at that amount (settlement.eligibility; `live`: the engine's exposures, when at hand)."""
    _check_offer_input(amount, client_id)
    async with pg.acquire() as conn, conn.transaction():
        lot = await locked_lot(conn, sale_id, lot_no)
        earlier: int | None = await conn.fetchval(
            "SELECT id FROM post_sale_offers WHERE sale_id = $1 AND lot_no = $2 AND buyer_id = $3 AND kind = 'buyer' "
            "AND client_id = $4",
            sale_id,
            lot_no,
            buyer_id,
            client_id,
        )
        if earlier is not None:
            return await unsold_views.offer(conn, earlier)
        _refuse_lot(lot, lot["window_ms"], now_ms, "lot")
        await _refuse_buyer(conn, lot, buyer_id, amount, now_ms, price_field="amount", live=live)
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
        return await unsold_views.offer(conn, offer_id)


def _may_answer(offer: asyncpg.Record, lot: asyncpg.Record, buyer_id: int | None, consignor_id: int | None) -> None:
    """The house's reserve offer is answered by the buyer it was made to; a buyer's offer by the consignor.
    An operator (neither given) records either answer on the party's word."""
    if offer["kind"] == "reserve":
        if consignor_id is not None or (buyer_id is not None and buyer_id != offer["buyer_id"]):
            raise NotYours("offer", "not_yours", f"offer {offer['id']} was not made to you")
    elif buyer_id is not None:
        raise NotYours("offer", "not_yours", f"offer {offer['id']} is for the lot's consignor to answer")
    else:
        must_be_own(lot, consignor_id)


async def answer_offer(
    pg: asyncpg.Pool,
    offer_id: int,
    accept: bool,
    now_ms: int,
    *,
    buyer_id: int | None = None,
    consignor_id: int | None = None,
    live: LiveExposure | None = None,
) -> str:
    """Accept or decline an offer; the offer's status after. Accepting sells the lot at the offer's amount:
    billed to the buyer (premium from the sale's schedule) and every other open offer on it closed, once the
    buyer's standing and limit allow it now (settlement.eligibility). The same answer twice returns the same
    status; a different answer to an answered offer is refused."""
    async with pg.acquire() as conn, conn.transaction():
        where = await conn.fetchrow("SELECT sale_id, lot_no FROM post_sale_offers WHERE id = $1", offer_id)
        if where is None:
            raise NotFound(f"no post-sale offer {offer_id}")
        lot = await locked_lot(conn, where["sale_id"], where["lot_no"])  # the lot first, as everyone locks
        offer = await conn.fetchrow("SELECT * FROM post_sale_offers WHERE id = $1 FOR UPDATE", offer_id)
        _may_answer(offer, lot, buyer_id, consignor_id)
        wanted = answered_status(accept)
        if offer["status"] == wanted:
            return wanted
        if offer["status"] != "open":
            raise PostSaleRefused("offer", "offer_closed", f"offer {offer_id} is {offer['status']}")
        _refuse_lot(lot, offer["expires_ms"], now_ms, "offer")
        if accept:
            await _refuse_buyer(conn, lot, offer["buyer_id"], offer["amount"], now_ms, price_field="offer", live=live)
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
    await move(conn, sale_id, lot_no, "offer_accepted")
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


async def expire_offers(conn: asyncpg.Connection, sale_id: int, lot_no: int, now_ms: int) -> None:
    """The window has ended unsold: every offer still open on the lot lapses with it."""
    await conn.execute(
        "UPDATE post_sale_offers SET status = 'expired', answered_ms = $3 WHERE sale_id = $1 AND lot_no = $2 "
        "AND status = 'open'",
        sale_id,
        lot_no,
        now_ms,
    )


async def withdraw_offers(conn: asyncpg.Connection, sale_id: int, lot_no: int, now_ms: int) -> int:
    """The lot was reopened: every offer on it still open, or accepted (its sale undone with the reopen), is
    withdrawn; how many. Call in the transaction that moves the lot to `reopened`, with the lot locked."""
    withdrawn: list[asyncpg.Record] = await conn.fetch(
        "UPDATE post_sale_offers SET status = 'withdrawn', answered_ms = $3 WHERE sale_id = $1 AND lot_no = $2 "
        "AND status IN ('open', 'accepted') RETURNING id",
        sale_id,
        lot_no,
        now_ms,
    )
    return len(withdrawn)
