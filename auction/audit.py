"""`auction audit verify`: the record of a sale, read from PostgreSQL alone, replayed through the pure core.

The pure check is auction.engine.verify; this module reads its inputs (the sale's journal and every lot's
events) from the record and words the result for an operator or an auditor.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from auction.engine.verify import Problem, verify_sale
from auction.record import load_journal, load_sale_events


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
