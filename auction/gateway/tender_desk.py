"""The tender desk: a buyer's sealed bid on a tender lot, sealed on receipt and submitted, for the live channel
(`tender_bid`) and the HTTP API (POST /api/sales/{sale}/lots/{lot}/tender-bids).

The amount is in this process's memory only while it is sealed: the gateway computes the total (a bid per carat
times the lot's weight, rounded half up), draws a salt, seals the bid to the tender's public key
(auction.tender.sealing, bound to the sale, lot, bidder and client id), computes the salted commitment
(auction.engine.formats.tender.commitment), and submits SubmitTenderBid, which carries only the two. Nothing
before that is written, logged or sent anywhere; the ticket keeps its amount out of its repr, so no log line or
error message can print it. The buyer's receipt has the commitment and the salt, never the amount.

If the buyer's client sent a public key of its own (`buyer_key`), a copy of the bid is sealed to it (the seal a
browser opens with WebCrypto) and kept with the tender (auction.tender.records), so the buyer reads their bids
before the close and the house can't.

The buyer's limit is not checked (the house can't read the amount: it holds at the reveal), but who bids is: the
engine refuses a bidder who is not registered, approved and in good standing, in the same atomic step.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
from dataclasses import dataclass, field

import asyncpg
import msgspec

from auction.engine.formats.tender import commitment, total_of
from auction.engine.messages import Rejected, RejectReason, SubmitTenderBid, TenderBidSubmitted
from auction.gateway.bid_limits import BidLimits
from auction.gateway.fanout import TermsCache
from auction.gateway.identities import IDENTITY_TTL_S, Identities
from auction.gateway.lookups import PG_OUT_OF_REACH, DatabaseUnavailable, TtlCache, ask_pg
from auction.gateway.protocol import MAX_AMOUNT, BidRejected, Error, TenderBid, TenderReceipt
from auction.httpkit import Caller, ErrorCode
from auction.store import Accepted, LotNotFound, LotStore, StoreUnavailable
from auction.tender import records
from auction.tender.records import BidCopy
from auction.tender.sealing import BidContent, SealError, public_key_of, seal, seal_for_browser, where_of

log = logging.getLogger(__name__)

SALT_BYTES = 16  # 128 bits: the commitment can't be opened by trying amounts without the salt
KEY_TTL_S = 3_600.0  # a tender's public key never changes
NO_TENDER_TTL_S = IDENTITY_TTL_S

TenderAnswer = TenderReceipt | BidRejected | Error


@dataclass(frozen=True, slots=True)
class TenderTicket:
    """A tender bid as received. The amount, the per-carat figure and the buyer's key are left out of its repr:
    nothing that prints a ticket can print them."""

    sale: int
    lot: int
    client_id: str
    priority: int
    received_ms: int
    amount: int | None = field(default=None, repr=False)
    per_carat: int | None = field(default=None, repr=False)
    buyer_key: str | None = field(default=None, repr=False)

    @classmethod
    def of(cls, message: TenderBid, received_ms: int) -> TenderTicket:
        return cls(message.sale, message.lot, message.client_id, message.priority, received_ms, message.amount,
                   message.per_carat, message.buyer_key)  # fmt: skip

    def error(self, code: ErrorCode, field_name: str | None, message: str) -> Error:
        return Error(code, field_name, message, self.client_id, self.sale, self.lot)

    def rejected(self, reason: RejectReason) -> BidRejected:
        return BidRejected(self.client_id, self.sale, self.lot, reason, 0)


@dataclass(frozen=True, slots=True)
class _Sealed:
    """A bid once sealed: what is submitted, and what only the buyer gets back."""

    command: SubmitTenderBid
    salt: str = field(repr=False)
    copy: str | None = field(repr=False)


class TenderDesk:
    def __init__(
        self,
        store: LotStore,
        pg: asyncpg.Pool,
        identities: Identities,
        terms: TermsCache,
        limits: BidLimits | None = None,
    ) -> None:
        self._store = store
        self._pg = pg
        self._identities = identities
        self._terms = terms
        self._limits = limits  # the company's bid rate, shared with its open bids (bid_limits.py); None: no limit
        self._keys: TtlCache[int, bytes | None] = TtlCache()

    async def submit(self, caller: Caller, ticket: TenderTicket) -> TenderAnswer:
        """The answer to one tender bid. Raises StoreError (other than the two answered here)."""
        if caller.role != "buyer" or caller.company is None:
            return ticket.rejected("not_allowed")
        wait_s = await self._limits.take(caller.company) if self._limits is not None else 0
        if wait_s:  # before the sealing, which is the costly part
            limited = ticket.error(
                "rate_limited", "company", f"your company is over its bid rate: try again in {wait_s} s"
            )
            return msgspec.structs.replace(limited, retry_after=wait_s)
        sealed = await self._sealed(caller, caller.company, ticket)
        if not isinstance(sealed, _Sealed):
            return sealed
        try:
            dedupe = f"{caller.company}.{caller.account}:{ticket.client_id}"  # as a bid's: one company, two people
            outcome = await self._store.execute(ticket.sale, ticket.lot, sealed.command, dedupe=dedupe)
        except LotNotFound:
            return ticket.error("not_found", "lot", f"sale {ticket.sale} has no lot {ticket.lot}")
        except StoreUnavailable:
            log.warning("tender bid %s.%s:%s: outcome unknown", caller.company, caller.account, ticket.client_id)
            return ticket.error(
                "unavailable", None, "the outcome is unknown: send the bid again with the same client_id"
            )
        if isinstance(outcome, Rejected):
            return ticket.rejected(outcome.reason)
        return await self._receipt(caller.company, ticket, sealed, outcome)

    async def _sealed(self, caller: Caller, company: int, ticket: TenderTicket) -> _Sealed | TenderAnswer:
        """The bid sealed, or why it can't be taken (before anything is submitted)."""
        terms = await self._terms.get(ticket.sale, ticket.lot)
        if terms is None:
            return ticket.error("not_found", "lot", f"sale {ticket.sale} has no lot {ticket.lot}")
        if terms.format != "tender":
            return ticket.error("refused", "sale", f"sale {ticket.sale} is a {terms.format} sale, not a tender")
        total = _total(ticket, terms.tender.carat_points)
        if isinstance(total, Error):
            return total
        try:
            paddle = await self._identities.paddle(caller, ticket.sale)
            tender_key = await self._tender_key(ticket.sale)
        except DatabaseUnavailable:
            return ticket.error("unavailable", None, "the bid was not placed: send it again shortly")
        if paddle is None:  # the engine would say not_registered too; this spares it the round trip
            return ticket.rejected("not_registered")
        if tender_key is None:
            return ticket.error("refused", "sale", f"sale {ticket.sale} has no tender key: it takes no bids")
        try:
            buyer_key = public_key_of(ticket.buyer_key) if ticket.buyer_key is not None else None
        except SealError as exc:
            return ticket.error("invalid", "buyer_key", str(exc))
        salt = secrets.token_hex(SALT_BYTES)
        where = where_of(ticket.sale, ticket.lot, company, ticket.client_id)
        made = commitment(ticket.sale, ticket.lot, company, ticket.client_id, total, ticket.per_carat, salt)
        sealed = seal(BidContent(total, ticket.per_carat, salt), tender_key, where)
        command = SubmitTenderBid(ticket.received_ms, company, paddle, ticket.client_id, sealed, made, ticket.priority)
        copy = _copy(ticket, company, total, salt, buyer_key) if buyer_key is not None else None
        return _Sealed(command, salt, copy)

    async def _receipt(self, company: int, ticket: TenderTicket, sealed: _Sealed, outcome: Accepted) -> TenderReceipt:
        """The receipt; a copy kept if this is the bid's first answer (a resend's answer is the first one's, whose
        salt and copy this request never saw)."""
        submitted = next(e for e in outcome.events if isinstance(e, TenderBidSubmitted) and e.client_id ==
                         ticket.client_id and e.bidder == company)  # fmt: skip
        first = submitted.commitment == sealed.command.commitment
        kept = first and sealed.copy is not None and await self._keep_copy(company, ticket, sealed, submitted)
        return TenderReceipt(
            ticket.client_id, ticket.sale, ticket.lot, submitted.seq, submitted.commitment,
            sealed.salt if first else None, submitted.at_ms, submitted.priority, kept,
        )  # fmt: skip

    async def _keep_copy(self, company: int, ticket: TenderTicket, sealed: _Sealed, event: TenderBidSubmitted) -> bool:
        assert sealed.copy is not None and ticket.buyer_key is not None
        copy = BidCopy(ticket.sale, ticket.lot, company, ticket.client_id, event.commitment,
                       base64.b64decode(ticket.buyer_key), sealed.copy, event.at_ms)  # fmt: skip
        try:
            await records.keep_copy(self._pg, copy)
        except PG_OUT_OF_REACH:  # the bid stands: only the copy is missing, and the receipt says so
            log.warning("tender bid %s:%s: the buyer's copy could not be kept", company, ticket.client_id)
            return False
        return True

    async def _tender_key(self, sale: int) -> bytes | None:
        """Raises DatabaseUnavailable."""

        async def read() -> bytes | None:
            key = await records.tender_key(self._pg, sale)
            return None if key is None else key.public_key

        return await ask_pg(self._keys, sale, read, lambda key: KEY_TTL_S if key else NO_TENDER_TTL_S,
                            "reading a tender's key", stands_in=lambda key: key is not None)  # fmt: skip


def _total(ticket: TenderTicket, carat_points: int) -> int | Error:
    """The bid's total in minor units: as given, or the per-carat figure times the lot's weight."""
    if (ticket.amount is None) == (ticket.per_carat is None):
        return ticket.error("invalid", "amount", "give the total (amount) or the per-carat figure (per_carat), "
                            "one of them")  # fmt: skip
    if ticket.amount is not None:
        return ticket.amount
    assert ticket.per_carat is not None
    total = total_of(ticket.per_carat, carat_points)
    if not 1 <= total <= MAX_AMOUNT:
        return ticket.error("invalid", "per_carat", f"at this lot's weight the total must be 1 to {MAX_AMOUNT}")
    return total


def _copy(ticket: TenderTicket, company: int, total: int, salt: str, buyer_key: bytes) -> str:
    """The buyer's copy: what they bid, as JSON, sealed to their own key."""
    text = json.dumps({"sale": ticket.sale, "lot": ticket.lot, "client_id": ticket.client_id, "amount": total,
                       "per_carat": ticket.per_carat, "priority": ticket.priority, "salt": salt,
                       "submitted_ms": ticket.received_ms}, separators=(",", ":"))  # fmt: skip
    return seal_for_browser(text, buyer_key, records.copy_place(ticket.sale, ticket.lot, company, ticket.client_id))


__all__ = ["TenderAnswer", "TenderDesk", "TenderTicket"]
