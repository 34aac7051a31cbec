"""The life of a lot, for all three sale formats, as one transition table.

Like h11's `_state.py`: the table is the whole truth about which event may happen in which status and where
it leads. `evolve` asks `after()` and treats a missing entry as a bug, never as an input error.

    timed:   scheduled -LotOpened-> open -LotSold-> sold
                                         -LotPassed-> passed
             open -BidsCancelled-> open (a bidder taken out; also in a live lot's open status)
    live:    scheduled -LotOpened-> open <-FairWarningCalled/BidAccepted-> fair_warning
             open|fair_warning -LotSold/LotPassed-> sold|passed -LotReopened-> open
             open|fair_warning -LotPaused-> paused -LotResumed-> open; paused -LotPassed-> passed
    tender:  scheduled -ViewingOpened-> viewing -LotOpened-> open (sealed bids) -BidsClosed-> awaiting_reveal
             awaiting_reveal -TenderRevealed-> (stays) -LotSold-> sold | -LotPassed-> passed
                             | -AcceptanceOffered-> awaiting_acceptance -LotSold-> sold | -LotPassed-> passed
    any status but sold, passed, withdrawn: -LotWithdrawn-> withdrawn

The commands each status takes are a table too (`COMMANDS`); `decide` asks `command_refusal` before a format
sees a command, so a format never has to say that a closed lot takes no bids.
"""

from __future__ import annotations

from typing import Literal

from auction.engine.messages import RejectReason

Format = Literal["timed", "live", "tender"]
Status = Literal[
    "scheduled",
    "viewing",
    "open",
    "fair_warning",
    "paused",
    "awaiting_reveal",
    "awaiting_acceptance",
    "sold",
    "passed",
    "withdrawn",
]

FINAL: frozenset[Status] = frozenset({"sold", "passed", "withdrawn"})

# Events that happen within a status and leave it unchanged.
_STAYS: dict[Format, dict[Status, frozenset[str]]] = {
    "timed": {"open": frozenset({"BidAccepted", "ProxyBidPlaced", "MaxBidRaised", "LotExtended", "BidsCancelled"})},
    "live": {
        "scheduled": frozenset({"AbsenteeBidLeft"}),
        "open": frozenset(
            {"BidAccepted", "ProxyBidPlaced", "IncrementChanged", "BidsCancelled", "AskSet", "OnlineBidPending",
             "OnlineBidDeclined", "BidUndone"}
        ),
        "fair_warning": frozenset({"AskSet", "IncrementChanged", "OnlineBidPending", "OnlineBidDeclined"}),
        "paused": frozenset({"AskSet", "IncrementChanged", "OnlineBidDeclined"}),
        "sold": frozenset({"LateBidNoted"}),
        "passed": frozenset({"LateBidNoted"}),
    },
    "tender": {"open": frozenset({"TenderBidSubmitted"}), "awaiting_reveal": frozenset({"TenderRevealed"})},
}  # fmt: skip

_MOVES: dict[Format, dict[tuple[Status, str], Status]] = {
    "timed": {
        ("scheduled", "LotOpened"): "open",
        ("open", "LotSold"): "sold",
        ("open", "LotPassed"): "passed",
        ("scheduled", "LotPassed"): "passed",
    },
    "live": {
        ("scheduled", "LotOpened"): "open",
        ("open", "FairWarningCalled"): "fair_warning",
        ("fair_warning", "BidAccepted"): "open",
        ("fair_warning", "ProxyBidPlaced"): "open",
        ("fair_warning", "BidUndone"): "open",
        ("fair_warning", "BidsCancelled"): "open",
        ("open", "LotSold"): "sold",
        ("fair_warning", "LotSold"): "sold",
        ("open", "LotPassed"): "passed",
        ("fair_warning", "LotPassed"): "passed",
        ("sold", "LotReopened"): "open",
        ("passed", "LotReopened"): "open",
        ("open", "LotPaused"): "paused",
        ("fair_warning", "LotPaused"): "paused",
        ("paused", "LotResumed"): "open",
        ("paused", "LotPassed"): "passed",
    },
    "tender": {
        ("scheduled", "ViewingOpened"): "viewing",
        ("viewing", "LotOpened"): "open",
        ("open", "BidsClosed"): "awaiting_reveal",
        ("awaiting_reveal", "LotSold"): "sold",
        ("awaiting_reveal", "LotPassed"): "passed",
        ("awaiting_reveal", "AcceptanceOffered"): "awaiting_acceptance",
        ("awaiting_acceptance", "LotSold"): "sold",
        ("awaiting_acceptance", "LotPassed"): "passed",
    },
}


# The commands each status takes, per format; any other is refused (`command_refusal`).
_ROSTRUM = frozenset(
    {"PlaceBid", "TakeBid", "SetAsk", "SetIncrement", "AcceptOnlineBid", "DeclineOnlineBid", "HammerLot", "PassLot",
     "UndoBid", "WithdrawLot"}
)  # fmt: skip
COMMANDS: dict[Format, dict[Status, frozenset[str]]] = {
    "timed": {
        "scheduled": frozenset({"OpenLot", "PlaceBid", "CloseLot", "WithdrawLot"}),
        "open": frozenset({"PlaceBid", "CloseLot", "WithdrawLot", "CancelBids"}),
    },
    "live": {
        "scheduled": frozenset({"OpenLot", "PlaceBid", "WithdrawLot"}),
        "open": _ROSTRUM | {"CallFairWarning", "PauseLot", "CancelBids"},
        "fair_warning": _ROSTRUM | {"PauseLot", "CancelBids"},
        "paused": frozenset({"ResumeLot", "SetAsk", "SetIncrement", "PassLot", "WithdrawLot"}),
        "sold": frozenset({"ReopenLot", "PlaceBid"}),  # a bid after the hammer is noted, if it is only just late
        "passed": frozenset({"ReopenLot", "PlaceBid"}),
    },
    "tender": {
        "scheduled": frozenset({"OpenLot", "WithdrawLot"}),
        "viewing": frozenset({"OpenLot", "WithdrawLot"}),
        "open": frozenset({"SubmitTenderBid", "CloseLot", "WithdrawLot"}),
        "awaiting_reveal": frozenset({"RevealTender", "WithdrawLot"}),
        "awaiting_acceptance": frozenset({"AcceptTenderOffer", "DeclineTenderOffer", "CloseLot", "WithdrawLot"}),
    },
}

# Where a refused command is told something more precise than "closed" or "not open".
_REFUSALS: dict[Format, dict[tuple[Status, str], RejectReason]] = {
    "timed": {("open", "OpenLot"): "not_due"},
    "live": {("paused", "PlaceBid"): "lot_not_open", ("paused", "TakeBid"): "lot_not_open"},
    "tender": {("open", "OpenLot"): "not_due", ("scheduled", "SubmitTenderBid"): "lot_not_open"},
}


def command_refusal(fmt: Format, status: Status, command: str) -> RejectReason | None:
    """Why a lot of this format and status refuses a command of this type (its class name), or None."""
    if command in COMMANDS[fmt].get(status, frozenset()):
        return None
    special = _REFUSALS[fmt].get((status, command))
    if special is not None:
        return special
    return "lot_closed" if status in FINAL else "lot_not_open"


class IllegalTransition(Exception):
    """An event was applied in a status where the table does not allow it: a bug in decide, not bad input."""


def allows(fmt: Format, status: Status, event: str) -> bool:
    return after(fmt, status, event) is not None


def after(fmt: Format, status: Status, event: str) -> Status | None:
    """The status an event leads to, or None when the event can't happen in that status."""
    if event == "LotWithdrawn":
        return None if status in FINAL else "withdrawn"
    if event in _STAYS[fmt].get(status, frozenset()):
        return status
    return _MOVES[fmt].get((status, event))


def next_status(fmt: Format, status: Status, event: str) -> Status:
    moved = after(fmt, status, event)
    if moved is None:
        raise IllegalTransition(f"{event} cannot happen to a {fmt} lot that is {status}")
    return moved
