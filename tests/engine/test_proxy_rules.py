"""The bidding rules of a timed lot, table-driven: commands in, events (or a refusal) out, final price and
leader. eBay's ladder for its classic published examples; the diamond ladder for the same rules at the prices
the trade pays. Amounts are cents. DOMAIN.md "Maximum (proxy) bids" and "Timed sales"."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from auction.engine.ladder import DIAMOND_LADDER_USD
from auction.engine.lot import LotTerms, SoftClose, decide, new_lot, replay
from auction.engine.messages import AnyCommand, Rejected

from ._lots import END, START, Summary, bid, close, max_bid, open_lot, paddle, run, terms, withdraw

A, B, C, D = 1, 2, 3, 4
OPENED: Summary = ("opened",)


@dataclass(frozen=True)
class Case:
    id: str
    commands: list[AnyCommand]
    outcomes: list[tuple[Summary, ...] | Rejected]
    price: int
    leader: int | None
    lot_terms: LotTerms = field(default_factory=terms)
    status: str = "open"
    end_ms: int = END


def diamond(opening: int, reserve: int = 0) -> LotTerms:
    return terms(ladder=DIAMOND_LADDER_USD, opening=opening, reserve=reserve)


EBAY_CASES = [
    Case(
        "first max bid opens at the opening price",
        [max_bid(A, 1000, 2000)],
        [(OPENED, ("bid", A, 100, 1000))],
        price=100,
        leader=A,
    ),
    Case(
        "first plain bid shows its own amount",
        [bid(A, 300, 2000)],
        [(OPENED, ("bid", A, 300, 300))],
        price=300,
        leader=A,
    ),
    Case(
        "ebay classic: A max 10.00, B bids 5.00 -> A at 5.50",
        [max_bid(A, 1000, 2000), bid(B, 500, 3000)],
        [(OPENED, ("bid", A, 100, 1000)), (("bid", B, 500, 500), ("proxy", A, 550, "answer"))],
        price=550,
        leader=A,
    ),
    Case(
        "ebay classic: then B max 20.00 -> A's proxy shows 10.00, B leads at 10.50",
        [max_bid(A, 1000, 2000), bid(B, 500, 3000), max_bid(B, 2000, 4000)],
        [
            (OPENED, ("bid", A, 100, 1000)),
            (("bid", B, 500, 500), ("proxy", A, 550, "answer")),
            (("proxy", A, 1000, "answer"), ("bid", B, 1050, 2000)),
        ],
        price=1050,
        leader=B,
    ),
    Case(
        "outbid by less than an increment: the leader's max caps the answer (B bids 9.80, A max 10.00)",
        [max_bid(A, 1000, 2000), bid(B, 980, 3000)],
        [(OPENED, ("bid", A, 100, 1000)), (("bid", B, 980, 980), ("proxy", A, 1000, "answer"))],
        price=1000,
        leader=A,
    ),
    Case(
        "outbid by less than an increment: the challenger's max caps its own bid (B max 10.20 over A max 10.00)",
        [max_bid(A, 1000, 2000), max_bid(B, 1020, 3000)],
        [(OPENED, ("bid", A, 100, 1000)), (("proxy", A, 1000, "answer"), ("bid", B, 1020, 1020))],
        price=1020,
        leader=B,
    ),
    Case(
        "equal maximums: the earlier leads at that amount",
        [max_bid(A, 1000, 2000), max_bid(B, 1000, 3000)],
        [(OPENED, ("bid", A, 100, 1000)), (("bid", B, 1000, 1000), ("proxy", A, 1000, "answer"))],
        price=1000,
        leader=A,
    ),
    Case(
        "a plain bid equal to the leader's maximum: the earlier maximum leads at that amount",
        [max_bid(A, 1000, 2000), bid(B, 1000, 3000)],
        [(OPENED, ("bid", A, 100, 1000)), (("bid", B, 1000, 1000), ("proxy", A, 1000, "answer"))],
        price=1000,
        leader=A,
    ),
    Case(
        "a rival max below the leader's is shown in full and answered one increment up",
        [max_bid(A, 2000, 2000), max_bid(B, 700, 3000)],
        [(OPENED, ("bid", A, 100, 2000)), (("bid", B, 700, 700), ("proxy", A, 750, "answer"))],
        price=750,
        leader=A,
    ),
    Case(
        "the leader raising their maximum does not move the price",
        [max_bid(A, 1000, 2000), bid(B, 500, 3000), max_bid(A, 2000, 4000)],
        [
            (OPENED, ("bid", A, 100, 1000)),
            (("bid", B, 500, 500), ("proxy", A, 550, "answer")),
            (("raised", A, 2000),),
        ],
        price=550,
        leader=A,
    ),
    Case(
        "after raising, the new maximum is what a rival must beat",
        [max_bid(A, 1000, 2000), max_bid(A, 2000, 3000), max_bid(B, 1500, 4000)],
        [
            (OPENED, ("bid", A, 100, 1000)),
            (("raised", A, 2000),),
            (("bid", B, 1500, 1500), ("proxy", A, 1550, "answer")),
        ],
        price=1550,
        leader=A,
    ),
    Case(
        "a plain-bid leader may leave a maximum without raising the price",
        [bid(A, 300, 2000), max_bid(A, 5000, 3000)],
        [(OPENED, ("bid", A, 300, 300)), (("raised", A, 5000),)],
        price=300,
        leader=A,
    ),
    Case(
        "the leader raising their maximum to the reserve lifts the price to the reserve",
        [max_bid(A, 1000, 2000), max_bid(A, 2000, 3000)],
        [(OPENED, ("bid", A, 100, 1000)), (("raised", A, 2000), ("proxy", A, 1500, "reserve"))],
        price=1500,
        leader=A,
        lot_terms=terms(reserve=1500),
    ),
    Case(
        "the leader raising their maximum exactly to the reserve lifts the price to it",
        [max_bid(A, 1000, 2000), max_bid(A, 1500, 3000)],
        [(OPENED, ("bid", A, 100, 1000)), (("raised", A, 1500), ("proxy", A, 1500, "reserve"))],
        price=1500,
        leader=A,
        lot_terms=terms(reserve=1500),
    ),
    Case(
        "the leader raising their maximum still short of the reserve does not move the price",
        [max_bid(A, 1000, 2000), max_bid(A, 1499, 3000)],
        [(OPENED, ("bid", A, 100, 1000)), (("raised", A, 1499),)],
        price=100,
        leader=A,
        lot_terms=terms(reserve=1500),
    ),
    Case(
        "a first maximum that reaches the reserve opens at the reserve",
        [max_bid(A, 2000, 2000)],
        [(OPENED, ("bid", A, 1500, 2000))],
        price=1500,
        leader=A,
        lot_terms=terms(reserve=1500),
    ),
    Case(
        "a first maximum exactly at the reserve opens at the reserve",
        [max_bid(A, 1500, 2000)],
        [(OPENED, ("bid", A, 1500, 1500))],
        price=1500,
        leader=A,
        lot_terms=terms(reserve=1500),
    ),
    Case(
        "a first maximum below the reserve opens at the opening price",
        [max_bid(A, 1499, 2000)],
        [(OPENED, ("bid", A, 100, 1499))],
        price=100,
        leader=A,
        lot_terms=terms(reserve=1500),
    ),
    Case(
        "a rival maximum that reaches the reserve lifts the price to it",
        [max_bid(A, 1000, 2000), max_bid(B, 3000, 3000)],
        [(OPENED, ("bid", A, 100, 1000)), (("proxy", A, 1000, "answer"), ("bid", B, 1500, 3000))],
        price=1500,
        leader=B,
        lot_terms=terms(reserve=1500),
    ),
    Case(
        "a rival maximum short of the reserve takes the lead one increment over the old maximum",
        [max_bid(A, 1000, 2000), max_bid(B, 1400, 3000)],
        [(OPENED, ("bid", A, 100, 1000)), (("proxy", A, 1000, "answer"), ("bid", B, 1050, 1400))],
        price=1050,
        leader=B,
        lot_terms=terms(reserve=1500),
    ),
    Case(
        "plain bid vs maximum: a maximum over a plain-bid leader bids one increment over it",
        [bid(A, 300, 2000), max_bid(B, 1000, 3000), bid(A, 400, 4000)],
        [
            (OPENED, ("bid", A, 300, 300)),
            (("bid", B, 325, 1000),),
            (("bid", A, 400, 400), ("proxy", B, 425, "answer")),
        ],
        price=425,
        leader=B,
    ),
    Case(
        "plain bid vs maximum: a plain bid over the leader's maximum shows its full amount",
        [max_bid(A, 1000, 2000), bid(B, 1500, 3000)],
        [(OPENED, ("bid", A, 100, 1000)), (("proxy", A, 1000, "answer"), ("bid", B, 1500, 1500))],
        price=1500,
        leader=B,
    ),
    Case(
        "a plain bid over a plain-bid leader: no proxy answer",
        [bid(A, 100, 2000), bid(B, 125, 3000)],
        [(OPENED, ("bid", A, 100, 100)), (("bid", B, 125, 125),)],
        price=125,
        leader=B,
    ),
    Case(
        "answer uses the increment of the band the rival's bid is in (4.99 -> +0.25, capped by the max)",
        [max_bid(A, 2000, 2000), bid(B, 499, 3000)],
        [(OPENED, ("bid", A, 100, 2000)), (("bid", B, 499, 499), ("proxy", A, 524, "answer"))],
        price=524,
        leader=A,
    ),
    Case(
        "three bidders: C's maximum beats A's, B is the runner-up",
        [max_bid(A, 1000, 2000), bid(B, 500, 3000), max_bid(B, 2000, 4000), max_bid(C, 1800, 5000)],
        [
            (OPENED, ("bid", A, 100, 1000)),
            (("bid", B, 500, 500), ("proxy", A, 550, "answer")),
            (("proxy", A, 1000, "answer"), ("bid", B, 1050, 2000)),
            (("bid", C, 1800, 1800), ("proxy", B, 1850, "answer")),
        ],
        price=1850,
        leader=B,
    ),
    # Refusals, with the reason and the amount the engine would take next.
    Case(
        "too_low before any bid: next amount is the opening price",
        [bid(A, 99, 2000), max_bid(A, 0, 2000)],
        [Rejected("too_low", 100), Rejected("too_low", 100)],
        price=0,
        leader=None,
        status="scheduled",
    ),
    Case(
        "too_low against a leader: next amount is price plus one increment",
        [max_bid(A, 1000, 2000), bid(B, 500, 3000), bid(C, 599, 4000), max_bid(C, 590, 5000), bid(C, 600, 6000)],
        [
            (OPENED, ("bid", A, 100, 1000)),
            (("bid", B, 500, 500), ("proxy", A, 550, "answer")),
            Rejected("too_low", 600),
            Rejected("too_low", 600),
            (("bid", C, 600, 600), ("proxy", A, 650, "answer")),
        ],
        price=650,
        leader=A,
    ),
    Case(
        "too_low at a band edge: price 99 cents -> next 1.04; price 1.00 -> next 1.25",
        [bid(A, 99, 2000), bid(B, 103, 3000), bid(B, 104, 4000), bid(A, 124, 5000)],
        [
            (OPENED, ("bid", A, 99, 99)),
            Rejected("too_low", 104),
            (("bid", B, 104, 104),),
            Rejected("too_low", 129),
        ],
        price=104,
        leader=B,
        lot_terms=terms(opening=5),
    ),
    Case(
        "lot_not_open before the start, with the opening price as next amount",
        [bid(A, 500, START - 1), max_bid(A, 500, 0)],
        [Rejected("lot_not_open", 100), Rejected("lot_not_open", 100)],
        price=0,
        leader=None,
        status="scheduled",
    ),
    Case(
        "a bid exactly at the start opens the lot",
        [bid(A, 100, START)],
        [(OPENED, ("bid", A, 100, 100))],
        price=100,
        leader=A,
    ),
    Case(
        "too_late at the end, by the server time on the command",
        [bid(A, 100, 2000), bid(B, 125, END), bid(B, 125, END + 1)],
        [(OPENED, ("bid", A, 100, 100)), Rejected("too_late"), Rejected("too_late")],
        price=100,
        leader=A,
    ),
    Case(
        "a bid one millisecond before the end is in time",
        [bid(A, 100, 2000), bid(B, 125, END - 1)],
        [(OPENED, ("bid", A, 100, 100)), (("bid", B, 125, 125),)],
        price=125,
        leader=B,
    ),
    Case(
        "too_late on a lot nobody opened",
        [bid(A, 100, END)],
        [Rejected("too_late")],
        price=0,
        leader=None,
        status="scheduled",
    ),
    Case(
        "lot_closed after the close",
        [bid(A, 100, 2000), close(END), bid(B, 125, END - 1), bid(B, 125, END + 5)],
        [(OPENED, ("bid", A, 100, 100)), (("sold", A, 100),), Rejected("lot_closed"), Rejected("lot_closed")],
        price=100,
        leader=A,
        status="sold",
    ),
    Case(
        "already_leading: a plain bid by the leader",
        [bid(A, 100, 2000), bid(A, 200, 3000)],
        [(OPENED, ("bid", A, 100, 100)), Rejected("already_leading", 125)],  # only a maximum one increment up
        price=100,
        leader=A,
    ),
    Case(
        "already_leading: a plain bid by a leader holding a maximum",
        [max_bid(A, 1000, 2000), bid(B, 500, 3000), bid(A, 700, 4000)],
        [
            (OPENED, ("bid", A, 100, 1000)),
            (("bid", B, 500, 500), ("proxy", A, 550, "answer")),
            Rejected("already_leading", 1050),  # only a maximum an increment above their own would do
        ],
        price=550,
        leader=A,
    ),
    Case(
        "max_not_raised: the leader's maximum can't be repeated, lowered, or raised by less than an increment",
        [
            max_bid(A, 1000, 2000),
            max_bid(A, 1000, 3000),
            max_bid(A, 900, 4000),
            max_bid(A, 50, 5000),
            max_bid(A, 1049, 6000),
            max_bid(A, 1050, 7000),
        ],
        [
            (OPENED, ("bid", A, 100, 1000)),
            Rejected("max_not_raised", 1050),
            Rejected("max_not_raised", 1050),
            Rejected("max_not_raised", 1050),
            Rejected("max_not_raised", 1050),  # a raise of 49 cents is not worth a record: one increment is 50
            (("raised", A, 1050),),
        ],
        price=100,
        leader=A,
    ),
]


DIAMOND_CASES = [
    Case(
        "diamond: a $30,000 maximum on a $10,000 opening, $15,000 reserve opens at the reserve",
        [max_bid(A, 3_000_000, 2000)],
        [(OPENED, ("bid", A, 1_500_000, 3_000_000))],
        price=1_500_000,
        leader=A,
        lot_terms=diamond(1_000_000, reserve=1_500_000),
    ),
    Case(
        "diamond: proxy answers a plain bid and a lower maximum, then loses to a higher one",
        [
            max_bid(A, 3_000_000, 2000),
            bid(B, 1_600_000, 3000),
            max_bid(B, 2_500_000, 4000),
            max_bid(C, 4_000_000, 5000),
            max_bid(D, 3_300_000, 6000),
        ],
        [
            (OPENED, ("bid", A, 1_500_000, 3_000_000)),
            # $16,000 + $1,000 (the $10,000-$19,999 band)
            (("bid", B, 1_600_000, 1_600_000), ("proxy", A, 1_700_000, "answer")),
            # $25,000 + $2,000 (the $20,000-$49,999 band)
            (("bid", B, 2_500_000, 2_500_000), ("proxy", A, 2_700_000, "answer")),
            # A's proxy shows its $30,000 maximum; C leads at $32,000
            (("proxy", A, 3_000_000, "answer"), ("bid", C, 3_200_000, 4_000_000)),
            Rejected("too_low", 3_400_000),
        ],
        price=3_200_000,
        leader=C,
        lot_terms=diamond(1_000_000, reserve=1_500_000),
    ),
    Case(
        "diamond: outbid by $1,000 where the increment is $5,000 (the challenger's max caps it)",
        [max_bid(A, 5_200_000, 2000), max_bid(B, 5_300_000, 3000)],
        [
            (OPENED, ("bid", A, 1_000_000, 5_200_000)),
            (("proxy", A, 5_200_000, "answer"), ("bid", B, 5_300_000, 5_300_000)),
        ],
        price=5_300_000,
        leader=B,
        lot_terms=diamond(1_000_000),
    ),
    Case(
        "diamond: outbid by less than an increment (the leader's max caps the answer)",
        [max_bid(A, 5_200_000, 2000), bid(B, 5_000_000, 3000)],
        [
            (OPENED, ("bid", A, 1_000_000, 5_200_000)),
            (("bid", B, 5_000_000, 5_000_000), ("proxy", A, 5_200_000, "answer")),
        ],
        price=5_200_000,
        leader=A,
        lot_terms=diamond(1_000_000),
    ),
    Case(
        "diamond: the answer uses the band of the rival's bid ($49,999 -> +$2,000)",
        [max_bid(A, 10_000_000, 2000), bid(B, 4_999_900, 3000)],
        [
            (OPENED, ("bid", A, 1_000_000, 10_000_000)),
            (("bid", B, 4_999_900, 4_999_900), ("proxy", A, 5_199_900, "answer")),
        ],
        price=5_199_900,
        leader=A,
        lot_terms=diamond(1_000_000),
    ),
    Case(
        "diamond: equal $20,000 maximums, the earlier leads at $20,000",
        [max_bid(A, 2_000_000, 2000), max_bid(B, 2_000_000, 3000)],
        [
            (OPENED, ("bid", A, 1_000_000, 2_000_000)),
            (("bid", B, 2_000_000, 2_000_000), ("proxy", A, 2_000_000, "answer")),
        ],
        price=2_000_000,
        leader=A,
        lot_terms=diamond(1_000_000),
    ),
    Case(
        "diamond: raising one's own maximum doesn't move the price, except to the reserve",
        [max_bid(A, 1_200_000, 2000), max_bid(A, 1_800_000, 3000), max_bid(A, 2_500_000, 4000)],
        [
            (OPENED, ("bid", A, 1_000_000, 1_200_000)),
            (("raised", A, 1_800_000),),
            (("raised", A, 2_500_000), ("proxy", A, 2_000_000, "reserve")),
        ],
        price=2_000_000,
        leader=A,
        lot_terms=diamond(1_000_000, reserve=2_000_000),
    ),
    Case(
        "diamond: a $1,000,000 stone moves in $100,000 steps",
        [
            max_bid(A, 150_000_000, 2000),
            bid(B, 120_000_000, 3000),
            bid(C, 129_999_999, 4000),
            bid(C, 130_000_000, 5000),
        ],
        [
            (OPENED, ("bid", A, 90_000_000, 150_000_000)),
            (("bid", B, 120_000_000, 120_000_000), ("proxy", A, 130_000_000, "answer")),
            Rejected("too_low", 140_000_000),
            Rejected("too_low", 140_000_000),
        ],
        price=130_000_000,
        leader=A,
        lot_terms=diamond(90_000_000),
    ),
    Case(
        "diamond: too_low under a $500 opening with $50 steps",
        [bid(A, 49_999, 2000), bid(A, 50_000, 3000), bid(B, 54_999, 4000)],
        [Rejected("too_low", 50_000), (OPENED, ("bid", A, 50_000, 50_000)), Rejected("too_low", 55_000)],
        price=50_000,
        leader=A,
        lot_terms=diamond(50_000),
    ),
]


@pytest.mark.parametrize("case", EBAY_CASES + DIAMOND_CASES, ids=lambda c: c.id)
def test_bidding_rules(case: Case) -> None:
    result = run(case.lot_terms, case.commands)
    assert result.outcomes == case.outcomes
    assert result.state.price == case.price
    assert result.state.leader == case.leader
    if case.leader is not None:
        assert result.state.leader_paddle == paddle(case.leader)
    assert result.state.status == case.status
    assert result.state.end_ms == case.end_ms
    assert replay(case.lot_terms, result.events) == result.state


def test_too_low_next_amount_is_state_next_minimum() -> None:
    result = run(terms(), [max_bid(A, 1000, 2000), bid(B, 500, 3000)])
    assert result.state.next_minimum == 600
    assert decide(result.state, bid(C, 1, 4000)) == Rejected("too_low", 600)


def test_a_refused_first_bid_does_not_open_the_lot() -> None:
    """The LotOpened a first bid would bring is dropped with the refusal: nothing is recorded."""
    result = run(terms(), [bid(A, 50, 2000)])
    assert result.events == []
    assert result.state == new_lot(terms())


# ---------------------------------------------------------------------------------------------------------------
# Soft close: a 2-minute window, extended to 2 minutes after the bid; times in ms.

SOFT_END = 600_000
TWO_MIN = SoftClose(window_ms=120_000, extension_ms=120_000)


def soft(
    cap_ms: int | None = None, reserve: int = 0, window_ms: int = 120_000, extension_ms: int = 120_000
) -> LotTerms:
    return terms(
        end_ms=SOFT_END,
        reserve=reserve,
        soft_close=SoftClose(window_ms=window_ms, extension_ms=extension_ms, cap_ms=cap_ms),
    )


SOFT_CASES = [
    Case(
        "a bid in the last window extends to at + extension",
        [bid(A, 100, 500_000)],
        [(OPENED, ("bid", A, 100, 100), ("extended", 620_000))],
        price=100,
        leader=A,
        lot_terms=soft(),
        end_ms=620_000,
    ),
    Case(
        "a bid exactly one window before the end does not extend",
        [bid(A, 100, 480_000)],
        [(OPENED, ("bid", A, 100, 100))],
        price=100,
        leader=A,
        lot_terms=soft(),
        end_ms=SOFT_END,
    ),
    Case(
        "a bid 1 ms inside the window extends by 1 ms",
        [bid(A, 100, 480_001)],
        [(OPENED, ("bid", A, 100, 100), ("extended", 600_001))],
        price=100,
        leader=A,
        lot_terms=soft(),
        end_ms=600_001,
    ),
    Case(
        "a bid outside the window does not extend",
        [bid(A, 100, 2000), bid(B, 125, 300_000)],
        [(OPENED, ("bid", A, 100, 100)), (("bid", B, 125, 125),)],
        price=125,
        leader=B,
        lot_terms=soft(),
        end_ms=SOFT_END,
    ),
    Case(
        "bids after the original end but before the extended one are in time and extend again",
        [bid(A, 100, 590_000), bid(B, 125, 650_000), bid(A, 150, 769_999)],
        [
            (OPENED, ("bid", A, 100, 100), ("extended", 710_000)),
            (("bid", B, 125, 125), ("extended", 770_000)),
            (("bid", A, 150, 150), ("extended", 889_999)),
        ],
        price=150,
        leader=A,
        lot_terms=soft(),
        end_ms=889_999,
    ),
    Case(
        "a bid at the extended end is late",
        [bid(A, 100, 590_000), bid(B, 125, 710_000)],
        [(OPENED, ("bid", A, 100, 100), ("extended", 710_000)), Rejected("too_late")],
        price=100,
        leader=A,
        lot_terms=soft(),
        end_ms=710_000,
    ),
    Case(
        "the cap limits the total extension",
        [bid(A, 100, 590_000), bid(B, 125, 650_000), bid(A, 150, 659_999)],
        [
            (OPENED, ("bid", A, 100, 100), ("extended", 660_000)),
            (("bid", B, 125, 125),),  # would be 770,000: capped at 660,000, which it already is
            (("bid", A, 150, 150),),
        ],
        price=150,
        leader=A,
        lot_terms=soft(cap_ms=60_000),
        end_ms=660_000,
    ),
    Case(
        "a cap of zero never extends",
        [bid(A, 100, 599_999)],
        [(OPENED, ("bid", A, 100, 100))],
        price=100,
        leader=A,
        lot_terms=soft(cap_ms=0),
        end_ms=SOFT_END,
    ),
    Case(
        "a bid answered by a proxy in the window extends once, after both bids",
        [max_bid(A, 1000, 2000), bid(B, 500, 590_000)],
        [
            (OPENED, ("bid", A, 100, 1000)),
            (("bid", B, 500, 500), ("proxy", A, 550, "answer"), ("extended", 710_000)),
        ],
        price=550,
        leader=A,
        lot_terms=soft(),
        end_ms=710_000,
    ),
    Case(
        "a reserve proxy bid (leader raising to the reserve) in the window extends",
        [max_bid(A, 1000, 2000), max_bid(A, 2000, 590_000)],
        [
            (OPENED, ("bid", A, 100, 1000)),
            (("raised", A, 2000), ("proxy", A, 1500, "reserve"), ("extended", 710_000)),
        ],
        price=1500,
        leader=A,
        lot_terms=soft(reserve=1500),
        end_ms=710_000,
    ),
    Case(
        "a hidden raise of one's own maximum in the window does not extend",
        [max_bid(A, 1000, 2000), max_bid(A, 2000, 590_000)],
        [(OPENED, ("bid", A, 100, 1000)), (("raised", A, 2000),)],
        price=100,
        leader=A,
        lot_terms=soft(),
        end_ms=SOFT_END,
    ),
    Case(
        "a refused bid in the window does not extend",
        [bid(A, 100, 2000), bid(B, 101, 590_000)],
        [(OPENED, ("bid", A, 100, 100)), Rejected("too_low", 125)],
        price=100,
        leader=A,
        lot_terms=soft(),
        end_ms=SOFT_END,
    ),
    Case(
        "Auctionet: 1 minute window, 3 minute extension",
        [bid(A, 100, 550_000), bid(B, 125, 560_000)],
        [(OPENED, ("bid", A, 100, 100), ("extended", 730_000)), (("bid", B, 125, 125),)],
        price=125,
        leader=B,
        lot_terms=soft(window_ms=60_000, extension_ms=180_000),
        end_ms=730_000,
    ),
    Case(
        "close before the extended end is not due; at it the lot is sold",
        [bid(A, 100, 590_000), close(SOFT_END), close(709_999), close(710_000)],
        [
            (OPENED, ("bid", A, 100, 100), ("extended", 710_000)),
            Rejected("not_due"),
            Rejected("not_due"),
            (("sold", A, 100),),
        ],
        price=100,
        leader=A,
        lot_terms=soft(),
        status="sold",
        end_ms=710_000,
    ),
]


CLOSE_CASES = [
    Case(
        "close before the end is not due",
        [bid(A, 100, 2000), close(END - 1)],
        [(OPENED, ("bid", A, 100, 100)), Rejected("not_due")],
        price=100,
        leader=A,
    ),
    Case(
        "close sold when the reserve is met",
        [max_bid(A, 2000, 2000), max_bid(B, 1800, 3000), close(END)],
        [
            (OPENED, ("bid", A, 1500, 2000)),
            (("bid", B, 1800, 1800), ("proxy", A, 1850, "answer")),
            (("sold", A, 1850),),
        ],
        price=1850,
        leader=A,
        lot_terms=terms(reserve=1500),
        status="sold",
    ),
    Case(
        "close sold at exactly the reserve",
        [bid(A, 1500, 2000), close(END)],
        [(OPENED, ("bid", A, 1500, 1500)), (("sold", A, 1500),)],
        price=1500,
        leader=A,
        lot_terms=terms(reserve=1500),
        status="sold",
    ),
    Case(
        "close passed when the reserve is not met, showing the highest bid",
        [max_bid(A, 1400, 2000), bid(B, 1000, 3000), close(END + 10)],
        [
            (OPENED, ("bid", A, 100, 1400)),
            (("bid", B, 1000, 1000), ("proxy", A, 1050, "answer")),
            (("passed", 1050),),
        ],
        price=1050,
        leader=A,
        lot_terms=terms(reserve=1500),
        status="passed",
    ),
    Case(
        "close passed when nobody bid (the lot never opened)",
        [close(END)],
        [(("passed", 0),)],
        price=0,
        leader=None,
        status="passed",
    ),
    Case(
        "close passed when the lot opened but nobody bid",
        [open_lot(START), close(END)],
        [(OPENED,), (("passed", 0),)],
        price=0,
        leader=None,
        status="passed",
    ),
    Case(
        "a second close is refused",
        [bid(A, 100, 2000), close(END), close(END + 1)],
        [(OPENED, ("bid", A, 100, 100)), (("sold", A, 100),), Rejected("lot_closed")],
        price=100,
        leader=A,
        status="sold",
    ),
    Case(
        "open before the start and twice is refused",
        [open_lot(START - 1), open_lot(START), open_lot(START + 1), open_lot(END)],
        [Rejected("not_due"), (OPENED,), Rejected("not_due"), Rejected("not_due")],
        price=0,
        leader=None,
    ),
    Case(
        "open at or after the end is not due",
        [open_lot(END)],
        [Rejected("not_due")],
        price=0,
        leader=None,
        status="scheduled",
    ),
    Case(
        "withdraw a scheduled lot",
        [withdraw(0), bid(A, 100, 2000), close(END), withdraw(END)],
        [(("withdrawn",),), Rejected("lot_closed"), Rejected("lot_closed"), Rejected("lot_closed")],
        price=0,
        leader=None,
        status="withdrawn",
    ),
    Case(
        "withdraw an open lot with bids",
        [max_bid(A, 1000, 2000), bid(B, 500, 3000), withdraw(4000), bid(C, 2000, 5000)],
        [
            (OPENED, ("bid", A, 100, 1000)),
            (("bid", B, 500, 500), ("proxy", A, 550, "answer")),
            (("withdrawn",),),
            Rejected("lot_closed"),
        ],
        price=550,
        leader=A,
        status="withdrawn",
    ),
    Case(
        "a sold lot can't be withdrawn",
        [bid(A, 100, 2000), close(END), withdraw(END + 1)],
        [(OPENED, ("bid", A, 100, 100)), (("sold", A, 100),), Rejected("lot_closed")],
        price=100,
        leader=A,
        status="sold",
    ),
    Case(
        "a passed lot can't be withdrawn",
        [close(END), withdraw(END + 1)],
        [(("passed", 0),), Rejected("lot_closed")],
        price=0,
        leader=None,
        status="passed",
    ),
]


@pytest.mark.parametrize("case", SOFT_CASES + CLOSE_CASES, ids=lambda c: c.id)
def test_timed_sale_rules(case: Case) -> None:
    test_bidding_rules(case)


def test_extension_counts() -> None:
    result = run(soft(), [bid(A, 100, 590_000), bid(B, 125, 650_000), bid(A, 150, 700_000)])
    assert result.state.extensions == 3
    assert result.state.end_ms == 820_000


def test_events_carry_gap_free_seq_from_one() -> None:
    result = run(
        soft(reserve=1500),
        [
            max_bid(A, 1000, 2000),
            bid(B, 100, 3000),  # refused: nothing recorded
            bid(B, 500, 3000),
            max_bid(B, 3000, 590_000),
            max_bid(B, 4000, 600_000),
            close(700_000),  # refused: the lot was extended to 710,000
            close(710_000),
        ],
    )
    assert [type(e).__name__ for e in result.events] == [
        "LotOpened",
        "BidAccepted",
        "BidAccepted",
        "ProxyBidPlaced",
        "ProxyBidPlaced",
        "BidAccepted",
        "LotExtended",
        "MaxBidRaised",
        "LotSold",
    ]
    assert [e.seq for e in result.events] == list(range(1, 10))
    assert result.state.seq == 9
    assert result.state.status == "sold"
