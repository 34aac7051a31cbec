"""The journal: what the engine was asked and what it answered, in the order it happened, per sale.

The events of a lot say what happened to it; the journal says why. Every commit of the store appends one
`Committed` entry holding a `Verdict` per command, accepted or refused: the command exactly as decided (its
time stamped), the lot's version it was decided against, the context it was decided with (the bidder's and the
leader's standing and exposure), and either the refusal or the seqs of the events it caused. Creating a lot
and every change of a buyer's standing are entries too. The store writes an entry in the same atomic step as
what it records; the persister copies the journal into PostgreSQL next to the events.

So the record can be checked from PostgreSQL alone (auction.engine.verify): replaying the journal through
`decide` must give exactly the recorded events and refusals, and every context must be what the record itself
implies.
"""

from __future__ import annotations

import msgspec

from auction.engine.lot import LotTerms
from auction.engine.messages import AnyCommand, Rejected
from auction.engine.standing import BidContext, BidderStanding, BookContext
from auction.engine.state import Rostrum


class Verdict(msgspec.Struct, frozen=True):
    """One command as decided. Accepted: the events with seq first_seq..last_seq (none for an accepted command
    that changed nothing is impossible: every acceptance records at least one event). Refused: `rejected`."""

    lot: int
    version: int
    command: AnyCommand
    context: BidContext | BookContext | None = None
    rejected: Rejected | None = None
    first_seq: int = 0
    last_seq: int = 0
    rostrum: Rostrum | None = None  # a live sale's, for the commands that consult it


class JournalEntry(msgspec.Struct, frozen=True, tag_field="kind"):
    pass


class LotCreated(JournalEntry, frozen=True, tag="lot_created"):
    terms: LotTerms


class StandingSet(JournalEntry, frozen=True, tag="standing_set"):
    standing: BidderStanding


class Committed(JournalEntry, frozen=True, tag="committed"):
    """One atomic commit of a batch of commands of one sale, by the writer named (a store's id)."""

    writer: str
    verdicts: tuple[Verdict, ...]


AnyJournalEntry = LotCreated | StandingSet | Committed

JOURNAL_ENCODER = msgspec.json.Encoder()
JOURNAL_DECODER = msgspec.json.Decoder(AnyJournalEntry)

__all__ = [
    "JOURNAL_DECODER",
    "JOURNAL_ENCODER",
    "AnyJournalEntry",
    "Committed",
    "JournalEntry",
    "LotCreated",
    "StandingSet",
    "Verdict",
]
