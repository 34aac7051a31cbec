"""Cancelling a buyer's bids on a lot for cause: the house's decision, never the buyer's (DOMAIN.md "Maximum
(proxy) bids": an operator may cancel a bid for cause, and the engine then recomputes the lot from the remaining
bids, on the record).

The engine's `CancelBids` does the work (auction.engine.cancel): it takes the buyer out of an open lot and puts the
lot where everyone else's recorded bids make it, in one atomic step; the lot's watchers see the public `revised`
event. The command carries the lot's record as read here, and the engine refuses it `stale` if the lot moved on
before it ran, so it is read again and retried. Every other refusal is the engine's answer to give the operator:
`lot_closed`, `lot_not_open` (not open yet), `no_bids` (that buyer has no bid standing on the lot).

The record says what was struck and why (the `BidsCancelled` event's reason starts "for cause: "); the audit log
says who decided it: its row is written once the engine has committed the cancellation. Settlement cancels a
suspended buyer's bids the same way (settlement/suspensions.py), every open lot at once.
"""

from __future__ import annotations

import asyncpg

from auction.engine.messages import AnyEvent, CancelBids, Rejected
from auction.identity import Account
from auction.store import Accepted, LotStore, Outcome
from auction.vetting.audit_log import audit

ATTEMPTS = 5  # reads of the lot's record before a lot that keeps moving is answered `stale`
PAGE = 1000  # events per read of a lot's record
FOR_CAUSE = "for cause: "  # how the record's reason begins (a suspension's begins "suspended: ")
RETRIED: frozenset[str] = frozenset({"stale", "busy"})


async def cancel_for_cause(
    pg: asyncpg.Pool, store: LotStore, sale: int, lot: int, bidder: int, reason: str, by: Account, at_ms: int
) -> Outcome:
    """Take `bidder`'s bids out of the lot for `reason`, decided by `by` at `at_ms`; the engine's outcome.
    Accepted, the cancellation is on the audit log."""
    outcome = await _execute(store, sale, lot, bidder, FOR_CAUSE + reason, at_ms)
    if isinstance(outcome, Accepted):
        await audit(pg, by, "bids_cancelled", f"sale:{sale}:lot:{lot}", reason, _details(bidder, outcome))
    return outcome


async def _execute(store: LotStore, sale: int, lot: int, bidder: int, reason: str, at_ms: int) -> Outcome:
    outcome: Outcome = Rejected("stale")
    for _ in range(ATTEMPTS):
        record = tuple(await lot_record(store, sale, lot))
        outcome = await store.execute(sale, lot, CancelBids(at_ms=at_ms, bidder=bidder, reason=reason, record=record))
        if isinstance(outcome, Accepted) or outcome.reason not in RETRIED:
            return outcome
    return outcome


async def lot_record(store: LotStore, sale: int, lot: int) -> list[AnyEvent]:
    """Every event of the lot, in order (the store reads what its stream no longer holds from the record)."""
    record: list[AnyEvent] = []
    while True:
        page = await store.events_after(sale, lot, record[-1].seq if record else 0, PAGE)
        record += page
        if len(page) < PAGE:
            return record


def _details(bidder: int, outcome: Accepted) -> dict[str, int | None]:
    """What the audit row keeps beside the reason: whose bids, the record's seq, where the lot stands now."""
    after = outcome.state
    return {"bidder": bidder, "seq": after.seq, "price": after.price, "leader": after.leader}


__all__ = ["FOR_CAUSE", "cancel_for_cause", "lot_record"]
