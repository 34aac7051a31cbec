"""The reveal: after the close, k officers' shares rebuild the tender's key in memory, every lot's bids are opened,
the buyers' limits applied across the lots (auction.engine.tender_award), each lot's RevealTender executed through
the store (so the engine decides, the record keeps it, and the verifier can replay it), and the key dropped.

Fewer than k shares open nothing: `combine` is not even called. Each share given is first recognised by the hash
kept of it (records.share_check), so a wrong or mistyped share is refused naming it, before anything is opened.
The bids opened must be exactly each lot's latest sealed bids: a seal that won't open stops the whole reveal,
since the engine would refuse a reveal that leaves any out (reveal_mismatch).

The limit rule needs each buyer's standing; they are read from the store once, and every lot is revealed with
the same time, as the verifier checks them (the standings the record holds at the first reveal).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import asyncpg
import msgspec

from auction.engine.lot import LotState
from auction.engine.messages import Rejected, RevealedBid, RevealTender, TenderBidSubmitted
from auction.engine.standing import BidderStanding
from auction.engine.tender_award import exclusions
from auction.identity import Account
from auction.store import Accepted, LotStore
from auction.tender import records
from auction.tender.errors import TenderRefused
from auction.tender.records import SealedShare, TenderKey
from auction.tender.sealing import SealError, open_sealed, public_of, where_of
from auction.tender.shamir import Share, SharingError, combine
from auction.tender.views import LotResult, lot_result
from auction.vetting.audit_log import audit

BIDDING: frozenset[str] = frozenset({"scheduled", "viewing", "open"})  # a lot whose window has not closed
EVENTS_PAGE = 1_000


class RevealReport(msgspec.Struct, frozen=True):
    """A reveal done: when, by which officers (their shares), and each lot's result; `refused` names the lots the
    engine refused to reveal (another reveal got there first, say) with its reason."""

    sale: int
    at_ms: int
    officers: list[int]
    lots: list[LotResult]
    refused: dict[int, str] = {}


async def tender_of(pg: asyncpg.Pool, sale: int) -> TenderKey:
    key = await records.tender_key(pg, sale)
    if key is None:
        raise TenderRefused("not_found", "sale", f"sale {sale} is not a tender")
    return key


async def closed_lots(store: LotStore, sale: int) -> list[LotState]:
    """The tender's lots, once every bid window has closed; refused while one is open, or with none to reveal."""
    states = await store.states(sale)
    still = [state.terms.lot for state in states if state.status in BIDDING]
    if still:
        raise TenderRefused("refused", "sale", f"the bid window of lot {still[0]} has not closed: the reveal comes "
                            "after the close")  # fmt: skip
    if not any(state.status == "awaiting_reveal" for state in states):
        raise TenderRefused("conflict", "sale", f"sale {sale} has nothing left to reveal")
    return states


def recognise(shares: Sequence[Share], kept: Sequence[SealedShare]) -> dict[int, Share]:
    """Officer -> the share given for them, each recognised by its hash; refused naming the first that isn't one
    of this tender's."""
    by_x = {row.x: row for row in kept}
    found: dict[int, Share] = {}
    for index, share in enumerate(shares):
        row = by_x.get(share.x)
        if row is None or records.share_check(share) != row.check:
            raise TenderRefused("invalid", f"shares[{index}]", "not a share of this tender's key")
        found[row.officer] = share
    return found


def rebuild_key(shares: Sequence[Share], key: TenderKey) -> bytes:
    """The private key, from at least k recognised shares. Raises TenderRefused, having opened nothing."""
    if len({share.x for share in shares}) < key.threshold:
        raise TenderRefused("refused", "shares", f"{len(shares)} of the {key.threshold} shares needed: nothing "
                            "was opened")  # fmt: skip
    try:
        private = combine(list({share.x: share for share in shares}.values()), key.threshold)
    except SharingError as exc:
        raise TenderRefused("invalid", "shares", str(exc)) from None
    if public_of(private) != key.public_key:
        raise TenderRefused("invalid", "shares", "these shares do not rebuild this tender's key")
    return private


def open_bids(private: bytes, state: LotState, submitted: Mapping[int, TenderBidSubmitted]) -> tuple[RevealedBid, ...]:
    """The lot's latest sealed bids opened (`submitted`: its TenderBidSubmitted events by seq). Raises
    TenderRefused naming a bid that won't open: the reveal must open every one."""
    terms, opened = state.terms, []
    for bid in state.sealed:
        event = submitted.get(bid.seq)
        if event is None:
            raise TenderRefused("conflict", "sale", f"lot {terms.lot}: the sealed bid at seq {bid.seq} is not in "
                                "its events")  # fmt: skip
        try:
            content = open_sealed(event.sealed, private, where_of(terms.sale, terms.lot, bid.bidder, bid.client_id))
        except SealError:
            raise TenderRefused("conflict", "sale", f"lot {terms.lot}: the bid at seq {bid.seq} does not open with "
                                "the tender's key") from None  # fmt: skip
        opened.append(RevealedBid(bid.bidder, bid.client_id, content.amount, content.per_carat, content.salt))
    return tuple(opened)


async def reveal_tender(
    pg: asyncpg.Pool, store: LotStore, sale: int, shares: Sequence[Share], at_ms: int, by: Account | None
) -> RevealReport:
    """Reveal every lot of the tender awaiting it. Raises TenderRefused (nothing opened, nothing executed)."""
    key = await tender_of(pg, sale)
    officers = recognise(shares, await records.shares_of(pg, sale))
    states = await closed_lots(store, sale)
    submitted = {state.terms.lot: await _submissions(store, sale, state.terms.lot) for state in states}
    private = rebuild_key(list(officers.values()), key)
    try:
        opened = {s.terms.lot: open_bids(private, s, submitted[s.terms.lot]) for s in states
                  if s.status == "awaiting_reveal"}  # fmt: skip
    finally:
        del private  # the key goes with this frame; Python can't wipe the bytes (docs/RULES.md "Tenders")
    commands = await _reveal_commands(store, sale, states, opened, at_ms)
    outcomes = await asyncio.gather(
        *(store.execute(sale, lot, command, dedupe=f"tender-reveal:{lot}") for lot, command in commands.items())
    )
    await _recorded(pg, sale, sorted(officers), by)
    results: list[LotResult] = []
    refused: dict[int, str] = {}
    for lot, outcome in zip(commands, outcomes, strict=True):
        if isinstance(outcome, Rejected):
            refused[lot] = outcome.reason
        elif isinstance(outcome, Accepted):
            results.append(lot_result(outcome.state))
    return RevealReport(sale, at_ms, sorted(officers), results, refused)


async def _submissions(store: LotStore, sale: int, lot: int) -> dict[int, TenderBidSubmitted]:
    """The lot's sealed bids as submitted, by seq: its whole stream (or the record, once trimmed)."""
    found: dict[int, TenderBidSubmitted] = {}
    after = 0
    while True:
        events = await store.events_after(sale, lot, after, EVENTS_PAGE)
        found.update((e.seq, e) for e in events if isinstance(e, TenderBidSubmitted))
        if len(events) < EVENTS_PAGE:
            return found
        after = events[-1].seq


async def _reveal_commands(
    store: LotStore, sale: int, states: list[LotState], opened: dict[int, tuple[RevealedBid, ...]], at_ms: int
) -> dict[int, RevealTender]:
    """Each lot's RevealTender, with the buyers the limit rule keeps from winning it, reckoned over every lot
    opened (now, or by an earlier reveal that stopped half way)."""
    lots = {s.terms.lot: msgspec.structs.replace(s, revealed=opened[s.terms.lot]) if s.terms.lot in opened else s
            for s in states if s.terms.lot in opened or s.revealed}  # fmt: skip
    bidders = sorted({bid.bidder for state in lots.values() for bid in state.revealed})
    standings: dict[int, BidderStanding | None] = {b: await store.standing(sale, b) for b in bidders}
    excluded = exclusions(lots, standings, at_ms)
    return {lot: RevealTender(at_ms, bids, excluded[lot]) for lot, bids in sorted(opened.items())}


async def _recorded(pg: asyncpg.Pool, sale: int, officers: list[int], by: Account | None) -> None:
    async with pg.acquire() as conn, conn.transaction():
        await records.mark_revealed(conn, sale, officers)
        await audit(conn, by, "tender_revealed", f"sale:{sale}", details={"officers": officers})


__all__ = ["RevealReport", "closed_lots", "open_bids", "rebuild_key", "recognise", "reveal_tender", "tender_of"]
