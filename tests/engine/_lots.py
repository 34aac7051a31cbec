"""Small builders shared by the engine tests: terms, commands, and a driver that feeds commands through
decide and evolve the way the executor does (events committed only when the command is accepted)."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from auction.engine.ladder import EBAY_LADDER_USD, Ladder
from auction.engine.lot import LotState, LotTerms, SoftClose, decide, evolve, new_lot
from auction.engine.messages import (
    AnyCommand,
    AnyEvent,
    BidAccepted,
    BidKind,
    CloseLot,
    LotExtended,
    LotOpened,
    LotPassed,
    LotSold,
    LotWithdrawn,
    MaxBidRaised,
    OpenLot,
    PlaceBid,
    ProxyBidPlaced,
    Rejected,
    WithdrawLot,
)

START = 1_000
END = 10_000_000
NO_SOFT_CLOSE = SoftClose(window_ms=0, extension_ms=0)


def terms(
    *,
    ladder: Ladder = EBAY_LADDER_USD,
    opening: int = 100,
    reserve: int = 0,
    start_ms: int = START,
    end_ms: int = END,
    soft_close: SoftClose = NO_SOFT_CLOSE,
) -> LotTerms:
    return LotTerms(
        sale=1,
        lot=7,
        opening=opening,
        reserve=reserve,
        start_ms=start_ms,
        end_ms=end_ms,
        ladder=ladder,
        soft_close=soft_close,
        consignor=999,
    )


def paddle(bidder: int) -> int:
    return 100 + bidder


def bid(bidder: int, amount: int, at_ms: int, kind: BidKind = "bid") -> PlaceBid:
    return PlaceBid(
        at_ms=at_ms, bidder=bidder, paddle=paddle(bidder), amount=amount, client_id=f"c{bidder}-{at_ms}", kind=kind
    )


def max_bid(bidder: int, amount: int, at_ms: int) -> PlaceBid:
    return bid(bidder, amount, at_ms, "max")


def close(at_ms: int) -> CloseLot:
    return CloseLot(at_ms=at_ms)


def open_lot(at_ms: int) -> OpenLot:
    return OpenLot(at_ms=at_ms)


def withdraw(at_ms: int, reason: str = "consignor withdrew") -> WithdrawLot:
    return WithdrawLot(at_ms=at_ms, reason=reason)


Summary = tuple[object, ...]


def summary(event: AnyEvent) -> Summary:
    """An event in a compact form for tables: its type and the facts that matter to the rules."""
    match event:
        case LotOpened():
            return ("opened",)
        case BidAccepted():
            return ("bid", event.bidder, event.amount, event.max_amount)
        case ProxyBidPlaced():
            return ("proxy", event.bidder, event.amount, event.reason)
        case MaxBidRaised():
            return ("raised", event.bidder, event.max_amount)
        case LotExtended():
            return ("extended", event.end_ms)
        case LotSold():
            return ("sold", event.bidder, event.hammer)
        case LotPassed():
            return ("passed", event.highest_bid)
        case LotWithdrawn():
            return ("withdrawn",)
    raise AssertionError(f"unknown event {event!r}")


class Run(msgspec.Struct):
    state: LotState
    outcomes: list[tuple[Summary, ...] | Rejected]
    events: list[AnyEvent]


def run(lot_terms: LotTerms, commands: Iterable[AnyCommand]) -> Run:
    """Decide each command in turn; apply the events of accepted ones. Checks seq and event times as it goes."""
    state = new_lot(lot_terms)
    outcomes: list[tuple[Summary, ...] | Rejected] = []
    events: list[AnyEvent] = []
    for command in commands:
        decision = decide(state, command)
        if isinstance(decision, Rejected):
            outcomes.append(decision)
            continue
        assert decision, f"an accepted command must emit something: {command!r}"
        for event in decision:
            assert event.seq == state.seq + 1
            assert event.at_ms == command.at_ms
            state = evolve(state, event)
            events.append(event)
        outcomes.append(tuple(summary(e) for e in decision))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    return Run(state=state, outcomes=outcomes, events=events)
