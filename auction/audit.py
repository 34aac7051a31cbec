"""`auction audit verify` and `auction audit replay`: the record of a sale, read from PostgreSQL alone, replayed
through the pure core.

`verify` asks whether the record is a history the rules produce (auction.engine.verify). `replay` goes on to set
every lot's result, as that replay re-derives it (sold to whom at what hammer, passed, withdrawn), against what
settlement hammered and invoiced: its invoice lines and passed lots, read here with SQL (this layer may not
import settlement; the tables are the record's neighbours in the same database), compared by auction.results.
Both read their inputs from the record and word the result for an operator or an auditor.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from auction.engine.verify import Problem, verify_sale
from auction.record import load_journal, load_sale_events
from auction.results import Line, LotResult, Passed, differences, result_of


@dataclass(frozen=True, slots=True)
class Verification:
    sale: int
    lot: int | None
    lots: int  # lots replayed
    commands: int  # commands replayed (the journal's verdicts)
    events: int  # recorded events checked
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def report(self) -> str:
        scope = f"sale {self.sale}" + (f" lot {self.lot}" if self.lot is not None else "")
        head = f"{scope}: {self.commands} commands and {self.events} events replayed over {self.lots} lots"
        if self.ok:
            return f"{head}: the record is a history the rules produce"
        lines = [f"{head}: {len(self.problems)} difference(s)", *(f"  {problem}" for problem in self.problems)]
        return "\n".join(lines)


async def verify(pg: asyncpg.Pool, sale: int, lot: int | None = None) -> Verification:
    """Replay the whole sale (a lot's bids are decided with the buyer's exposure on every other lot); report
    the problems of `lot` only, when one is given."""
    journal = await load_journal(pg, sale)
    events = await load_sale_events(pg, sale)
    replay = verify_sale(journal, events)
    problems = [p for p in replay.problems if lot is None or p.lot == lot]
    if not journal and events:
        problems.append(Problem(lot or min(events), "the record has events but no journal: nothing explains them"))
    lots = [lot] if lot is not None else sorted(set(events) | set(replay.lots))
    counted = sum(len(events.get(n, ())) for n in lots)
    return Verification(sale, lot, len(lots), replay.verdicts, counted, tuple(problems))


@dataclass(frozen=True, slots=True)
class Replayed:
    """Every lot's result re-derived from the record, and each way settlement's books differ from it."""

    sale: int
    lot: int | None
    results: tuple[LotResult, ...]
    lines: int  # invoice lines compared
    passed: int  # passed lots compared
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def report(self) -> str:
        scope = f"sale {self.sale}" + (f" lot {self.lot}" if self.lot is not None else "")
        head = (f"{scope}: {len(self.results)} lots re-derived from the record, against {self.lines} invoice lines "
                f"and {self.passed} passed lots")  # fmt: skip
        lots = [f"  lot {result.lot}: {result}" for result in self.results]
        if self.ok:
            return "\n".join([f"{head}: they agree", *lots])
        found = [f"  {problem}" for problem in self.problems]
        return "\n".join([f"{head}: {len(self.problems)} difference(s)", *found, "results:", *lots])


async def replay(pg: asyncpg.Pool, sale: int, lot: int | None = None) -> Replayed:
    """Re-derive every lot's result from the record (the whole sale is replayed, as `verify` does) and compare it
    with settlement's invoice lines and passed lots; report `lot` only, when one is given. A record that does not
    verify is a difference too: a result re-derived from it proves nothing."""
    journal = await load_journal(pg, sale)
    events = await load_sale_events(pg, sale)
    verified = verify_sale(journal, events)
    results = {n: result_of(state, events.get(n, ())) for n, state in verified.lots.items()}
    lines, passed = await _invoice_lines(pg, sale), await _passed_lots(pg, sale)
    problems = [*verified.problems, *differences(results, lines, passed)]
    problems += [Problem(n, "the record has events but no journal re-derives them") for n in set(events) - set(results)]
    wanted = [result for n, result in sorted(results.items()) if lot is None or n == lot]
    return Replayed(
        sale, lot, tuple(wanted), sum(1 for line in lines if lot in (None, line.lot)),
        sum(1 for row in passed if lot in (None, row.lot)), tuple(p for p in problems if lot in (None, p.lot)),
    )  # fmt: skip


async def _invoice_lines(pg: asyncpg.Pool, sale: int) -> list[Line]:
    rows = await pg.fetch(
        "SELECT l.id, l.lot_no, i.buyer_id, l.hammer, l.source, l.status = 'active' AS active "
        "FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id WHERE l.sale_id = $1 ORDER BY l.lot_no, l.id",
        sale,
    )
    return [Line(r["id"], r["lot_no"], r["buyer_id"], r["hammer"], r["source"], r["active"]) for r in rows]


async def _passed_lots(pg: asyncpg.Pool, sale: int) -> list[Passed]:
    rows = await pg.fetch(
        "SELECT lot_no, highest_bid, status FROM passed_lots WHERE sale_id = $1 ORDER BY lot_no", sale
    )
    return [Passed(r["lot_no"], r["highest_bid"], r["status"]) for r in rows]
