"""The shill monitor's signals and score (auction.engine.shill), each in a table of bidding patterns run through the
engine itself: concentration on one consignor's lots, self-outbidding by the least step against one rival, early
bids on lots not won, a low win ratio over this sale and others; and the score that flags only their conjunction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec
import pytest

from auction.engine.lot import LotTerms, decide, evolve, new_lot
from auction.engine.messages import AnyCommand, AnyEvent, Rejected
from auction.engine.shill import PastBidding, ShillReport, Signal, shill_report

from ._lots import bid, close, max_bid, open_lot, terms

END = 10_000  # every lot is scheduled from 0 to END: a bid before END // 2 is early
EARLY, LATE = 1_000, 9_000
A, B, C = 1, 2, 3  # A leaves maximums; B and C bid


def catalogue(consignors: Sequence[int], fmt: str = "timed") -> dict[int, LotTerms]:
    """Lots 1..n, lot n consigned by consignors[n - 1]."""
    base = terms(start_ms=0, end_ms=END)
    return {
        n: msgspec.structs.replace(base, lot=n, consignor=consignor, format=fmt)  # type: ignore[arg-type]
        for n, consignor in enumerate(consignors, start=1)
    }


def report(
    lots: Mapping[int, LotTerms],
    commands: Mapping[int, Sequence[AnyCommand]],
    past: Mapping[int, PastBidding] | None = None,
    threshold: int = 50,
) -> ShillReport:
    events = {lot: recorded(lots[lot], cmds) for lot, cmds in commands.items()}
    return shill_report(1, lots, events, past or {}, threshold)


def recorded(lot_terms: LotTerms, commands: Sequence[AnyCommand]) -> list[AnyEvent]:
    """The record the engine makes of `commands`, each of which it must accept."""
    state, events = new_lot(lot_terms), []
    for command in commands:
        decision = decide(state, command)
        assert not isinstance(decision, Rejected), (command, decision)
        for event in decision:
            state = evolve(state, event)
            events.append(event)
    return events


def signal(made: ShillReport, bidder: int, name: str) -> Signal:
    score = next(s for s in made.bidders if s.bidder == bidder)
    return next(s for s in score.signals if s.name == name)


def pushed(at: int = EARLY, raises: int = 3) -> list[AnyCommand]:
    """A leaves a maximum of 1,000; B raises A's price by the least step (25 at these prices) `raises` times, and
    A's proxy answers each; A still leads."""
    price, commands = 100, [max_bid(A, 1_000, at)]
    for n in range(raises):
        commands.append(bid(B, price + 25, at + 1 + n))
        price += 50
    return commands


NINE = [10, 10, 10, 20, 20, 20, 30, 30, 30]  # nine lots, three per consignor


# ---- least step --------------------------------------------------------------------------------------------------

LEAST_STEP = [
    ("three raises by the least step against one rival", {1: pushed()}, 100, 3),
    ("two raises: not yet full evidence", {1: pushed(raises=2)}, 66, 2),
    ("raises by more than the least step", {1: [max_bid(A, 1_000, EARLY), bid(B, 150, EARLY + 1),
                                                bid(B, 300, EARLY + 2), bid(B, 450, EARLY + 3)]}, 0, 0),
    ("the opening bid and a maximum at the least step are not raises of a rival",
     {1: [bid(B, 100, EARLY), max_bid(A, 125, EARLY + 1)], 2: [max_bid(B, 400, EARLY)]}, 0, 0),
    ("least steps against three different rivals, one each",
     {1: [bid(A, 100, EARLY), bid(B, 125, EARLY + 1)], 2: [bid(C, 100, EARLY), bid(B, 125, EARLY + 1)],
      3: [bid(4, 100, EARLY), bid(B, 125, EARLY + 1)]}, 11, 1),
]  # fmt: skip


@pytest.mark.parametrize(("case", "commands", "value", "evidence"), LEAST_STEP, ids=[c[0] for c in LEAST_STEP])
def test_least_step(case: str, commands: dict[int, list[AnyCommand]], value: int, evidence: int) -> None:
    found = signal(report(catalogue(NINE), commands), B, "least_step")
    assert (found.value, found.evidence) == (value, evidence), found.explanation


def test_least_step_names_the_rival() -> None:
    found = signal(report(catalogue(NINE), {1: pushed()}), B, "least_step")
    assert found.explanation == "3 of 3 bids raised bidder 1 (paddle 101) by exactly the least step"


# ---- concentration -----------------------------------------------------------------------------------------------


def one_bid_on(*lots: int) -> dict[int, list[AnyCommand]]:
    return {lot: [bid(B, 100, EARLY)] for lot in lots}


CONCENTRATION = [
    ("every lot one consignor's, a third of the sale", NINE, one_bid_on(1, 2, 3), 100),
    ("two lots only: not yet full evidence", NINE, one_bid_on(1, 2), 66),
    ("as the catalogue is spread", NINE, one_bid_on(1, 4, 7), 0),
    ("two of three lots one consignor's", NINE, one_bid_on(1, 2, 4), 49),
    ("a sale of one consignor shows nothing", [10] * 9, one_bid_on(1, 2, 3), 0),
]


@pytest.mark.parametrize(("case", "consignors", "commands", "value"), CONCENTRATION, ids=[c[0] for c in CONCENTRATION])
def test_concentration(case: str, consignors: list[int], commands: dict[int, list[AnyCommand]], value: int) -> None:
    assert signal(report(catalogue(consignors), commands), B, "concentration").value == value


def test_concentration_names_the_consignor() -> None:
    found = signal(report(catalogue(NINE), one_bid_on(1, 2, 4)), B, "concentration")
    expected = "bid on 3 lots, 2 of them consignor 10's (66 %); consignor 10 has 33 % of the sale's lots"
    assert found.explanation == expected


# ---- early -------------------------------------------------------------------------------------------------------

EARLY_CASES = [
    ("early on lots others lead", "timed", {1: pushed(EARLY)}, 100),
    ("late on lots others lead", "timed", {1: pushed(LATE)}, 0),
    ("early, and leading", "timed", {1: [bid(B, 100, EARLY)], 2: [bid(B, 100, EARLY)], 3: [bid(B, 100, EARLY)]}, 0),
    ("early, and outbid later", "timed",
     {n: [bid(B, 100, EARLY), bid(C, 500, LATE)] for n in (1, 2, 3)}, 100),
    ("a live lot has no schedule to be early in", "live", {1: [open_lot(EARLY), bid(B, 100, EARLY + 1)]}, 0),
]  # fmt: skip


@pytest.mark.parametrize(("case", "fmt", "commands", "value"), EARLY_CASES, ids=[c[0] for c in EARLY_CASES])
def test_early(case: str, fmt: str, commands: dict[int, list[AnyCommand]], value: int) -> None:
    found = signal(report(catalogue(NINE, fmt), commands), B, "early")
    assert found.value == value, found.explanation
    assert (found.evidence == 0) is (fmt == "live")  # only bids on timed lots are timed against a schedule


# ---- low wins ----------------------------------------------------------------------------------------------------


def closed_lots(won: int, lost: int) -> dict[int, list[AnyCommand]]:
    """B wins `won` lots alone and is outbid by C on `lost` others; every lot closes."""
    wins = {n: [bid(B, 100, EARLY), close(END)] for n in range(1, won + 1)}
    losses = {n: [bid(B, 100, EARLY), bid(C, 500, LATE), close(END)] for n in range(won + 1, won + lost + 1)}
    return wins | losses


LOW_WINS = [
    ("lost all three", closed_lots(0, 3), None, 100, 3),
    ("won one of three", closed_lots(1, 2), None, 67, 3),
    ("won one of three, and nine of ten elsewhere", closed_lots(1, 2), PastBidding(10, 9), 24, 13),
    ("lost the only lot closed, nothing elsewhere", closed_lots(0, 1), None, 33, 1),
    ("nothing closed yet", one_bid_on(1, 2, 3), None, 0, 0),
]


@pytest.mark.parametrize(("case", "commands", "past", "value", "evidence"), LOW_WINS, ids=[c[0] for c in LOW_WINS])
def test_low_wins(
    case: str, commands: dict[int, list[AnyCommand]], past: PastBidding | None, value: int, evidence: int
) -> None:
    found = signal(report(catalogue(NINE), commands, {B: past} if past else None), B, "low_wins")
    assert (found.value, found.evidence) == (value, evidence), found.explanation


# ---- the score ---------------------------------------------------------------------------------------------------


def test_a_bidder_pushing_one_consignors_lots_early_and_losing_is_flagged_and_an_eager_honest_one_is_not() -> None:
    """B raises A's maximums by the least step, early, on consignor 10's three lots only, and loses them all. C bids
    the same way (least step, early, losing) but across every consignor's lots: an eager bidder, not a shill."""
    lots = catalogue(NINE)
    commands: dict[int, list[AnyCommand]] = {n: [*pushed(), close(END)] for n in (1, 2, 3)}
    for n in (4, 7):  # C's: a lot of consignor 20's and one of 30's ...
        commands[n] = [max_bid(A, 1_000, EARLY), bid(C, 125, EARLY + 1), bid(C, 175, EARLY + 2), close(END)]
    commands[1] = [*pushed(), bid(C, 275, EARLY + 10), close(END)]  # ... and one of 10's, where B pushes A too
    made = report(lots, commands, threshold=50)
    shill, eager, proxy = (next(s for s in made.bidders if s.bidder == b) for b in (B, C, A))
    assert shill.flagged and shill.score >= 50, shill.explanation
    assert not eager.flagged and eager.score < 20, eager.explanation
    assert not proxy.flagged, proxy.explanation
    assert made.bidders[0].bidder == B  # highest score first
    assert [s.name for s in shill.signals] == ["concentration", "least_step", "early", "low_wins"]
    mean = sum(s.value for s in shill.signals[1:]) // 3
    assert shill.score == shill.signals[0].value * mean // 100
    assert shill.explanation.startswith(f"score {shill.score} = concentration {shill.signals[0].value} x shill-like")
    assert shill.explanation.endswith("at or above the threshold of 50: flagged")


def test_the_threshold_decides_the_flag() -> None:
    commands: dict[int, list[AnyCommand]] = {n: [*pushed(), close(END)] for n in (1, 2, 3)}
    score = next(s for s in report(catalogue(NINE), commands).bidders if s.bidder == B).score
    assert next(s for s in report(catalogue(NINE), commands, threshold=score).bidders if s.bidder == B).flagged
    above = report(catalogue(NINE), commands, threshold=score + 1)
    assert not next(s for s in above.bidders if s.bidder == B).flagged


def test_nobody_bid_nobody_scored() -> None:
    made = report(catalogue(NINE), {1: [close(END)]})
    assert (made.bidders, made.events) == ([], 1)
