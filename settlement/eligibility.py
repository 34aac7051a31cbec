"""Who may buy after the hammer: the engine's standing and limit rules, applied to every way of buying that
settlement runs (issue 12, finding 8): the house's reserve offer to a passed lot's top bidder, buyers' offers on
passed lots, and second-chance offers to underbidders.

- Standing: vetting's `standing_of` through the engine's own `standing.refusal` (approved, unexpired,
  registered for the sale, deposit in, not suspended, not the lot's consignor nor a company linked to them),
  and not suspended by settlement (`buyers.is_suspended`).
- Limit: the lot all-in (its price and the sale's premium, `premium.all_in`, as the engine counts a bid) on top
  of what the buyer already owes in the sale must stay within their limit (`standing.headroom`). What they owe:
  the hammer and premium of every lot on their invoice for the sale; and, for every lot settlement has not billed
  (still running, reopened, or sold and not billed yet), what the engine holds them exposed on (the lots they
  lead or won, `LotStore.exposure`) when a store is at hand. The post-sale routes have the gateway's; second
  chances come weeks after the sale, when everything is billed, and go by the invoices alone.

Open offers the buyer has made elsewhere are not counted: they are not owed, and each acceptance is checked again.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

import asyncpg

from auction import vetting
from auction.engine.premium import all_in
from auction.engine.standing import headroom
from auction.engine.standing import refusal as standing_refusal
from settlement import billing, buyers
from settlement.errors import PostSaleRefused, translate_errors
from settlement.unsold_rules import Refusal


class LiveExposure(Protocol):
    """Where the engine keeps what each buyer leads or won in a sale (the gateway's `LotStore`)."""

    async def exposure(self, sale: int, bidder: int) -> dict[int, int]: ...


class BuyerRefusal(NamedTuple):
    """Why a buyer may not buy, and the sentence that says so."""

    reason: Refusal
    message: str


async def refusal(
    conn: asyncpg.Connection,
    *,
    sale_id: int,
    lot_no: int,
    consignor_id: int,
    buyer_id: int,
    price: int,
    now_ms: int,
    live: LiveExposure | None = None,
) -> BuyerRefusal | None:
    """Why `buyer_id` may not buy lot `lot_no` at `price` (premium not included) at `now_ms`, or None."""
    standing = await vetting.standing_of(conn, sale_id, buyer_id)
    who: Refusal | None = standing_refusal(standing, consignor_id, now_ms)
    if who is None and await buyers.is_suspended(conn, buyer_id):
        who = "suspended"
    if who is not None:
        return BuyerRefusal(who, f"buyer {buyer_id} may not buy lot {lot_no} of sale {sale_id}: {who}")
    cost = all_in(price, (await billing.sale_facts(conn, sale_id)).settings.premium)
    owed = await owed_in_sale(conn, sale_id, buyer_id, excluding_lot=lot_no, live=live)
    if cost <= headroom(standing, owed):
        return None
    return BuyerRefusal(
        "over_limit",
        f"buyer {buyer_id} may not buy lot {lot_no} of sale {sale_id}: over_limit: {billing.money(cost)} all-in "
        f"on top of {billing.money(owed)} owed and led in the sale passes their limit of "
        f"{billing.money(standing.limit)}",
    )


async def refuse(
    conn: asyncpg.Connection,
    *,
    sale_id: int,
    lot_no: int,
    consignor_id: int,
    buyer_id: int,
    price: int,
    now_ms: int,
    price_field: str,
    live: LiveExposure | None = None,
) -> None:
    """Raise PostSaleRefused when the buyer may not buy: naming `buyer` for their standing, `price_field` (the
    amount offered, or the offer answered) when the price takes them over their limit."""
    refused = await refusal(
        conn,
        sale_id=sale_id,
        lot_no=lot_no,
        consignor_id=consignor_id,
        buyer_id=buyer_id,
        price=price,
        now_ms=now_ms,
        live=live,
    )
    if refused is not None:
        field = price_field if refused.reason == "over_limit" else "buyer"
        raise PostSaleRefused(field, refused.reason, refused.message)


async def owed_in_sale(
    conn: asyncpg.Connection, sale_id: int, buyer_id: int, *, excluding_lot: int, live: LiveExposure | None
) -> int:
    """What the buyer owes and leads in the sale, all-in, leaving out `excluding_lot` (the lot being bought)."""
    billed: int = await conn.fetchval(
        "SELECT coalesce(sum(l.hammer + l.premium), 0) FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id "
        "WHERE i.sale_id = $1 AND i.buyer_id = $2 AND l.status = 'active' AND l.lot_no <> $3",
        sale_id,
        buyer_id,
        excluding_lot,
    )
    if live is None:
        return int(billed)
    with translate_errors("reading a buyer's exposure"):
        exposure = await live.exposure(sale_id, buyer_id)
    settled = await _settled_lots(conn, sale_id)
    unbilled = sum(owed for lot, owed in exposure.items() if lot not in settled and lot != excluding_lot)
    return int(billed) + unbilled


async def _settled_lots(conn: asyncpg.Connection, sale_id: int) -> set[int]:
    """Lots of the sale whose buyer settlement's records say (billed, or defaulted on): the engine's exposure on
    them is stale or counted already."""
    rows = await conn.fetch(
        "SELECT lot_no FROM invoice_lines WHERE sale_id = $1 AND status = 'active' "
        "UNION SELECT lot_no FROM lot_defaults WHERE sale_id = $1",
        sale_id,
    )
    return {row["lot_no"] for row in rows}
