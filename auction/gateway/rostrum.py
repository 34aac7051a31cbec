"""The rostrum desk: a live sale's operators' messages (the auctioneer's and the clerk's) turned into the engine's
commands, executed through the store and answered; and commission bids that the clerk enters for a paddle.

Each message is stamped with the server's clock when its frame arrived, as bids are, and executed with a dedupe
key made of the operator's account and the message's `request_id`: a resend (after a lost connection, or an
`unavailable` answer) gets the first answer and never acts twice. A `take_bid`'s paddle is resolved to the company
registered with it in the sale, whose standing and limit the engine then applies (a floor bid over the paddle's
limit is refused `over_limit`); a house bid is the engine's HOUSE. Only lots of live sales take these messages.

Who may send which message is access.MESSAGE_RULES's to say, before anything here runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import assert_never

from auction.engine.messages import (
    AcceptOnlineBid,
    AnyCommand,
    CallFairWarning,
    DeclineOnlineBid,
    HammerLot,
    OpenLot,
    PassLot,
    PauseLot,
    PlaceBid,
    Rejected,
    ReopenLot,
    ResumeLot,
    SetAsk,
    SetIncrement,
    TakeBid,
    UndoBid,
    WithdrawLot,
)
from auction.engine.state import HOUSE
from auction.gateway.desk import naming
from auction.gateway.fanout import TermsCache
from auction.gateway.identities import Identities
from auction.gateway.lookups import DatabaseUnavailable
from auction.gateway.protocol import (
    AcceptOnlineBidMessage,
    AnyRostrumMessage,
    DeclineOnlineBidMessage,
    Error,
    FairWarningMessage,
    HammerMessage,
    OpenLotMessage,
    PassLotMessage,
    PauseLotMessage,
    ReopenLotMessage,
    ResumeLotMessage,
    RostrumAck,
    RostrumRefused,
    SetAskMessage,
    SetIncrementMessage,
    TakeBidMessage,
    UndoBidMessage,
    WithdrawLotMessage,
)
from auction.httpkit import Caller
from auction.store import LotNotFound, LotStore, Outcome, StoreUnavailable

log = logging.getLogger(__name__)

RostrumAnswer = RostrumAck | RostrumRefused | Error
# Every rostrum message but take_bid: each is one command of the engine's, needing nothing looked up.
Order = (
    OpenLotMessage
    | SetAskMessage
    | SetIncrementMessage
    | AcceptOnlineBidMessage
    | DeclineOnlineBidMessage
    | FairWarningMessage
    | HammerMessage
    | PassLotMessage
    | ReopenLotMessage
    | PauseLotMessage
    | ResumeLotMessage
    | UndoBidMessage
    | WithdrawLotMessage
)


@dataclass(frozen=True, slots=True)
class CommissionBid:
    """A commission (absentee) bid as the clerk enters it: for `paddle`, up to `amount`; `client_id` the clerk's."""

    sale: int
    lot: int
    paddle: int
    amount: int
    client_id: str
    received_ms: int


def operator_key(caller: Caller, request_id: str) -> str:
    """The dedupe key (and the engine's client id) of an operator's command: theirs alone, whatever they send.
    A buyer's keys start with their company's id, so the two never meet."""
    return f"op{caller.account}:{request_id}"


def commission_key(caller: Caller, client_id: str) -> str:
    return f"op{caller.account}:absentee:{client_id}"


class RostrumDesk:
    """Executes the rostrum's messages, and commission bids, through the store."""

    def __init__(self, store: LotStore, identities: Identities, terms: TermsCache) -> None:
        self._store = store
        self._identities = identities
        self._terms = terms

    async def handle(self, caller: Caller, message: AnyRostrumMessage, received_ms: int) -> RostrumAnswer:
        """The answer to one rostrum message. Raises StoreError (other than the two answered here)."""
        refused = await self._not_live(message.sale, message.lot)
        if refused is not None:
            return naming(refused, message)
        key = operator_key(caller, message.request_id)
        command = await self._command(message, received_ms, key)
        if isinstance(command, Error):
            return naming(command, message)
        outcome = await self._execute(message.sale, message.lot, command, key)
        if isinstance(outcome, Error):
            return naming(outcome, message)
        if isinstance(outcome, Rejected):
            return RostrumRefused(message.request_id, message.sale, message.lot, outcome.reason, outcome.next_amount)
        return RostrumAck(message.request_id, message.sale, message.lot, outcome.state.seq)

    async def enter_commission(self, caller: Caller, bid: CommissionBid) -> Outcome | Error:
        """A written or phone commission bid for a paddle: the engine's maximum bid for the paddle's company, which
        joins the lot's absentee book (or is refused, with the engine's reason). Raises StoreError."""
        refused = await self._not_live(bid.sale, bid.lot)
        if refused is not None:
            return refused
        company = await self._holder(bid.sale, bid.paddle)
        if isinstance(company, Error):
            return company
        command = PlaceBid(bid.received_ms, company, bid.paddle, bid.amount, bid.client_id, "max")
        return await self._execute(bid.sale, bid.lot, command, commission_key(caller, bid.client_id))

    async def _not_live(self, sale: int, lot: int) -> Error | None:
        """Why the lot can't take the rostrum's commands: there is no such lot, or it is not in a live sale."""
        terms = await self._terms.get(sale, lot)
        if terms is None:
            return Error("not_found", "lot", f"sale {sale} has no lot {lot}")
        if terms.format != "live":
            return Error("refused", "sale", f"sale {sale} is a {terms.format} sale: only a live sale has a rostrum")
        return None

    async def _command(self, message: AnyRostrumMessage, at_ms: int, key: str) -> AnyCommand | Error:
        """The engine's command; a take_bid's is for the company holding the paddle (the house's: HOUSE), and
        carries the operator's key as its client id, so the record says who took it."""
        if not isinstance(message, TakeBidMessage):
            return command_of(message, at_ms)
        bidder = HOUSE if message.source == "house" else await self._holder(message.sale, message.paddle)
        if isinstance(bidder, Error):
            return bidder
        return TakeBid(at_ms, bidder, message.paddle, message.source, key)

    async def _holder(self, sale: int, paddle: int) -> int | Error:
        try:
            company = await self._identities.holder(sale, paddle)
        except DatabaseUnavailable:
            log.warning("sale %s: who holds paddle %s could not be looked up", sale, paddle, exc_info=True)
            return Error("unavailable", "paddle", "who holds the paddle can't be looked up now; try again")
        if company is None:
            return Error("not_found", "paddle", f"nobody holds paddle {paddle} in sale {sale}")
        return company

    async def _execute(self, sale: int, lot: int, command: AnyCommand, dedupe: str) -> Outcome | Error:
        try:
            return await self._store.execute(sale, lot, command, dedupe=dedupe)
        except LotNotFound:
            return Error("not_found", "lot", f"sale {sale} has no lot {lot}")
        except StoreUnavailable:
            log.warning("sale %s lot %s: %s outcome unknown", sale, lot, type(command).__name__, exc_info=True)
            return Error("unavailable", None, "the outcome is unknown: send it again with the same id")


def command_of(message: Order, at_ms: int) -> AnyCommand:
    """The engine's command for an order from the rostrum received at `at_ms`."""
    match message:
        case OpenLotMessage():
            return OpenLot(at_ms, ask=message.ask or 0)
        case SetAskMessage():
            return SetAsk(at_ms, message.amount)
        case SetIncrementMessage():
            return SetIncrement(at_ms, message.amount)
        case AcceptOnlineBidMessage():
            return AcceptOnlineBid(at_ms)
        case DeclineOnlineBidMessage():
            return DeclineOnlineBid(at_ms, message.reason)
        case FairWarningMessage():
            return CallFairWarning(at_ms)
        case HammerMessage():
            return HammerLot(at_ms)
        case PassLotMessage():
            return PassLot(at_ms)
        case ReopenLotMessage():
            return ReopenLot(at_ms, message.reason)
        case PauseLotMessage():
            return PauseLot(at_ms, message.reason)
        case ResumeLotMessage():
            return ResumeLot(at_ms)
        case UndoBidMessage():
            return UndoBid(at_ms)
        case WithdrawLotMessage():
            return WithdrawLot(at_ms, message.reason)
        case _:
            assert_never(message)
