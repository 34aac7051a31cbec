"""The record in PostgreSQL: every event of every lot (`lot_events`) and every sale's journal (`sale_journal`).

Both are written by the persister from the Redis streams, and by the store itself in `postgres` durability.
Writing a row twice is harmless: `lot_events` is unique on (sale, lot, seq) and `sale_journal` on (sale, entry
id), and every insert skips what is already there. Reading them back is all the verifier and the rebuild need:
the record alone says what happened, and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import asyncpg

from auction.engine.journal import JOURNAL_DECODER, AnyJournalEntry
from auction.engine.lot import LotState, LotTerms, replay
from auction.engine.messages import EVENT_DECODER, EVENT_ENCODER, AnyEvent


class EventRow(NamedTuple):
    """One row of lot_events; `data` is the event's tagged JSON."""

    sale: int
    lot: int
    seq: int
    type: str
    at_ms: int
    data: str


def event_row(sale: int, lot: int, event: AnyEvent, data: str | None = None) -> EventRow:
    """`data` is the event's JSON when the caller already has it (as read from a stream)."""
    tag = str(type(event).__struct_config__.tag)
    json = data if data is not None else EVENT_ENCODER.encode(event).decode()
    return EventRow(sale, lot, event.seq, tag, event.at_ms, json)


# One statement for a whole batch: arrays in, rows out; a (sale, lot, seq) already recorded is skipped.
_INSERT_EVENTS = """
INSERT INTO lot_events (sale_id, lot_no, seq, type, at_ms, data)
SELECT sale_id, lot_no, seq, type, at_ms, data::jsonb
FROM unnest($1::bigint[], $2::int[], $3::bigint[], $4::text[], $5::bigint[], $6::text[])
    AS batch(sale_id, lot_no, seq, type, at_ms, data)
ON CONFLICT (sale_id, lot_no, seq) DO NOTHING
"""


async def write_events(pg: asyncpg.Pool | asyncpg.Connection, rows: Sequence[EventRow]) -> int:
    """Insert the rows not yet recorded; returns how many were new."""
    if not rows:
        return 0
    columns = [list(column) for column in zip(*rows, strict=True)]
    status: str = await pg.execute(_INSERT_EVENTS, *columns)
    return int(status.rsplit(" ", 1)[-1])  # "INSERT 0 <rows>"


async def load_lot_events(pg: asyncpg.Pool, sale: int, lot: int) -> list[AnyEvent]:
    """A lot's recorded events in seq order (data read as text, whatever jsonb codec the pool has)."""
    rows = await pg.fetch(
        "SELECT data::text FROM lot_events WHERE sale_id = $1 AND lot_no = $2 ORDER BY seq", sale, lot
    )
    return [EVENT_DECODER.decode(row[0]) for row in rows]


async def load_lot_events_between(
    pg: asyncpg.Pool, sale: int, lot: int, after_seq: int, before_seq: int, limit: int
) -> list[AnyEvent]:
    """A lot's recorded events with after_seq < seq < before_seq, in seq order, at most `limit`: what the janitor
    trimmed from the lot's stream in Redis (LotStore.events_after)."""
    rows = await pg.fetch(
        "SELECT data::text FROM lot_events WHERE sale_id = $1 AND lot_no = $2 AND seq > $3 AND seq < $4 "
        "ORDER BY seq LIMIT $5",
        sale,
        lot,
        after_seq,
        before_seq,
        limit,
    )
    return [EVENT_DECODER.decode(row[0]) for row in rows]


async def recorded_prefixes(pg: asyncpg.Pool, sale: int, lots: Sequence[int]) -> dict[int, int]:
    """Per lot, the highest seq up to which the record holds every event (seqs start at 1, without gaps: the
    record holds 1..n exactly when it has n rows whose highest seq is n). A lot with a hole in its record (a
    later event written first, for a moment) or none is left out."""
    rows = await pg.fetch(
        "SELECT lot_no, max(seq) AS last, count(*) AS n FROM lot_events WHERE sale_id = $1 AND lot_no = ANY($2) "
        "GROUP BY lot_no",
        sale,
        list(lots),
    )
    return {row["lot_no"]: row["last"] for row in rows if row["last"] == row["n"]}


async def load_sale_events(pg: asyncpg.Pool, sale: int) -> dict[int, list[AnyEvent]]:
    """Every lot's recorded events, in seq order."""
    rows = await pg.fetch("SELECT lot_no, data::text FROM lot_events WHERE sale_id = $1 ORDER BY lot_no, seq", sale)
    events: dict[int, list[AnyEvent]] = {}
    for row in rows:
        events.setdefault(row[0], []).append(EVENT_DECODER.decode(row[1]))
    return events


async def rebuild_from_record(pg: asyncpg.Pool, terms: LotTerms) -> LotState:
    """A lot's state from its recorded events alone: replay is a fold of `evolve`."""
    return replay(terms, await load_lot_events(pg, terms.sale, terms.lot))


class JournalRow(NamedTuple):
    """One row of sale_journal: the entry's stream id (milliseconds, sequence) orders the sale's journal."""

    sale: int
    entry_ms: int
    entry_seq: int
    kind: str
    body: str


def journal_row(sale: int, entry_id: bytes | str, body: bytes | str) -> JournalRow:
    """A journal entry as read from the stream (its id `<ms>-<seq>`, its JSON)."""
    text_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text_id.partition("-")
    text = body.decode() if isinstance(body, bytes) else body
    kind = str(type(JOURNAL_DECODER.decode(text)).__struct_config__.tag)
    return JournalRow(sale, int(ms), int(seq), kind, text)


_INSERT_JOURNAL = """
INSERT INTO sale_journal (sale_id, entry_ms, entry_seq, kind, body)
SELECT sale_id, entry_ms, entry_seq, kind, body::jsonb
FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[])
    AS batch(sale_id, entry_ms, entry_seq, kind, body)
ON CONFLICT (sale_id, entry_ms, entry_seq) DO NOTHING
"""


async def write_journal(pg: asyncpg.Pool | asyncpg.Connection, rows: Sequence[JournalRow]) -> int:
    """Insert the entries not yet recorded; returns how many were new."""
    if not rows:
        return 0
    columns = [list(column) for column in zip(*rows, strict=True)]
    status: str = await pg.execute(_INSERT_JOURNAL, *columns)
    return int(status.rsplit(" ", 1)[-1])


async def load_journal(pg: asyncpg.Pool, sale: int) -> list[AnyJournalEntry]:
    """A sale's journal in the order it was written."""
    rows = await pg.fetch("SELECT body::text FROM sale_journal WHERE sale_id = $1 ORDER BY entry_ms, entry_seq", sale)
    return [JOURNAL_DECODER.decode(row[0]) for row in rows]


__all__ = [
    "EventRow",
    "JournalRow",
    "event_row",
    "journal_row",
    "load_journal",
    "load_lot_events",
    "load_lot_events_between",
    "load_sale_events",
    "rebuild_from_record",
    "recorded_prefixes",
    "write_events",
    "write_journal",
]
