"""The rostrum console's view of a live lot (auction/engine/views.py: commission_bar, missed_bids, live_console),
rule by rule, on lots driven through the pure core. A flat ladder of 100: after a bid at P the ask is P + 100."""

from __future__ import annotations

from auction.engine.messages import HammerLot, OpenLot, PlaceBid, ReopenLot, SetIncrement
from auction.engine.standing import BidderStanding, BookContext
from auction.engine.state import Absentee
from auction.engine.views import Commission, Waiting, commission_bar, live_console, missed_bids
from tests.engine.test_live import Lot, T, floor, live_terms, online


def book(*maximums: tuple[int, int]) -> Lot:
    """A scheduled lot whose absentee book holds (bidder, maximum) in this order."""
    lot = Lot.of()
    for bidder, maximum in maximums:
        lot.ok(online(bidder, maximum, kind="max"))
    return lot


def test_before_the_open_the_bar_is_the_highest_absentee_bid_and_the_first_received_wins_a_tie() -> None:
    assert commission_bar(Lot.of().state) is None
    assert commission_bar(book((1, 3_000), (2, 5_000), (3, 5_000)).state) == Absentee(2, 102, 5_000, "o2-5000-1000000")


def test_the_bar_leaves_out_the_winning_absentee_and_any_below_the_ask() -> None:
    lot = book((1, 5_000), (2, 1_500))
    lot.ok(OpenLot(T, ask=1_000))  # 1 leads at 1,600, asking 1,700: 2's 1,500 is below it
    assert (lot.state.leader, lot.state.ask) == (1, 1_700)
    assert commission_bar(lot.state) is None


def test_an_absentee_that_could_not_execute_at_the_open_is_on_the_bar_while_the_room_bids_below_it() -> None:
    lot = book((1, 5_000))
    suspended = BidderStanding(1, 101, 10**9, "suspended", 10**15)
    lot.ok(OpenLot(T, ask=1_000), context=BookContext({1: suspended}, {}))
    lot.ok(floor(2))
    bar = commission_bar(lot.state)
    assert (lot.state.leader, lot.state.ask) == (2, 1_100) and bar is not None and bar.bidder == 1


def test_missed_bids_are_those_since_the_last_hammer_of_a_closed_lot() -> None:
    lot = Lot.of(live_terms(missed_bid_window_ms=1_500))
    lot.ok(OpenLot(T))
    lot.ok(floor(1))
    lot.ok(HammerLot(T))
    lot.ok(online(2, 1_100, at=T + 500))
    assert [(m.bidder, m.after_hammer_ms) for m in missed_bids(lot.state, lot.events)] == [(2, 500)]
    lot.ok(ReopenLot(T + 600, "a missed bid"))
    assert missed_bids(lot.state, lot.events) == []  # bidding goes on: the late bidder may bid again
    lot.ok(PlaceBid(T + 700, 2, 102, 1_100, "again"))
    lot.ok(HammerLot(T + 800))
    assert missed_bids(lot.state, lot.events) == []  # the earlier hammer's late bid is not this one's


def test_the_console_shows_the_ask_the_step_the_lead_the_waiting_bid_and_the_book() -> None:
    lot = Lot.of(live_terms(auto_accept=False))
    lot.ok(online(3, 2_000, kind="max"))
    view = live_console(lot.state, lot.events)
    assert (view.ask, view.increment, view.lead_source, view.waiting) == (1_000, 100, None, None)
    assert view.absentees == [Commission(3, 103, 2_000)] and view.commission_bar == Commission(3, 103, 2_000)
    lot.ok(OpenLot(T, ask=1_000))  # the book opens for 3 at 1,000
    lot.ok(SetIncrement(T, 250))
    lot.ok(online(2, 1_250, cid="w-1"))
    view = live_console(lot.state, lot.events)
    assert (view.ask, view.increment, view.lead_source) == (1_250, 250, "absentee")
    assert view.waiting == Waiting(2, 102, 1_250, "w-1") and view.commission_bar is None and view.missed == []
