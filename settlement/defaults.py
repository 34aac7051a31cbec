"""Non-paying buyers: reminders, default, the strike and the deposit, then the operator's choice per lot.

`sweep(pg, now_ms)` is the clock-driven part (the service runs it every few seconds; tests call it with any
`now_ms`): it accrues late interest, sends the reminders due, puts invoices past the grace period in default,
and moves expired second-chance offers on to the next underbidder.

Default of an invoice (one transaction): every billed lot on it is reversed on the ledger exactly, each becomes
a `lot_defaults` row awaiting the operator; the buyer gets a strike; their deposit pays the house's loss first
(the premium and commission the house will not earn); and with two strikes in twelve months they are suspended
through `settlement.buyers.suspend_buyer`.

Then per lot, `resolve(pg, sale, lot, choice, now_ms)`:
  second_chance  offer the lot to the underbidders in turn (highest last bid first) at their own last bid, each
                 for `second_chance_window_ms`; accepting bills them, declining or letting it expire moves on;
                 when nobody is left the lot joins the passed lots
  reaward        strike the defaulter's bids and recompute the lot from the record (settlement.rules.reaward,
                 the engine's own decide); bill the new winner, or pass the lot if the reserve is no longer met

Who is offered a second chance, and who wins a re-award, is someone who may buy the lot at that price now, as
the engine holds every bidder (settlement.eligibility: standing in the sale, not suspended, within their limit
with what they owe in the sale); an underbidder who may not is passed over, a new winner who may not has their
bids struck as well, and an acceptance is checked again.
  relist         the lot waits for a later sale at its own reserve; `settlement.unsold_relisting.relist_into` makes it
                 a lot of that sale, as it does for unsold stones whose consignor agreed
  cancel         the sale of the lot is cancelled and the stone goes back to its consignor
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

import asyncpg
import msgspec

from auction import catalog
from auction.engine.lot import LotTerms
from auction.engine.messages import LotPassed, LotSold
from auction.record import load_lot_events
from settlement import billing, buyers, eligibility, ledger, unsold_lots, unsold_relisting
from settlement.errors import InvalidState, NotFound
from settlement.rules import Underbidder, forfeit, in_default, reaward, reminders_due, underbidders

Choice = Literal["second_chance", "reaward", "relist", "cancel"]


async def sweep(pg: asyncpg.Pool, now_ms: int, only_sales: Collection[int] | None = None) -> dict[str, int]:
    """Everything the passing of time causes, up to now_ms (to the invoices of `only_sales`, or all).
    Idempotent: run it as often as you like."""
    done = {"reminders": 0, "defaults": 0, "offers_expired": 0}
    sales = None if only_sales is None else list(only_sales)
    open_invoices = await pg.fetch(
        "SELECT id FROM invoices WHERE status = 'open' AND ($1::bigint[] IS NULL OR sale_id = any($1)) ORDER BY id",
        sales,
    )
    for inv_id in [r["id"] for r in open_invoices]:
        async with pg.acquire() as conn, conn.transaction():
            inv = await conn.fetchrow("SELECT * FROM invoices WHERE id = $1 FOR UPDATE", inv_id)
            if inv is None or inv["status"] != "open":
                continue
            terms = await billing.load_terms(conn, inv["sale_id"])
            await billing.accrue_interest(conn, inv, now_ms)
            owed = reminders_due(inv["due_ms"], now_ms, terms)
            for n in range(inv["reminders_sent"] + 1, owed + 1):
                await conn.execute(
                    "INSERT INTO reminders (invoice_id, n, at_ms) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    inv_id,
                    n,
                    now_ms,
                )
                done["reminders"] += 1
            if owed > inv["reminders_sent"]:
                await conn.execute("UPDATE invoices SET reminders_sent = $2 WHERE id = $1", inv_id, owed)
            if in_default(inv["due_ms"], now_ms, terms):
                await _default(conn, inv_id, now_ms)
                done["defaults"] += 1
    for offer in await pg.fetch(
        "SELECT id FROM second_chance_offers WHERE status = 'open' AND expires_ms <= $1 ORDER BY id", now_ms
    ):
        async with pg.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "UPDATE second_chance_offers SET status = 'expired' WHERE id = $1 AND status = 'open' "
                "RETURNING line_id",
                offer["id"],
            )
            if row is not None:
                await _offer_next(conn, row["line_id"], now_ms)
                done["offers_expired"] += 1
    return done


async def _default(conn: asyncpg.Connection, inv_id: int, now_ms: int) -> None:
    inv = await conn.fetchrow("SELECT * FROM invoices WHERE id = $1", inv_id)
    assert inv is not None
    currency, sale_id, buyer_id = inv["currency"].strip(), inv["sale_id"], inv["buyer_id"]
    await conn.execute("UPDATE invoices SET status = 'defaulted' WHERE id = $1", inv_id)
    lines = await conn.fetch("SELECT * FROM invoice_lines WHERE invoice_id = $1 AND status = 'active'", inv_id)
    loss = 0
    for line in lines:
        await billing.void_line(conn, line["id"], now_ms, f"buyer {buyer_id} defaulted")
        await conn.execute(
            "INSERT INTO lot_defaults (sale_id, lot_no, line_id, defaulter, at_ms) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT DO NOTHING",
            sale_id,
            line["lot_no"],
            line["id"],
            buyer_id,
            now_ms,
        )
        loss += line["premium"] + line["commission"]
    applied = forfeit(await billing.deposit_held(conn, buyer_id, currency), loss)
    if applied > 0:
        txn_id = await ledger.post(
            conn,
            ledger.Posting(
                idem_key=f"forfeit:{inv_id}",
                kind="deposit_forfeited",
                currency=currency,
                at_ms=now_ms,
                sale_id=sale_id,
                memo="deposit applied to the house's loss on a default",
                entries=ledger.entries((ledger.deposits(buyer_id), applied), (ledger.HOUSE_FORFEITS, -applied)),
            ),
        )
        if txn_id is not None:
            await conn.execute(
                "INSERT INTO deposits (buyer_id, currency, kind, amount, at_ms, txn_id) "
                "VALUES ($1, $2, 'forfeited', $3, $4, $5)",
                buyer_id,
                currency,
                applied,
                now_ms,
                txn_id,
            )
    await buyers.strike(conn, buyer_id, sale_id, "non_payment", now_ms)


async def _pending_default(conn: asyncpg.Connection, sale_id: int, lot_no: int) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT * FROM lot_defaults WHERE sale_id = $1 AND lot_no = $2 ORDER BY at_ms DESC, line_id DESC LIMIT 1 "
        "FOR UPDATE",
        sale_id,
        lot_no,
    )
    if row is None:
        raise NotFound(f"lot {lot_no} of sale {sale_id} has no default")
    if row["resolution"] != "pending":
        raise InvalidState(f"the default on lot {lot_no} of sale {sale_id} was already resolved: {row['resolution']}")
    return row


async def resolve(pg: asyncpg.Pool, sale_id: int, lot_no: int, choice: Choice, now_ms: int) -> str:
    """Apply the operator's choice for a defaulted lot; returns the resolution recorded."""
    async with pg.acquire() as conn, conn.transaction():
        dflt = await _pending_default(conn, sale_id, lot_no)
        match choice:
            case "second_chance":
                await _set(conn, dflt, "second_chance", None)
                return await _offer_next(conn, dflt["line_id"], now_ms)
            case "reaward":
                return await _reaward(conn, dflt, now_ms)
            case "relist":
                await unsold_lots.join_after_default(conn, sale_id, lot_no, "default_relisted", now_ms)
                await unsold_relisting.queue_relist(conn, sale_id, lot_no, now_ms)  # relist_into a later sale
                return await _set(conn, dflt, "relist", now_ms)
            case "cancel":
                await unsold_lots.join_after_default(conn, sale_id, lot_no, "default_cancelled", now_ms)
                return await _set(conn, dflt, "cancelled", now_ms)


async def _set(conn: asyncpg.Connection, dflt: asyncpg.Record, resolution: str, now_ms: int | None) -> str:
    await conn.execute(
        "UPDATE lot_defaults SET resolution = $2, resolved_ms = $3 WHERE line_id = $1",
        dflt["line_id"],
        resolution,
        now_ms,
    )
    return resolution


async def eligible_underbidders(
    conn: asyncpg.Connection, sale_id: int, lot_no: int, defaulter: int, now_ms: int
) -> list[Underbidder]:
    """Underbidders in turn, leaving out anyone in default in this sale and anyone who may not buy the lot at
    their last bid now: their standing in the sale, settlement's suspension, their limit (settlement.eligibility)."""
    events = await load_lot_events(conn, sale_id, lot_no)
    in_default = {
        r["buyer_id"]
        for r in await conn.fetch("SELECT buyer_id FROM invoices WHERE sale_id = $1 AND status = 'defaulted'", sale_id)
    }
    consignor = await billing.lot_consignor(conn, sale_id, lot_no)
    eligible = []
    for candidate in underbidders(events, excluding=defaulter):
        if candidate.bidder in in_default:
            continue
        refused = await eligibility.refusal(
            conn,
            sale_id=sale_id,
            lot_no=lot_no,
            consignor_id=consignor,
            buyer_id=candidate.bidder,
            price=candidate.last_bid,
            now_ms=now_ms,
        )
        if refused is None:
            eligible.append(candidate)
    return eligible


async def _offer_next(conn: asyncpg.Connection, line_id: int, now_ms: int) -> str:
    dflt = await conn.fetchrow("SELECT * FROM lot_defaults WHERE line_id = $1", line_id)
    assert dflt is not None
    sale_id, lot_no = dflt["sale_id"], dflt["lot_no"]
    rows = await conn.fetch("SELECT buyer_id FROM second_chance_offers WHERE line_id = $1", line_id)
    offered = {r["buyer_id"] for r in rows}
    rank = len(offered) + 1
    terms = await billing.load_terms(conn, sale_id)
    for candidate in await eligible_underbidders(conn, sale_id, lot_no, dflt["defaulter"], now_ms):
        if candidate.bidder in offered:
            continue
        await conn.execute(
            "INSERT INTO second_chance_offers (sale_id, lot_no, line_id, rank, buyer_id, amount, offered_ms, "
            "expires_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            sale_id,
            lot_no,
            line_id,
            rank,
            candidate.bidder,
            candidate.last_bid,
            now_ms,
            now_ms + terms.second_chance_window_ms,
        )
        return "second_chance"
    await unsold_lots.join_after_default(conn, sale_id, lot_no, "default_unsold", now_ms)
    return await _set(conn, dflt, "unsold", now_ms)


class OfferView(msgspec.Struct, frozen=True):
    id: int
    sale: int
    lot: int
    rank: int
    buyer: int
    amount: int
    expires_ms: int
    status: str


async def offers(pg: asyncpg.Pool, sale_id: int, lot_no: int | None = None) -> list[OfferView]:
    rows = await pg.fetch(
        "SELECT * FROM second_chance_offers WHERE sale_id = $1 AND ($2::int IS NULL OR lot_no = $2) ORDER BY id",
        sale_id,
        lot_no,
    )
    return [
        OfferView(r["id"], r["sale_id"], r["lot_no"], r["rank"], r["buyer_id"], r["amount"], r["expires_ms"],
                  r["status"])
        for r in rows
    ]  # fmt: skip


async def answer_offer(pg: asyncpg.Pool, offer_id: int, accept: bool, now_ms: int) -> str:
    """The underbidder accepts (billed at their last bid, if they may still buy it: PostSaleRefused naming
    `buyer` or `offer` if not) or declines (the next one is offered)."""
    async with pg.acquire() as conn, conn.transaction():
        offer = await conn.fetchrow("SELECT * FROM second_chance_offers WHERE id = $1 FOR UPDATE", offer_id)
        if offer is None:
            raise NotFound(f"no second-chance offer {offer_id}")
        if offer["status"] != "open":
            raise InvalidState(f"offer {offer_id} is {offer['status']}")
        if now_ms >= offer["expires_ms"]:
            raise InvalidState(f"offer {offer_id} expired at {offer['expires_ms']}")
        if not accept:
            await conn.execute("UPDATE second_chance_offers SET status = 'declined' WHERE id = $1", offer_id)
            return await _offer_next(conn, offer["line_id"], now_ms)
        await eligibility.refuse(
            conn,
            sale_id=offer["sale_id"],
            lot_no=offer["lot_no"],
            consignor_id=await billing.lot_consignor(conn, offer["sale_id"], offer["lot_no"]),
            buyer_id=offer["buyer_id"],
            price=offer["amount"],
            now_ms=now_ms,
            price_field="offer",
        )  # their standing or their other purchases may have changed since the offer was made
        await conn.execute("UPDATE second_chance_offers SET status = 'accepted' WHERE id = $1", offer_id)
        await billing.bill_lot(
            conn,
            sale_id=offer["sale_id"],
            lot_no=offer["lot_no"],
            buyer_id=offer["buyer_id"],
            hammer=offer["amount"],
            at_ms=now_ms,
            source="second_chance",
            idem_key=f"second-chance:{offer_id}",
        )
        dflt = await conn.fetchrow("SELECT * FROM lot_defaults WHERE line_id = $1", offer["line_id"])
        assert dflt is not None
        return await _set(conn, dflt, "second_chance_sold", now_ms)


async def _reaward(conn: asyncpg.Connection, dflt: asyncpg.Record, now_ms: int) -> str:
    sale_id, lot_no = dflt["sale_id"], dflt["lot_no"]
    terms = next((t for t in await catalog.stored_terms(conn, sale_id) if t.lot == lot_no), None)
    if terms is None:
        raise NotFound(f"sale {sale_id} has no lot {lot_no}")
    result = await _reaward_to_who_may_buy(conn, dflt, terms, now_ms)
    if not isinstance(result, LotSold):
        await unsold_lots.join_after_default(conn, sale_id, lot_no, "default_unsold", now_ms)
        return await _set(conn, dflt, "unsold", now_ms)
    await billing.bill_lot(
        conn,
        sale_id=sale_id,
        lot_no=lot_no,
        buyer_id=result.bidder,
        hammer=result.hammer,
        at_ms=now_ms,
        source="reaward",
        idem_key=f"reaward:{dflt['line_id']}",
    )
    return await _set(conn, dflt, "reawarded", now_ms)


async def _reaward_to_who_may_buy(
    conn: asyncpg.Connection, dflt: asyncpg.Record, terms: LotTerms, now_ms: int
) -> LotSold | LotPassed:
    """The lot recomputed without the defaulter's bids; and while its new winner may not buy it at that price now
    (standing, suspension, limit: settlement.eligibility), without theirs too, as the engine refuses their bids."""
    events = await load_lot_events(conn, dflt["sale_id"], dflt["lot_no"])
    struck = {dflt["defaulter"]}
    while True:
        result = reaward(terms, events, striking=frozenset(struck))
        if not isinstance(result, LotSold):
            return result
        refused = await eligibility.refusal(
            conn,
            sale_id=dflt["sale_id"],
            lot_no=dflt["lot_no"],
            consignor_id=terms.consignor,
            buyer_id=result.bidder,
            price=result.hammer,
            now_ms=now_ms,
        )
        if refused is None:
            return result
        struck.add(result.bidder)
