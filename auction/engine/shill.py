"""The shill monitor: how much each bidder of a sale bids like a shill, from the record, while the sale runs. Pure.

DOMAIN.md "Abuse": patterns worth flagging are a buyer who bids mostly on one consignor's lots, raises early and
rarely wins. Four signals can be computed while the sale runs, each from 0 to 100 and each explained:

- `concentration`: how far the lots the bidder bids on lean to one consignor beyond that consignor's share of the
  sale (all of them one consignor's, in a sale where that consignor has a third of the lots: 100; in the same
  proportion as the catalogue: 0);
- `least_step`: successive self-outbidding by the least step: the share of the bidder's bids that raised one
  and the same rival's price by exactly the least amount the engine would take (a shill pushing a real bidder's
  maximum up, one increment at a time);
- `early`: the share of the bidder's bids on timed lots made in the first half of the lot's scheduled time, on
  lots they are not winning: raising rather than winning;
- `low_wins`: how rarely the bidder wins what they bid on, over the closed lots of this sale and of their other
  sales (the record's).

Each rests on some evidence (lots, bids, closed lots) and counts in full only from FULL_EVIDENCE observations:
below that it is scaled down, so one bid on one lot proves nothing.

The score is `concentration` times how shill-like the bidding is (the mean of the other three), from 0 to 100. A
shill bids for a consignor: without the lean to one consignor, bidding the least step, early and losing is what
many honest bidders do (an eager bidder against a proxy, a bidder with low valuations), so those alone never
flag anyone; with it, they are the pattern. A bidder at or above the threshold (a setting) is flagged, for an
operator to look at: the monitor accuses nobody, and the engine refuses nothing on it. A sale with one consignor
shows no concentration, so nobody in it is flagged: the limit of reading intent from bids alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import msgspec

from auction.engine import lifecycle
from auction.engine.evolve import evolve
from auction.engine.messages import AnyEvent, BidAccepted, MaxBidRaised
from auction.engine.state import HOUSE, LotState, LotTerms, SequenceGap, new_lot

FULL_EVIDENCE = 3  # observations from which a signal counts in full
EARLY_SHARE = (1, 2)  # a bid is early with at least this share of the lot's scheduled time left

SignalName = Literal["concentration", "least_step", "early", "low_wins"]


class PastBidding(msgspec.Struct, frozen=True):
    """A bidder's other sales, as the record has them: closed lots they bid on, and how many of those they won."""

    lots: int = 0
    won: int = 0


class Signal(msgspec.Struct, frozen=True):
    """One signal: `value` 0 to 100 (its raw measure, scaled down while `evidence` is below FULL_EVIDENCE)."""

    name: SignalName
    value: int
    evidence: int
    explanation: str


class BidderScore(msgspec.Struct, frozen=True):
    bidder: int
    paddle: int
    score: int  # 0 to 100
    flagged: bool
    explanation: str
    signals: list[Signal]


class ShillReport(msgspec.Struct, frozen=True):
    """Every bidder of the sale who has bid, highest score first."""

    sale: int
    threshold: int
    events: int  # recorded events read
    bidders: list[BidderScore]


@dataclass(slots=True)
class _Bidder:
    """What the record says of one bidder's bidding in the sale, gathered lot by lot."""

    paddle: int = 0
    bids: int = 0
    least_steps: Counter[tuple[int, int]] = field(default_factory=Counter)  # (rival, rival's paddle) -> raises
    lots: set[int] = field(default_factory=set)
    timed_bids: int = 0
    early_bids: list[int] = field(default_factory=list)  # the lot of each early bid
    closed: int = 0
    won: int = 0


def shill_report(
    sale: int,
    terms: Mapping[int, LotTerms],
    events: Mapping[int, Sequence[AnyEvent]],
    past: Mapping[int, PastBidding],
    threshold: int,
) -> ShillReport:
    """Score every bidder of the sale: `terms` of every lot of the sale (the catalogue: each lot's consignor and
    schedule), the recorded `events` of its lots, each bidder's `past` sales."""
    bidders: dict[int, _Bidder] = {}
    finals = {lot: _gather(terms[lot], recorded, bidders) for lot, recorded in events.items() if lot in terms}
    for bidder, seen in bidders.items():
        _count_outcomes(bidder, seen, finals)
    consignors = Counter(lot_terms.consignor for lot_terms in terms.values())
    scores = [
        _score(bidder, seen, terms, consignors, past.get(bidder, PastBidding()), threshold)
        for bidder, seen in bidders.items()
    ]
    scores.sort(key=lambda s: (-s.score, s.bidder))
    return ShillReport(sale, threshold, sum(len(recorded) for recorded in events.values()), scores)


def _gather(terms: LotTerms, recorded: Iterable[AnyEvent], bidders: dict[int, _Bidder]) -> LotState:
    """Fold the lot's record, noting each bid against the state it was made on; the lot's state at the end."""
    state = new_lot(terms)
    for event in recorded:
        if isinstance(event, BidAccepted | MaxBidRaised) and event.bidder != HOUSE:
            _note_bid(bidders.setdefault(event.bidder, _Bidder()), state, event)
        try:
            state = evolve(state, event)
        except (SequenceGap, lifecycle.IllegalTransition):  # a record the verifier would refuse: read no further
            break
    return state


def _note_bid(seen: _Bidder, before: LotState, event: BidAccepted | MaxBidRaised) -> None:
    lot = before.terms.lot
    seen.paddle, seen.bids = event.paddle, seen.bids + 1
    seen.lots.add(lot)
    rival = before.leader
    least = isinstance(event, BidAccepted) and event.kind == "bid" and event.amount == before.next_minimum
    if least and rival is not None and rival not in (HOUSE, event.bidder):
        seen.least_steps[(rival, before.leader_paddle or 0)] += 1
    if before.terms.format == "timed":
        seen.timed_bids += 1
        if _is_early(before.terms, event.at_ms):
            seen.early_bids.append(lot)


def _is_early(terms: LotTerms, at_ms: int) -> bool:
    share, of = EARLY_SHARE
    return (terms.end_ms - at_ms) * of >= (terms.end_ms - terms.start_ms) * share


def _count_outcomes(bidder: int, seen: _Bidder, finals: Mapping[int, LotState]) -> None:
    for lot in seen.lots:
        final = finals[lot]
        if final.status in ("sold", "passed"):
            seen.closed += 1
            seen.won += final.status == "sold" and final.leader == bidder
    winning = {lot for lot in seen.lots if finals[lot].leader == bidder and finals[lot].status != "passed"}
    seen.early_bids = [lot for lot in seen.early_bids if lot not in winning]


def _score(
    bidder: int,
    seen: _Bidder,
    terms: Mapping[int, LotTerms],
    consignors: Counter[int],
    past: PastBidding,
    threshold: int,
) -> BidderScore:
    concentration = _concentration(seen, terms, consignors)
    behaviour = [_least_step(seen), _early(seen), _low_wins(seen, past)]
    shill_like = sum(signal.value for signal in behaviour) // len(behaviour)
    score = concentration.value * shill_like // 100
    flagged = score >= threshold
    verdict = f"at or above the threshold of {threshold}: flagged" if flagged else f"below the threshold of {threshold}"
    explanation = (
        f"score {score} = concentration {concentration.value} x shill-like bidding {shill_like} (the mean of "
        f"least step, early and low wins) / 100; {verdict}"
    )
    return BidderScore(bidder, seen.paddle, score, flagged, explanation, [concentration, *behaviour])


def _weighed(raw_percent: int, evidence: int) -> int:
    """A raw measure in percent, scaled down while the evidence is short of FULL_EVIDENCE."""
    return raw_percent * min(evidence, FULL_EVIDENCE) // FULL_EVIDENCE


def _concentration(seen: _Bidder, terms: Mapping[int, LotTerms], consignors: Counter[int]) -> Signal:
    mine = Counter(terms[lot].consignor for lot in seen.lots)
    top, count = min(mine.items(), key=lambda item: (-item[1], item[0]))
    share = 100 * count // len(seen.lots)
    expected = 100 * consignors[top] // sum(consignors.values())
    raw = 0 if expected >= 100 else max(0, (share - expected) * 100 // (100 - expected))
    explanation = (
        f"bid on {len(seen.lots)} lots, {count} of them consignor {top}'s ({share} %); consignor {top} has "
        f"{expected} % of the sale's lots"
    )
    return Signal("concentration", _weighed(raw, len(seen.lots)), len(seen.lots), explanation)


def _least_step(seen: _Bidder) -> Signal:
    if not seen.least_steps:
        return Signal("least_step", 0, 0, f"none of {seen.bids} bids raised a rival by exactly the least step")
    (rival, paddle), raises = min(seen.least_steps.items(), key=lambda item: (-item[1], item[0]))
    explanation = f"{raises} of {seen.bids} bids raised bidder {rival} (paddle {paddle}) by exactly the least step"
    return Signal("least_step", _weighed(100 * raises // seen.bids, raises), raises, explanation)


def _early(seen: _Bidder) -> Signal:
    if not seen.timed_bids:
        return Signal("early", 0, 0, "no bids on timed lots")
    early = len(seen.early_bids)
    explanation = (
        f"{early} of {seen.timed_bids} bids on timed lots came with at least half the lot's time left, on lots "
        f"they are not winning"
    )
    return Signal("early", _weighed(100 * early // seen.timed_bids, seen.timed_bids), seen.timed_bids, explanation)


def _low_wins(seen: _Bidder, past: PastBidding) -> Signal:
    closed, won = seen.closed + past.lots, seen.won + past.won
    if not closed:
        return Signal("low_wins", 0, 0, "no closed lot bid on yet, in this sale or another")
    explanation = f"won {won} of {closed} closed lots bid on ({past.won} of {past.lots} in other sales)"
    return Signal("low_wins", _weighed(100 - 100 * won // closed, closed), closed, explanation)


__all__ = ["EARLY_SHARE", "FULL_EVIDENCE", "BidderScore", "PastBidding", "ShillReport", "Signal", "shill_report"]
