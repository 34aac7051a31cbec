"""Each lot's result as the record makes it, set against what was billed for it: pure, for `auction audit replay`.

The result is re-derived, not read: the verifier replays the sale's journal through the engine's own `decide`
(auction.engine.verify), and the state it arrives at says whether the lot was sold (to whom, at what hammer),
passed, withdrawn, or is still running. What settlement made of each close is its invoice lines (one per lot
billed, `hammer` when billed at the fall of the hammer; `second_chance`, `reaward` or `post_sale` when sold later)
and its passed lots. They must agree:

- a sold lot is billed at its hammer to its winner: a `hammer` line for exactly that buyer and amount, active,
  or voided by a default and followed by a line to someone who bid on it (`second_chance`: at that buyer's own
  highest bid on the record; `reaward`: within that buyer's maximum). No passed lot for it, unless a default
  sent it back to the post-sale path;
- a passed lot is billed at no hammer; settlement holds it as passed, at the record's highest bid; a line for
  it can only be a `post_sale` sale of a passed lot sold in its window;
- a withdrawn lot is billed nothing, and nothing is passed;
- a lot still running is billed nothing yet;
- every `hammer` line, active or voided, is some close the record holds (a live lot reopened after its hammer
  was billed and unbilled: the earlier close is on the record too), and nothing is billed or passed for a lot
  the record doesn't have.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from auction.engine.lot import LotState
from auction.engine.messages import AnyEvent, BidAccepted, LotPassed, LotSold, MaxBidRaised, ProxyBidPlaced
from auction.engine.verify import Problem

LATER_SALES = frozenset({"second_chance", "reaward"})  # a sold lot sold again after its buyer defaulted


@dataclass(frozen=True, slots=True)
class Line:
    """An invoice line as settlement keeps it: who was billed for which lot, at what hammer, how, and whether it
    still stands."""

    id: int
    lot: int
    buyer: int
    hammer: int
    source: str
    active: bool

    def __str__(self) -> str:
        state = "" if self.active else " (voided)"
        return f"invoice line {self.id}{state} bills buyer {self.buyer} at {self.hammer} ({self.source})"


@dataclass(frozen=True, slots=True)
class Passed:
    """A passed lot as settlement keeps it (a status of its post-sale life; `reopened`: it left that path)."""

    lot: int
    highest_bid: int
    status: str


@dataclass(frozen=True, slots=True)
class Bidding:
    """What the record holds of one buyer's bidding on a lot: their highest bid shown and their highest maximum."""

    highest: int = 0
    maximum: int = 0


@dataclass(frozen=True, slots=True)
class LotResult:
    """What the record says became of a lot: its state as replayed, every close it recorded (a reopened live lot
    has several), and each buyer's bidding."""

    state: LotState
    sales: tuple[tuple[int, int], ...]  # (buyer, hammer) of every LotSold, in order
    last_passed_bid: int | None  # the highest bid of the lot's last LotPassed
    bidding: Mapping[int, Bidding]

    @property
    def lot(self) -> int:
        return self.state.terms.lot

    def __str__(self) -> str:
        state = self.state
        if state.status == "sold":
            return f"sold to buyer {state.leader} at {state.price}"
        return "passed" if state.status == "passed" else state.status


def result_of(state: LotState, recorded: Sequence[AnyEvent]) -> LotResult:
    """The lot's result from its replayed state and its recorded events."""
    sales = tuple((e.bidder, e.hammer) for e in recorded if isinstance(e, LotSold))
    passes = [e.highest_bid for e in recorded if isinstance(e, LotPassed)]
    return LotResult(state, sales, passes[-1] if passes else None, _bidding(recorded))


def _bidding(recorded: Iterable[AnyEvent]) -> dict[int, Bidding]:
    bidding: dict[int, Bidding] = {}
    for event in recorded:
        if isinstance(event, BidAccepted | ProxyBidPlaced | MaxBidRaised):
            shown = event.amount if isinstance(event, BidAccepted | ProxyBidPlaced) else 0
            was = bidding.get(event.bidder, Bidding())
            bidding[event.bidder] = Bidding(max(was.highest, shown), max(was.maximum, event.max_amount))
    return bidding


def differences(results: Mapping[int, LotResult], lines: Sequence[Line], passed: Sequence[Passed]) -> list[Problem]:
    """Every way settlement's lines and passed lots disagree with the lots' results, lot by lot."""
    problems: list[Problem] = []
    lots = sorted(set(results) | {line.lot for line in lines} | {row.lot for row in passed})
    for lot in lots:
        mine = [line for line in lines if line.lot == lot]
        row = next((p for p in passed if p.lot == lot and p.status != "reopened"), None)
        result = results.get(lot)
        if result is None:
            problems += [Problem(lot, f"{line}, but the record has no such lot") for line in mine]
            problems += [Problem(lot, "settlement holds it as passed, but the record has no such lot")] if row else []
            continue
        problems += [Problem(lot, message) for message in _lot_differences(result, mine, row)]
    return problems


def _lot_differences(result: LotResult, lines: list[Line], passed: Passed | None) -> list[str]:
    status = result.state.status
    if status == "sold":
        return _sold(result, lines, passed)
    if status == "passed":
        return _passed(result, lines, passed)
    found = [f"{status} on the record, but {line}" for line in lines if line.active or _unrecorded(result, line)]
    if passed is not None:
        found.append(f"{status} on the record, but settlement holds it as passed ({passed.status})")
    return found


def _unrecorded(result: LotResult, line: Line) -> bool:
    """A hammer line that bills no close the record holds (a voided one may bill an earlier close of a lot reopened
    since)."""
    return line.source == "hammer" and (line.buyer, line.hammer) not in result.sales


def _sold(result: LotResult, lines: list[Line], passed: Passed | None) -> list[str]:
    final = (result.state.leader, result.state.price)
    hammer = [line for line in lines if line.source == "hammer"]
    billed = [line for line in hammer if (line.buyer, line.hammer) == final]
    found = [
        f"{result}, but {line}" for line in hammer if line not in billed and (line.active or _unrecorded(result, line))
    ]
    if not billed:
        return found or [f"{result}, but no invoice line bills it"]
    defaulted = all(not line.active for line in billed)
    for line in (line for line in lines if line.active and line.source != "hammer"):
        found += _later_sale(result, line, defaulted)
    if passed is not None and not defaulted:
        found.append(f"{result}, but settlement holds it as passed ({passed.status})")
    return found


def _later_sale(result: LotResult, line: Line, defaulted: bool) -> list[str]:
    """A sold lot billed to someone else must have been taken from its buyer by a default, and sold again by the
    rules: a second chance at that buyer's own highest bid, a re-award within their maximum."""
    if line.source not in LATER_SALES:
        return [f"{result}, but {line}"]
    if not defaulted:
        return [f"{result}, and its buyer's line still stands, but {line}"]
    bidding = result.bidding.get(line.buyer)
    if bidding is None:
        return [f"{result}, but {line}: that buyer never bid on it"]
    if line.source == "second_chance" and line.hammer != bidding.highest:
        return [f"{result}, but {line}: that buyer's highest bid on the record is {bidding.highest}"]
    if line.source == "reaward" and line.hammer > max(bidding.maximum, bidding.highest):
        return [f"{result}, but {line}: above that buyer's maximum, {bidding.maximum}"]
    return []


def _passed(result: LotResult, lines: list[Line], passed: Passed | None) -> list[str]:
    """Nothing billed at a hammer; held as passed at the record's highest bid; sold after only in its window."""
    found = [
        f"passed on the record, but {line}"
        for line in lines
        if (line.active and line.source != "post_sale") or _unrecorded(result, line)
    ]
    if passed is None:
        return [*found, "passed on the record, but settlement holds no passed lot for it"]
    if passed.highest_bid != (result.last_passed_bid or 0):
        found.append(f"passed at a highest bid of {result.last_passed_bid}, settlement says {passed.highest_bid}")
    sold_after = [line for line in lines if line.active and line.source == "post_sale"]
    if sold_after and passed.status != "sold":
        found.append(f"passed, and settlement holds it as {passed.status}, but {sold_after[0]}")
    return found


__all__ = ["Bidding", "Line", "LotResult", "Passed", "differences", "result_of"]
