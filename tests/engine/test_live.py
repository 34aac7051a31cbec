"""Live sales, rule by rule (DOMAIN.md "Live sales"; auction/engine/formats/live.py), and their properties.

A flat ladder of 100 keeps the arithmetic visible: after a bid at P the ask is P + 100, unless the auctioneer
changed the increment or the ask.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import reduce

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auction.engine.ladder import Band, Ladder
from auction.engine.lot import LotState, LotTerms, decide, evolve, new_lot, replay
from auction.engine.messages import (
    AbsenteeBidLeft,
    AcceptOnlineBid,
    AnyCommand,
    AnyEvent,
    BidAccepted,
    CallFairWarning,
    DeclineOnlineBid,
    HammerLot,
    LateBidNoted,
    LotSold,
    OpenLot,
    PassLot,
    PauseLot,
    PlaceBid,
    ProxyBidPlaced,
    Rejected,
    ReopenLot,
    ResumeLot,
    SetAsk,
    SetIncrement,
    TakeBid,
    UndoBid,
    WithdrawLot,
)
from auction.engine.standing import BidContext, BidderStanding, BookContext
from auction.engine.state import HOUSE, LiveTerms, Rostrum, SoftClose

FLAT = Ladder((Band(0, 100),))
T = 1_000_000


def live_terms(*, reserve: int = 0, opening: int = 1_000, **live: object) -> LotTerms:
    return LotTerms(
        sale=1, lot=7, opening=opening, reserve=reserve, start_ms=0, end_ms=0, ladder=FLAT,
        soft_close=SoftClose(0, 0), consignor=999, format="live", live=LiveTerms(**live),  # type: ignore[arg-type]
    )  # fmt: skip


def online(bidder: int, amount: int, at: int = T, kind: str = "bid", cid: str | None = None) -> PlaceBid:
    return PlaceBid(at, bidder, 100 + bidder, amount, cid or f"o{bidder}-{amount}-{at}", kind)  # type: ignore[arg-type]


def floor(bidder: int, at: int = T, source: str = "floor") -> TakeBid:
    return TakeBid(at, bidder, 100 + bidder, source, f"f{bidder}-{at}")  # type: ignore[arg-type]


@dataclass
class Lot:
    """A live lot driven through decide/evolve; every outcome kept, events applied as the store would."""

    state: LotState
    events: list[AnyEvent] = field(default_factory=list)

    @classmethod
    def of(cls, terms: LotTerms | None = None) -> Lot:
        return cls(new_lot(terms or live_terms()))

    def do(self, command: AnyCommand, context: BidContext | BookContext | None = None,
           rostrum: Rostrum | None = None) -> tuple[AnyEvent, ...] | Rejected:  # fmt: skip
        decision = decide(self.state, command, context, rostrum)
        if not isinstance(decision, Rejected):
            self.state = reduce(evolve, decision, self.state)
            self.events.extend(decision)
        return decision

    def ok(self, command: AnyCommand, **kw: object) -> list[str]:
        decision = self.do(command, **kw)  # type: ignore[arg-type]
        assert not isinstance(decision, Rejected), decision
        return [type(event).__name__ for event in decision]


def opened(terms: LotTerms | None = None, ask: int = 1_000) -> Lot:
    lot = Lot.of(terms)
    lot.ok(OpenLot(T, ask=ask))
    return lot


# ---- opening, asking, bids at the ask ---------------------------------------------------------------------------


def test_the_auctioneer_opens_at_an_ask_and_every_bid_moves_it_one_increment() -> None:
    lot = Lot.of()
    assert lot.ok(OpenLot(T, ask=1_500)) == ["LotOpened"]
    assert lot.state.status == "open" and lot.state.ask == 1_500 and lot.state.next_minimum == 1_500
    assert lot.ok(floor(1)) == ["BidAccepted", "AskSet"]
    assert (lot.state.price, lot.state.leader, lot.state.leader_source, lot.state.ask) == (1_500, 1, "floor", 1_600)
    assert lot.ok(online(2, 1_600)) == ["BidAccepted", "AskSet"]
    assert (lot.state.price, lot.state.leader, lot.state.leader_source) == (1_600, 2, "online")


def test_an_online_bid_is_a_bid_at_the_ask_and_the_second_at_one_ask_is_told_another_was_taken() -> None:
    lot = opened()
    lot.ok(online(1, 1_000))
    assert lot.do(online(2, 1_000)) == Rejected("another_bid_taken", 1_100)
    assert lot.do(online(2, 1_200)) == Rejected("not_the_ask", 1_100)
    assert lot.do(online(2, 5_000, kind="max")) == Rejected("not_the_ask", 1_100)
    assert lot.do(online(1, 1_100)) == Rejected("already_leading", 1_100)


def test_the_auctioneer_changes_the_increment_and_jumps_the_ask() -> None:
    lot = opened()
    lot.ok(floor(1))
    assert lot.ok(SetIncrement(T, 250)) == ["IncrementChanged"]
    assert lot.state.ask == 1_250
    lot.ok(floor(2))
    assert (lot.state.price, lot.state.ask) == (1_250, 1_500)
    assert lot.ok(SetAsk(T, 2_000)) == ["AskSet"]
    assert lot.state.ask == 2_000
    assert lot.do(SetAsk(T, 1_250)) == Rejected("bad_amount", 1_500)  # not above the price
    assert lot.do(SetIncrement(T, 0)) == Rejected("bad_amount")


# ---- the clerk and online bids ----------------------------------------------------------------------------------


def test_without_auto_accept_an_online_bid_waits_for_the_clerk_and_the_first_one_in_holds_the_ask() -> None:
    lot = opened(live_terms(auto_accept=False))
    assert lot.ok(online(1, 1_000)) == ["OnlineBidPending"]
    assert lot.do(online(2, 1_000)) == Rejected("another_bid_taken", 1_000)
    assert lot.ok(AcceptOnlineBid(T)) == ["BidAccepted", "AskSet"]
    assert (lot.state.leader, lot.state.pending) == (1, None)
    lot.ok(online(2, 1_100))
    assert lot.ok(DeclineOnlineBid(T)) == ["OnlineBidDeclined"]
    assert (lot.state.leader, lot.state.pending) == (1, None)
    assert lot.do(AcceptOnlineBid(T)) == Rejected("no_pending_bid")


def test_a_floor_bid_taken_while_an_online_bid_waits_stands_and_the_online_bidder_is_told() -> None:
    lot = opened(live_terms(auto_accept=False))
    lot.ok(online(1, 1_000))
    assert lot.ok(floor(3)) == ["OnlineBidDeclined", "BidAccepted", "AskSet"]
    declined = lot.events[-3]
    assert declined.reason == "another_bid_taken" and declined.bidder == 1
    assert lot.state.leader == 3 and lot.state.pending is None


# ---- absentee (commission) bids -------------------------------------------------------------------------------


def test_the_absentee_book_executes_at_the_open_like_maximum_bids() -> None:
    lot = Lot.of()
    assert lot.ok(online(1, 5_000, kind="max")) == ["AbsenteeBidLeft"]
    lot.ok(online(2, 4_000, kind="max"))
    assert lot.do(online(3, 2_000)) == Rejected("lot_not_open", 1_000)  # a plain bid can't be left
    assert lot.do(online(3, 500, kind="max")) == Rejected("too_low", 1_000)
    lot.ok(OpenLot(T, ask=1_000))
    # the book: 1 (5,000) leads, at the runner-up's 4,000 plus an increment
    assert (lot.state.leader, lot.state.price, lot.state.leader_source, lot.state.ask) == (1, 4_100, "absentee", 4_200)


def test_a_leading_absentee_answers_the_room_and_never_bids_above_its_maximum() -> None:
    lot = Lot.of()
    lot.ok(online(1, 5_000, kind="max"))
    lot.ok(OpenLot(T, ask=1_000))
    assert (lot.state.leader, lot.state.price) == (1, 1_000)
    assert lot.ok(floor(2)) == ["BidAccepted", "ProxyBidPlaced", "AskSet"]  # 1,100 from the room, 1,200 from the book
    assert (lot.state.leader, lot.state.price) == (1, 1_200)
    lot.ok(SetAsk(T, 5_000))
    lot.ok(floor(2))  # 5,000: the book's maximum, and the book was first
    assert (lot.state.leader, lot.state.price) == (1, 5_000)
    lot.ok(floor(3))  # 5,100: past the maximum
    assert (lot.state.leader, lot.state.price, lot.state.leader_source) == (3, 5_100, "floor")
    amounts = [e.amount for e in lot.events if isinstance(e, BidAccepted | ProxyBidPlaced) and e.bidder == 1]
    assert max(amounts) <= 5_000


def test_equal_absentee_bids_the_first_received_wins() -> None:
    lot = Lot.of()
    lot.ok(online(2, 3_000, kind="max"))
    lot.ok(online(1, 3_000, kind="max"))
    lot.ok(OpenLot(T))
    assert (lot.state.leader, lot.state.price) == (2, 3_000)


def test_an_absentee_is_held_to_its_standing_and_limit_when_the_lot_opens() -> None:
    lot = Lot.of()
    lot.ok(online(1, 5_000, kind="max"))
    lot.ok(online(2, 4_000, kind="max"))
    suspended = BidderStanding(1, 101, 10**9, "suspended", 10**15)
    fine = BidderStanding(2, 102, 10**9, None, 10**15)
    lot.ok(OpenLot(T), context=BookContext({1: suspended, 2: fine}, {}))
    assert (lot.state.leader, lot.state.price) == (2, 1_000)


# ---- fair warning, the hammer, the missed bid, reopening -------------------------------------------------------


def test_fair_warning_then_a_bid_returns_to_open_and_the_hammer_sells_to_the_leader() -> None:
    lot = opened(live_terms(reserve=1_100))
    lot.ok(floor(1))
    assert lot.ok(CallFairWarning(T)) == ["FairWarningCalled"]
    assert lot.state.status == "fair_warning"
    assert lot.do(HammerLot(T)) == Rejected("reserve_not_met")
    lot.ok(online(2, 1_100))
    assert lot.state.status == "open"
    lot.ok(CallFairWarning(T))
    assert lot.ok(HammerLot(T + 5)) == ["LotSold"]
    sold = lot.events[-1]
    assert isinstance(sold, LotSold) and (sold.hammer, sold.bidder) == (1_100, 2)
    assert lot.state.status == "sold" and lot.state.hammered_at_ms == T + 5


def test_a_lot_below_the_reserve_is_passed() -> None:
    lot = opened(live_terms(reserve=9_000))
    lot.ok(floor(1))
    assert lot.ok(PassLot(T)) == ["LotPassed"]
    assert lot.state.status == "passed"


def test_an_online_bid_waiting_at_the_hammer_is_refused_as_too_late_and_noted() -> None:
    lot = opened(live_terms(auto_accept=False))
    lot.ok(floor(1))
    lot.ok(online(2, 1_100))
    assert lot.ok(HammerLot(T)) == ["OnlineBidDeclined", "LotSold", "LateBidNoted"]
    assert lot.state.leader == 1


def test_an_online_bid_just_after_the_hammer_is_noted_and_one_later_is_not() -> None:
    lot = opened(live_terms(missed_bid_window_ms=1_500))
    lot.ok(floor(1))
    lot.ok(HammerLot(T))
    assert lot.ok(online(2, 1_100, at=T + 1_500)) == ["LateBidNoted"]
    noted = lot.events[-1]
    assert isinstance(noted, LateBidNoted) and noted.after_hammer_ms == 1_500
    assert lot.state.status == "sold"
    assert lot.do(online(3, 1_100, at=T + 1_501)) == Rejected("lot_closed")


def test_a_lot_may_be_reopened_only_before_the_next_one_opens() -> None:
    lot = opened()
    lot.ok(floor(1))
    lot.ok(HammerLot(T))
    assert lot.do(ReopenLot(T, "missed bid"), rostrum=Rostrum(on_block=8, last_opened=8)) == Rejected(
        "another_lot_open"
    )
    assert lot.do(ReopenLot(T, "missed bid"), rostrum=Rostrum(None, last_opened=8)) == Rejected("not_last_lot")
    assert lot.ok(ReopenLot(T, "missed bid"), rostrum=Rostrum(None, last_opened=7)) == ["LotReopened"]
    assert (lot.state.status, lot.state.leader, lot.state.price, lot.state.ask) == ("open", 1, 1_000, 1_100)
    lot.ok(online(2, 1_100))
    assert lot.ok(HammerLot(T)) == ["LotSold"]


def test_one_lot_at_a_time() -> None:
    assert Lot.of().do(OpenLot(T), rostrum=Rostrum(on_block=3, last_opened=3)) == Rejected("another_lot_open")
    assert Lot.of().ok(OpenLot(T), rostrum=Rostrum(None, last_opened=3)) == ["LotOpened"]


# ---- undo, pause, withdraw, house bids, limits ---------------------------------------------------------------


def test_undo_takes_back_the_newest_bid_only_with_the_answer_it_drew() -> None:
    lot = Lot.of()
    lot.ok(online(1, 1_500, kind="max"))
    lot.ok(OpenLot(T))
    before = (lot.state.price, lot.state.leader, lot.state.ask, lot.state.bid_count)
    lot.ok(floor(2))  # the book answers at 1,200
    assert (lot.state.price, lot.state.leader) == (1_200, 1)
    assert lot.ok(UndoBid(T)) == ["BidUndone"]
    assert (lot.state.price, lot.state.leader, lot.state.ask, lot.state.bid_count) == before
    assert lot.ok(UndoBid(T)) == ["BidUndone"]  # the book's own opening bid
    assert (lot.state.leader, lot.state.price, lot.state.ask) == (None, 0, 1_000)
    assert lot.do(UndoBid(T)) == Rejected("nothing_to_undo")


def test_a_paused_lot_takes_no_bids_until_resumed() -> None:
    lot = opened()
    assert lot.ok(PauseLot(T, "phone line down")) == ["LotPaused"]
    assert lot.do(floor(1)) == Rejected("lot_not_open")
    assert lot.do(online(1, 1_000)) == Rejected("lot_not_open")
    assert lot.ok(ResumeLot(T)) == ["LotResumed"]
    lot.ok(floor(1))


def test_a_withdrawn_lot_takes_nothing() -> None:
    lot = opened()
    assert lot.ok(WithdrawLot(T, "consignor withdrew")) == ["LotWithdrawn"]
    assert lot.do(floor(1)) == Rejected("lot_closed")
    assert lot.do(ReopenLot(T, "x")) == Rejected("lot_closed")


def test_house_bids_only_where_allowed_and_only_below_the_reserve() -> None:
    assert opened(live_terms(reserve=1_200)).do(floor(HOUSE, source="house")) == Rejected("house_bids_not_allowed")
    lot = opened(live_terms(reserve=1_200, house_bids=True))
    lot.ok(floor(HOUSE, source="house"))
    assert (lot.state.leader, lot.state.leader_source, lot.state.price) == (HOUSE, "house", 1_000)
    lot.ok(floor(1))
    assert lot.do(floor(HOUSE, source="house")) == Rejected("reserve_reached")  # the ask, 1,200, is the reserve
    lot.ok(UndoBid(T))
    assert lot.do(HammerLot(T)) == Rejected("reserve_not_met")  # the house leads: nothing to sell
    lot.ok(PassLot(T))
    assert lot.events[-1].highest_bid == 0


def test_vetting_and_limits_hold_for_a_bid_from_the_floor() -> None:
    lot = opened()
    assert lot.do(floor(1), context=BidContext(None)) == Rejected("not_registered")
    poor = BidderStanding(1, 101, 1_200, None, 10**15)  # 1,200 all-in: less than 1,000 plus 26 % premium
    assert lot.do(floor(1), context=BidContext(poor)) == Rejected("over_limit", 1_000)
    rich = BidderStanding(1, 101, 10**9, None, 10**15)
    assert lot.ok(floor(1), context=BidContext(rich)) == ["BidAccepted", "AskSet"]


# ---- properties ---------------------------------------------------------------------------------------------------


def commands() -> st.SearchStrategy[AnyCommand]:
    bidders = st.integers(1, 4)
    at = st.integers(T, T + 3_000)
    return st.one_of(
        st.builds(lambda b, a: floor(b, at=a), bidders, at),
        st.builds(lambda b, a, k: online(b, k, at=a), bidders, at, st.integers(10, 40).map(lambda n: n * 100)),
        st.builds(lambda b, m: online(b, m, kind="max"), bidders, st.integers(10, 60).map(lambda n: n * 100)),
        st.builds(lambda a: OpenLot(a), at),
        st.builds(lambda a: CallFairWarning(a), at),
        st.builds(lambda a: HammerLot(a), at),
        st.builds(lambda a: PassLot(a), at),
        st.builds(lambda a: UndoBid(a), at),
        st.builds(lambda a: ReopenLot(a, "r"), at),
        st.builds(lambda a, n: SetIncrement(a, n), at, st.sampled_from([50, 100, 250])),
        st.builds(lambda a: AcceptOnlineBid(a), at),
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(commands(), max_size=40), st.booleans(), st.integers(0, 3_000))
def test_properties_of_any_live_lot(cmds: list[AnyCommand], auto: bool, reserve: int) -> None:
    lot = Lot.of(live_terms(reserve=reserve, auto_accept=auto))
    books: dict[int, int] = {}
    for command in cmds:
        leader, price = lot.state.leader, lot.state.price
        decision = lot.do(command)
        if isinstance(decision, Rejected):
            continue
        for event in decision:
            if isinstance(event, LotSold):  # the hammer price is the leading bid
                assert (event.hammer, event.bidder) == (price, leader)
            if isinstance(event, AbsenteeBidLeft):
                books[event.bidder] = event.max_amount
    for event in lot.events:  # an absentee never bids above its maximum
        if isinstance(event, ProxyBidPlaced) or (isinstance(event, BidAccepted) and event.source == "absentee"):
            assert event.amount <= books[event.bidder]
    assert replay(lot.state.terms, lot.events) == lot.state  # replaying the record gives the same state
    encoded = msgspec.msgpack.encode(lot.state)
    assert msgspec.msgpack.decode(encoded, type=LotState) == lot.state


@pytest.mark.parametrize("fmt", ["timed"])
def test_a_timed_lot_refuses_the_rostrum(fmt: str) -> None:
    timed = msgspec.structs.replace(live_terms(), format=fmt, start_ms=0, end_ms=10 * T)
    state = new_lot(timed)
    assert decide(state, floor(1)) == Rejected("lot_not_open")
    assert decide(state, HammerLot(T)) == Rejected("lot_not_open")
