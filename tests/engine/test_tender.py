"""Sealed-bid tenders, rule by rule (DOMAIN.md "Sealed-bid tenders"; auction/engine/formats/tender.py and
tender_award.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import reduce

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from auction.engine.formats.tender import commitment, total_of
from auction.engine.ladder import Band, Ladder
from auction.engine.lot import LotState, LotTerms, bidders_of, decide, evolve, new_lot, replay
from auction.engine.messages import (
    AcceptTenderOffer,
    AnyCommand,
    AnyEvent,
    CloseLot,
    DeclineTenderOffer,
    LotSold,
    OpenLot,
    Rejected,
    RevealedBid,
    RevealTender,
    SubmitTenderBid,
)
from auction.engine.premium import flat
from auction.engine.standing import BidContext, BidderStanding
from auction.engine.state import SoftClose, TenderTerms
from auction.engine.tender_award import exclusions
from auction.engine.views import TenderResultShown, public_event

START, BIDS_FROM, END = 1_000, 5_000, 9_000
DAY = 86_400_000


def tender_terms(lot: int = 1, reserve: int = 0, carat_points: int = 250) -> LotTerms:
    return LotTerms(
        sale=3, lot=lot, opening=1, reserve=reserve, start_ms=START, end_ms=END, ladder=Ladder((Band(0, 1),)),
        soft_close=SoftClose(0, 0), consignor=999, format="tender", premium=flat(0),
        tender=TenderTerms(bids_from_ms=BIDS_FROM, acceptance_window_ms=DAY, carat_points=carat_points),
    )  # fmt: skip


@dataclass
class Sealed:
    """A buyer's bid as the gateway would seal it: what the reveal opens, and the commitment it must match."""

    bidder: int
    amount: int
    per_carat: int | None = None
    client_id: str = ""
    salt: str = "s4lt"

    def submit(self, terms: LotTerms, at: int = BIDS_FROM + 1, priority: int = 1) -> SubmitTenderBid:
        cid = self.client_id or f"t{self.bidder}-{self.amount}"
        made = commitment(terms.sale, terms.lot, self.bidder, cid, self.amount, self.per_carat, self.salt)
        return SubmitTenderBid(at, self.bidder, 100 + self.bidder, cid, "c2VhbGVk", made, priority)

    def opened(self) -> RevealedBid:
        return RevealedBid(self.bidder, self.client_id or f"t{self.bidder}-{self.amount}", self.amount,
                           self.per_carat, self.salt)  # fmt: skip


@dataclass
class Lot:
    state: LotState
    events: list[AnyEvent] = field(default_factory=list)

    def do(self, command: AnyCommand) -> tuple[AnyEvent, ...] | Rejected:
        decision = decide(self.state, command)
        if not isinstance(decision, Rejected):
            self.state = reduce(evolve, decision, self.state)
            self.events.extend(decision)
        return decision

    def ok(self, command: AnyCommand) -> list[str]:
        decision = self.do(command)
        assert not isinstance(decision, Rejected), decision
        return [type(event).__name__ for event in decision]


def bidding(terms: LotTerms | None = None) -> Lot:
    lot = Lot(new_lot(terms or tender_terms()))
    lot.ok(OpenLot(BIDS_FROM))
    return lot


def test_viewing_then_the_bid_window() -> None:
    lot = Lot(new_lot(tender_terms()))
    assert lot.ok(OpenLot(START)) == ["ViewingOpened"]
    assert lot.do(Sealed(1, 5_000).submit(lot.state.terms)) == Rejected("lot_not_open")
    assert lot.do(OpenLot(BIDS_FROM - 1)) == Rejected("not_due")
    assert lot.ok(OpenLot(BIDS_FROM)) == ["LotOpened"]
    assert Lot(new_lot(tender_terms())).ok(OpenLot(BIDS_FROM)) == ["ViewingOpened", "LotOpened"]  # a late scheduler


def test_the_latest_bid_replaces_the_earlier_and_the_window_closes_at_the_end() -> None:
    lot = bidding()
    terms = lot.state.terms
    lot.ok(Sealed(1, 5_000).submit(terms))
    lot.ok(Sealed(1, 7_000).submit(terms, at=BIDS_FROM + 2))
    assert [(s.bidder, s.commitment) for s in lot.state.sealed] == [(1, Sealed(1, 7_000).submit(terms).commitment)]
    assert lot.do(Sealed(2, 1).submit(terms, at=END)) == Rejected("too_late")
    assert lot.do(CloseLot(END - 1)) == Rejected("not_due")
    assert lot.ok(CloseLot(END)) == ["BidsClosed"]
    assert lot.state.status == "awaiting_reveal"


def test_who_bids_is_checked_at_submission_though_no_limit_can_be() -> None:
    lot = bidding()
    bid = Sealed(1, 5_000).submit(lot.state.terms)
    assert decide(lot.state, bid, BidContext(None)) == Rejected("not_registered")
    assert decide(lot.state, bid, BidContext(standing(1, 10**9, refused=True))) == Rejected("suspended")
    own = msgspec.structs.replace(standing(1, 10**9), consignor_ids=(999,))  # the lot's consignor's company
    assert decide(lot.state, bid, BidContext(own)) == Rejected("own_lot")
    broke = BidContext(standing(1, 0), exposure=10**12)  # a limit long spent: the amount is sealed, so it can't count
    assert [type(e).__name__ for e in decide(lot.state, bid, broke)] == ["TenderBidSubmitted"]  # type: ignore[union-attr]
    assert bidders_of(bid, lot.state) == [1]


def revealed(reserve: int, bids: list[Sealed], carat_points: int = 250) -> Lot:
    lot = bidding(tender_terms(reserve=reserve, carat_points=carat_points))
    for offset, bid in enumerate(bids):
        lot.ok(bid.submit(lot.state.terms, at=BIDS_FROM + 1 + offset))
    lot.ok(CloseLot(END))
    return lot


def test_the_highest_bid_at_the_reserve_wins_and_equal_bids_go_to_the_earliest() -> None:
    lot = revealed(6_000, [Sealed(1, 6_500), Sealed(2, 7_000), Sealed(3, 7_000)])
    opened = tuple(b.opened() for b in (Sealed(3, 7_000), Sealed(1, 6_500), Sealed(2, 7_000)))
    assert lot.ok(RevealTender(END + 10, opened)) == ["TenderRevealed", "LotSold"]
    sold = lot.events[-1]
    assert isinstance(sold, LotSold) and (sold.bidder, sold.hammer) == (2, 7_000)  # 2 submitted before 3
    assert [b.bidder for b in lot.state.revealed] == [2, 3, 1]
    assert (lot.state.leader, lot.state.price, lot.state.status) == (2, 7_000, "sold")


def test_a_reveal_must_open_exactly_the_sealed_bids() -> None:
    bids = [Sealed(1, 6_500), Sealed(2, 7_000)]
    lot = revealed(0, bids)
    assert lot.do(RevealTender(END, (bids[0].opened(),))) == Rejected("reveal_mismatch")  # one held back
    forged = RevealedBid(2, bids[1].opened().client_id, 6_999, None, "s4lt")  # not what 2 committed to
    assert lot.do(RevealTender(END, (bids[0].opened(), forged))) == Rejected("reveal_mismatch")
    extra = Sealed(9, 1).opened()
    assert lot.do(RevealTender(END, (*(b.opened() for b in bids), extra))) == Rejected("reveal_mismatch")


def test_a_bid_per_carat_counts_at_its_total_rounded_half_up() -> None:
    assert total_of(12_345, 101) == 12_468  # 12,345 x 1.01 = 12,468.45
    assert total_of(1_005, 50) == 503  # 502.5: half up
    per_carat = Sealed(1, total_of(4_000, 250), per_carat=4_000)
    lot = revealed(0, [per_carat])
    assert lot.ok(RevealTender(END, (per_carat.opened(),))) == ["TenderRevealed", "LotSold"]
    wrong = Sealed(2, 9_999, per_carat=4_000)  # a total that is not the per-carat figure's
    lot = revealed(0, [wrong])
    assert lot.do(RevealTender(END, (wrong.opened(),))) == Rejected("reveal_mismatch")


def test_below_the_reserve_the_consignor_may_accept_within_the_window() -> None:
    lot = revealed(10_000, [Sealed(1, 8_000), Sealed(2, 9_000)])
    assert lot.ok(RevealTender(END, (Sealed(1, 8_000).opened(), Sealed(2, 9_000).opened()))) == [
        "TenderRevealed", "AcceptanceOffered",
    ]  # fmt: skip
    assert lot.state.status == "awaiting_acceptance" and lot.state.offer is not None
    assert lot.do(AcceptTenderOffer(END + DAY)) == Rejected("window_closed")
    assert lot.ok(AcceptTenderOffer(END + 1)) == ["LotSold"]
    assert (lot.state.leader, lot.state.price) == (2, 9_000)

    declined = revealed(10_000, [Sealed(1, 8_000)])
    declined.ok(RevealTender(END, (Sealed(1, 8_000).opened(),)))
    assert declined.ok(DeclineTenderOffer(END + 1)) == ["LotPassed"]

    lapsed = revealed(10_000, [Sealed(1, 8_000)])
    lapsed.ok(RevealTender(END, (Sealed(1, 8_000).opened(),)))
    assert lapsed.do(CloseLot(END + DAY - 1)) == Rejected("not_due")
    assert lapsed.ok(CloseLot(END + DAY)) == ["LotPassed"]


def test_no_bid_passes_the_lot() -> None:
    lot = revealed(0, [])
    assert lot.ok(RevealTender(END, ())) == ["TenderRevealed", "LotPassed"]


# ---- limits at the reveal ---------------------------------------------------------------------------------------


def standing(bidder: int, limit: int, refused: bool = False) -> BidderStanding:
    return BidderStanding(bidder, 100 + bidder, limit, "suspended" if refused else None, 10**15)


def revealed_sale(bids: dict[int, list[tuple[Sealed, int]]]) -> dict[int, LotState]:
    """lot -> its state once closed and opened (not yet awarded), each bid with its buyer's priority."""
    lots = {}
    for lot_no, entries in bids.items():
        lot = bidding(tender_terms(lot=lot_no))
        for offset, (bid, priority) in enumerate(entries):
            lot.ok(bid.submit(lot.state.terms, at=BIDS_FROM + 1 + offset, priority=priority))
        lot.ok(CloseLot(END))
        lots[lot_no] = msgspec.structs.replace(lot.state, revealed=tuple(bid.opened() for bid, _ in entries))
    return lots


def test_a_buyer_over_their_limit_keeps_their_bids_in_priority_order_and_each_lot_beyond_goes_to_its_next_bid() -> None:
    lots = revealed_sale({
        1: [(Sealed(1, 5_000), 2), (Sealed(2, 4_000), 1)],
        2: [(Sealed(1, 6_000), 1), (Sealed(3, 1_000), 1)],
    })  # fmt: skip
    standings = {1: standing(1, 6_000), 2: standing(2, 10**9), 3: standing(3, 10**9)}
    # 1 wins both (11,000), has room for 6,000: keeps lot 2 (priority 1); lot 1 goes to 2's 4,000
    assert exclusions(lots, standings, END) == {1: (1,), 2: ()}


def test_the_rule_runs_again_when_a_lot_passed_on_takes_its_next_bidder_over_their_limit() -> None:
    lots = revealed_sale({
        1: [(Sealed(1, 5_000), 2), (Sealed(2, 4_000), 2)],
        2: [(Sealed(1, 6_000), 1), (Sealed(3, 1_000), 1)],
        3: [(Sealed(2, 3_000), 1), (Sealed(3, 2_000), 2)],
    })  # fmt: skip
    standings = {1: standing(1, 6_000), 2: standing(2, 4_000), 3: standing(3, 10**9)}
    # 1 keeps lot 2; lot 1 goes to 2, who then holds 3,000 (lot 3, priority 1) + 4,000: keeps lot 3, and lot 1
    # goes on to nobody else (3 did not bid on it)
    assert exclusions(lots, standings, END) == {1: (1, 2), 2: (), 3: ()}


def test_a_buyer_who_may_not_buy_is_excluded_everywhere() -> None:
    lots = revealed_sale({1: [(Sealed(1, 5_000), 1), (Sealed(2, 1_000), 1)]})
    assert exclusions(lots, {1: standing(1, 10**9, refused=True), 2: standing(2, 10**9)}, END) == {1: (1,)}


def test_an_excluded_buyer_does_not_win_the_lot() -> None:
    lot = revealed(0, [Sealed(1, 5_000), Sealed(2, 4_000)])
    lot.ok(RevealTender(END, (Sealed(1, 5_000).opened(), Sealed(2, 4_000).opened()), excluded=(1,)))
    assert (lot.state.leader, lot.state.price) == (2, 4_000)


# ---- what the public sees --------------------------------------------------------------------------------------


def test_nothing_of_a_bid_is_public_before_the_reveal_and_the_result_names_nobody() -> None:
    secret = Sealed(55_555, 987_654)
    lot = revealed(0, [secret])
    lot.ok(RevealTender(END, (secret.opened(),)))
    terms = lot.state.terms
    before = [public_event(terms, e) for e in lot.events if type(e).__name__ in ("TenderBidSubmitted", "BidsClosed")]
    assert "987654" not in msgspec.json.encode(before).decode() and "55555" not in msgspec.json.encode(before).decode()
    result = public_event(terms, lot.events[-1])
    assert result == TenderResultShown(result.seq, result.at_ms, "sold", 987_654, 395_062)  # 987,654 / 2.5 ct
    assert "55555" not in msgspec.json.encode(result).decode()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 5), st.integers(1, 10_000)), max_size=12), st.integers(0, 8_000))
def test_replaying_a_tender_gives_its_state(bids: list[tuple[int, int]], reserve: int) -> None:
    latest = {bidder: Sealed(bidder, amount, client_id=f"c{i}") for i, (bidder, amount) in enumerate(bids)}
    lot = bidding(tender_terms(reserve=reserve))
    for i, (bidder, amount) in enumerate(bids):
        lot.ok(Sealed(bidder, amount, client_id=f"c{i}").submit(lot.state.terms, at=BIDS_FROM + 1 + i))
    lot.ok(CloseLot(END))
    lot.ok(RevealTender(END, tuple(bid.opened() for bid in latest.values())))
    if lot.state.status == "sold":
        top = max(latest.values(), key=lambda b: b.amount)
        assert lot.state.price == top.amount >= reserve
    assert replay(lot.state.terms, lot.events) == lot.state
