"""Withdrawing a lot of a published sale: the engine closes it without a result, and the house records why.

The withdrawal goes through the engine (`WithdrawLot`), like any command: in one atomic step the lot is closed
`withdrawn`, its bidders' exposure on it is released (a withdrawn lot counts in nobody's limit), and the public
`withdrawn` event tells everyone watching, its bidders included. Only then is the withdrawal recorded in
PostgreSQL (`lot_withdrawals`) with its audit row; a crash between the two is mended by asking again, which finds
the lot withdrawn in the engine and records it. A lot already sold or passed can't be withdrawn (the engine says
`lot_closed`); its stone is settlement's business from then on. The stone of a withdrawn lot may go into another
sale (auction/sale_builder.py).
"""

from __future__ import annotations

from typing import Annotated

import asyncpg
import msgspec

from auction import vetting
from auction.engine.messages import Rejected, WithdrawLot
from auction.house_errors import HouseConflict, HouseMissing
from auction.identity import Account
from auction.store import LotNotFound, LotStore

Reason = Annotated[str, msgspec.Meta(min_length=3, max_length=500)]


class WithdrawalBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    reason: Reason


class Withdrawal(msgspec.Struct, frozen=True):
    sale: int
    lot: int
    reason: str
    at_ms: int


async def withdraw_lot(
    pg: asyncpg.Pool, store: LotStore, sale_id: int, lot_no: int, reason: str, by: Account, now_ms: int
) -> Withdrawal:
    """Withdraw a published lot; the same withdrawal asked again returns the first."""
    recorded = await _recorded(pg, sale_id, lot_no)
    if recorded is not None:
        return recorded
    if not await pg.fetchval("SELECT 1 FROM lots WHERE sale_id = $1 AND lot_no = $2", sale_id, lot_no):
        raise HouseMissing("lot", f"sale {sale_id} has no lot {lot_no}")
    at_ms = await _withdrawn_in_engine(store, sale_id, lot_no, reason, now_ms)
    async with pg.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO lot_withdrawals (sale_id, lot_no, reason, withdrawn_by, at_ms) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT DO NOTHING",
            sale_id, lot_no, reason, by.id, at_ms,
        )  # fmt: skip
        await vetting.audit(conn, by, "lot_withdrawn", f"sale:{sale_id}", reason, {"lot": lot_no})
    found = await _recorded(pg, sale_id, lot_no)
    assert found is not None
    return found


async def _withdrawn_in_engine(store: LotStore, sale_id: int, lot_no: int, reason: str, now_ms: int) -> int:
    """When the engine withdrew the lot: now, or earlier if a previous attempt got that far."""
    try:
        outcome = await store.execute(sale_id, lot_no, WithdrawLot(now_ms, reason))
    except LotNotFound as exc:
        raise HouseConflict("lot", f"lot {lot_no} of sale {sale_id} is not in the engine: publish the sale") from exc
    if not isinstance(outcome, Rejected):
        return outcome.events[-1].at_ms
    state = await store.state(sale_id, lot_no)
    if state is not None and state.status == "withdrawn":
        return now_ms  # withdrawn by an attempt that did not get to record it
    raise HouseConflict("lot", f"the engine refused to withdraw lot {lot_no}: {outcome.reason}")


async def _recorded(pg: asyncpg.Pool, sale_id: int, lot_no: int) -> Withdrawal | None:
    row = await pg.fetchrow(
        "SELECT reason, at_ms FROM lot_withdrawals WHERE sale_id = $1 AND lot_no = $2", sale_id, lot_no
    )
    return Withdrawal(sale_id, lot_no, row["reason"], row["at_ms"]) if row else None
