"""Everything the passing of time does to passed lots: `sweep(pg, now_ms, only_sale)`, run by the service's sweep,
the `unsold-sweep` command and the demo. Idempotent: run it as often as you like.

In order: the reserve offer to the top bidder of every lot that passed with bids and has none yet (the service
makes it as it records the pass; this is the backstop); every lot whose window has ended unsold, its open offers
expired, is kept for relisting when its consignor consented, else sent back; every stone sent back that is due
(its relist consent withdrawn, or the operator cancelled its defaulted sale); every returning stone whose
consignor has signed for every parcel, marked returned. Each lot is acted on in a transaction of its own.
"""

from __future__ import annotations

import asyncpg

from settlement import unsold_views
from settlement.agreements import apply_standing_consent
from settlement.unsold_lifecycle import PassedStatus
from settlement.unsold_lots import locked_lot, move
from settlement.unsold_returns import bring_home, send_back
from settlement.unsold_rules import window_open
from settlement.unsold_window import expire_offers, open_window

# Lots that passed with bids, still in their window, with no reserve offer yet (one a reopen withdrew was made
# for an earlier pass of the lot).
_OWED_A_RESERVE_OFFER = (
    "SELECT sale_id, lot_no FROM passed_lots p WHERE status = 'post_sale' AND highest_bid > 0 AND window_ms > $1 "
    "AND NOT EXISTS (SELECT 1 FROM post_sale_offers o WHERE o.sale_id = p.sale_id AND o.lot_no = p.lot_no "
    "AND o.kind = 'reserve' AND o.status <> 'withdrawn') AND ($2::bigint IS NULL OR sale_id = $2) "
    "ORDER BY sale_id, lot_no"
)

# Lots whose window has ended with nobody buying.
_WINDOW_ENDED = (
    "SELECT sale_id, lot_no FROM passed_lots WHERE status = 'post_sale' AND window_ms <= $1 "
    "AND ($2::bigint IS NULL OR sale_id = $2) ORDER BY 1, 2"
)

# A stone waiting for a later sale whose consent is gone, or one the operator sent back after a default.
_DUE_BACK = (
    "SELECT p.sale_id, p.lot_no FROM passed_lots p WHERE NOT EXISTS (SELECT 1 FROM lot_returns r "
    "WHERE r.sale_id = p.sale_id AND r.lot_no = p.lot_no) AND (p.status = 'returning' OR (p.status = 'relist' "
    "AND NOT EXISTS (SELECT 1 FROM relistings x WHERE x.from_sale_id = p.sale_id AND x.from_lot_no = p.lot_no) "
    "AND NOT EXISTS (SELECT 1 FROM relist_consents c WHERE c.sale_id = p.sale_id AND c.lot_no = p.lot_no "
    "AND c.withdrawn_ms IS NULL))) AND ($1::bigint IS NULL OR p.sale_id = $1) ORDER BY 1, 2"
)


async def sweep(pg: asyncpg.Pool, now_ms: int, only_sale: int | None = None) -> dict[str, int]:
    """Everything time does to passed lots up to now_ms (of one sale, or all); how many of each it did."""
    done = {"reserve_offers": await _make_reserve_offers(pg, now_ms, only_sale)}
    done |= await _close_windows(pg, now_ms, only_sale)
    done["returns"] += await _send_back_due(pg, now_ms, only_sale)
    done["returned"] = await bring_home(pg, only_sale)
    return done


async def _make_reserve_offers(pg: asyncpg.Pool, now_ms: int, only_sale: int | None) -> int:
    made = 0
    for row in await pg.fetch(_OWED_A_RESERVE_OFFER, now_ms, only_sale):
        async with pg.acquire() as conn, conn.transaction():
            made += int(await open_window(conn, row["sale_id"], row["lot_no"], now_ms) is not None)
    return made


async def _close_windows(pg: asyncpg.Pool, now_ms: int, only_sale: int | None) -> dict[str, int]:
    done = {"windows_closed": 0, "relists_queued": 0, "returns": 0}
    for row in await pg.fetch(_WINDOW_ENDED, now_ms, only_sale):
        async with pg.acquire() as conn, conn.transaction():
            outcome = await _close_window(conn, row["sale_id"], row["lot_no"], now_ms)
        done["windows_closed"] += int(outcome is not None)
        done["relists_queued"] += int(outcome == "relist")
        done["returns"] += int(outcome == "returning")
    return done


async def _close_window(conn: asyncpg.Connection, sale_id: int, lot_no: int, now_ms: int) -> PassedStatus | None:
    """The lot's status after its window closed: relist (its consignor consented) or returning; None if it had
    been sold, or had moved on, since the sweep listed it."""
    lot = await locked_lot(conn, sale_id, lot_no)
    if lot["status"] != "post_sale" or window_open(lot["window_ms"], now_ms):
        return None
    await expire_offers(conn, sale_id, lot_no, now_ms)
    await apply_standing_consent(conn, sale_id, lot_no, now_ms)  # the agreement's, if they said nothing since
    consent = await unsold_views.consent(conn, sale_id, lot_no)
    if consent is not None and consent.withdrawn_ms is None:
        return await move(conn, sale_id, lot_no, "window_closed_with_consent")
    await send_back(conn, sale_id, lot_no, now_ms)
    return "returning"


async def _send_back_due(pg: asyncpg.Pool, now_ms: int, only_sale: int | None) -> int:
    sent = 0
    for row in await pg.fetch(_DUE_BACK, only_sale):
        async with pg.acquire() as conn, conn.transaction():
            sent += int(await send_back(conn, row["sale_id"], row["lot_no"], now_ms))
    return sent
