"""Who wins which tender lot once every bid is opened, with each buyer's limit applied across the lots.

Nobody can read an amount before the reveal, so a buyer's limit can't hold bid by bid as it does in a timed or
live sale; it holds at the reveal (DOMAIN.md "Sealed-bid tenders", docs/RULES.md). The rule:
- on each lot the highest eligible bid at or above the reserve wins (equal: the earliest submitted);
- a buyer whose winning bids together (all-in, premium included) pass their limit keeps them in their own
  priority order (1 first; equal priorities, the lower lot number first) while within it, and is excluded from
  each lot beyond, which goes to its next bid; that may take another buyer past their limit in turn, so the
  rule is applied again until nothing changes (exclusions only grow, so it ends);
- a buyer who may not buy at all (their standing refuses them: suspended, not approved...) is excluded from
  every lot.
The result names, per lot, the buyers excluded; RevealTender carries it, and the verifier computes it again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from auction.engine.formats.tender import ranked
from auction.engine.premium import all_in
from auction.engine.standing import BidderStanding, refusal
from auction.engine.state import LotState


@dataclass(frozen=True, slots=True)
class Win:
    lot: int
    priority: int
    owed: int  # all-in, premium included


def exclusions(
    lots: Mapping[int, LotState], standings: Mapping[int, BidderStanding | None], at_ms: int
) -> dict[int, tuple[int, ...]]:
    """Per lot (each revealed: `revealed` holds its opened bids), the buyers excluded from winning it."""
    excluded: dict[int, set[int]] = {lot: _refused(state, standings, at_ms) for lot, state in lots.items()}
    while True:
        wins = _wins(lots, excluded)
        over = [(bidder, lot) for bidder, mine in sorted(wins.items()) for lot in _beyond(mine, standings.get(bidder))]
        if not over:
            return {lot: tuple(sorted(bidders)) for lot, bidders in excluded.items()}
        for bidder, lot in over:
            excluded[lot].add(bidder)


def _refused(state: LotState, standings: Mapping[int, BidderStanding | None], at_ms: int) -> set[int]:
    return {
        bid.bidder
        for bid in state.revealed
        if refusal(standings.get(bid.bidder), state.terms.consignor, at_ms) is not None
    }


def _wins(lots: Mapping[int, LotState], excluded: Mapping[int, set[int]]) -> dict[int, list[Win]]:
    """Each buyer's winning bids as things stand: the top eligible bid of each lot, if at the reserve."""
    wins: dict[int, list[Win]] = {}
    for lot, state in lots.items():
        eligible = [bid for bid in ranked(state.revealed, state.sealed) if bid.bidder not in excluded[lot]]
        if eligible and eligible[0].amount >= state.terms.reserve:
            top = eligible[0]
            priority = next((s.priority for s in state.sealed if s.bidder == top.bidder), 1)
            wins.setdefault(top.bidder, []).append(Win(lot, priority, all_in(top.amount, state.terms.premium)))
    return wins


def _beyond(wins: list[Win], standing: BidderStanding | None) -> list[int]:
    """The lots a buyer wins past their limit, in their priority order."""
    if standing is None:
        return []
    total, beyond = 0, []
    for win in sorted(wins, key=lambda w: (w.priority, w.lot)):
        if total + win.owed <= standing.limit:
            total += win.owed
        else:
            beyond.append(win.lot)
    return beyond


__all__ = ["Win", "exclusions"]
