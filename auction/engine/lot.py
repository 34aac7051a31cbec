"""The engine's face: a lot's state, and the two pure functions that drive it, decide(state, command) and
evolve(state, event).

Like the websockets protocol object, nothing here touches a socket, a clock or a random source: time arrives on
the command, and the same commands always give the same events. The Redis executor runs `decide` and commits
its events atomically; replaying the record through `evolve` rebuilds the state.

`decide` does what every format has in common, then asks the lot's format (auction.engine.formats):
1. a bid from a buyer who may not bid (not registered, not approved, suspended, the lot's own consignor...) is
   refused first, whatever the lot (auction.engine.standing; only with a `BidContext`, which the store passes
   for every bid of a vetted sale);
2. a command the lot's status doesn't take is refused as the lifecycle table says (auction.engine.lifecycle);
3. the format decides the rest, calling the rules formats share (auction.engine.bidding, auction.engine.cancel).

The lot's data lives in auction.engine.state, what an event does in auction.engine.evolve; both are re-exported
here, where the rest of the system meets the engine.
"""

from __future__ import annotations

from auction.engine import lifecycle
from auction.engine.cancel import position_of
from auction.engine.evolve import evolve, replay
from auction.engine.formats import FORMATS
from auction.engine.messages import (
    AcceptOnlineBid,
    AnyCommand,
    AnyEvent,
    Event,
    OpenLot,
    PlaceBid,
    Rejected,
    SubmitTenderBid,
    TakeBid,
)
from auction.engine.premium import all_in
from auction.engine.standing import BidContext, BookContext, refusal
from auction.engine.state import HOUSE, LotState, LotTerms, Rostrum, SequenceGap, SoftClose, new_lot

Decision = tuple[AnyEvent, ...] | Rejected
ON_THE_BLOCK: frozenset[lifecycle.Status] = frozenset({"open", "fair_warning", "paused"})  # a live lot being sold


def decide(
    state: LotState,
    command: AnyCommand,
    context: BidContext | BookContext | None = None,
    rostrum: Rostrum | None = None,
) -> Decision:
    """The events a command causes, or why it is refused. Never raises for bad input.

    `context` holds, for a bid, the bidder's and the leader's standing and exposure elsewhere in the sale (and
    for opening a live lot, its absentee book's); without it no buyer is held to a standing or a limit.
    `rostrum` is a live sale's (which lot is on the block); without it, lots aren't held to one at a time."""
    if isinstance(context, BidContext) and _is_a_buyers_bid(command):
        who = refusal(context.standing, state.terms.consignor, command.at_ms)
        if who is not None:
            return Rejected(who)
    refused = lifecycle.command_refusal(state.terms.format, state.status, type(command).__name__)
    if refused is not None:
        return Rejected(refused)
    return FORMATS[state.terms.format].decide(state, command, context, rostrum)


def _is_a_buyers_bid(command: AnyCommand) -> bool:
    """A buyer's bid, whoever enters it (the house's own bids stand for no buyer). A sealed tender bid is one too:
    its amount can't be read, so no limit holds it, but who bids is known and must be allowed to."""
    return isinstance(command, PlaceBid | SubmitTenderBid) or (
        isinstance(command, TakeBid) and command.source != "house"
    )


def timers(state: LotState) -> tuple[int | None, int | None]:
    """(open at, close at), in ms: when the scheduler must act on the lot; None where the clock doesn't."""
    return FORMATS[state.terms.format].timers(state)


def bidders_of(command: AnyCommand, state: LotState) -> list[int]:
    """The buyers whose standing (and exposure) a command is decided on: a bid's bidder (a sealed tender bid's too),
    a floor or phone bid's, the online bid waiting for the clerk's, and, opening a live lot, its absentee book's."""
    match command:
        case PlaceBid() | SubmitTenderBid():
            return [command.bidder]
        case TakeBid() if command.source != "house":
            return [command.bidder]
        case AcceptOnlineBid() if state.pending is not None:
            return [state.pending.bidder]
        case OpenLot() if state.terms.format == "live":
            return [absentee.bidder for absentee in state.absentees]
    return []


_UNCOUNTED: frozenset[lifecycle.Status] = frozenset({"passed", "withdrawn"})


def exposure_of(state: LotState) -> tuple[int, int] | None:
    """(buyer, all-in) that this lot adds to a buyer's exposure: its leader owes all_in(price) while it runs and
    once sold (until settlement takes over); a passed or withdrawn lot adds nothing."""
    if state.leader in (None, HOUSE) or state.status in _UNCOUNTED:
        return None
    return state.leader, all_in(state.price, state.terms.premium)


__all__ = [
    "ON_THE_BLOCK",
    "Decision",
    "Event",
    "LotState",
    "LotTerms",
    "SequenceGap",
    "SoftClose",
    "bidders_of",
    "decide",
    "evolve",
    "exposure_of",
    "new_lot",
    "position_of",
    "replay",
    "timers",
]
