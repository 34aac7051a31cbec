"""Companies tied to one another, and the consignors whose lots a buyer company may therefore not bid on.

DOMAIN.md "Abuse": a consignor can't bid on their own lots, and neither can a company linked to the consignor
nor one that shares a beneficial owner, a director or a bank reference with the consignor's company. Vetting
holds each company's owners (above 25 %), its directors (named in the application) and its bank reference; a
consignor's company is one linked to the consignor (`consignor_links`, auction.vetting.consignors).

Two companies are tied when one person is named by both (as an owner or a director of either: the same person
owning one and directing the other ties them too), or when they give the same bank reference. Names are compared
without case and extra spaces, bank references by their letters and digits (migration 0011 keeps these marks
in `company_marks`, by trigger). A company is barred from the lots of every consignor linked to it or to a
company tied to it: the engine refuses such a bid `own_lot`, reading the list in the company's standing.
"""

from __future__ import annotations

import asyncpg
import msgspec

# The companies tied to company $1, each with what ties them ("bank" or "person"; the mark compared).
_TIED = """
SELECT other.company_id, array_agg(DISTINCT other.kind || ': ' || other.mark) AS shared
FROM company_marks mine
JOIN company_marks other ON other.kind = mine.kind AND other.mark = mine.mark AND other.company_id <> mine.company_id
WHERE mine.company_id = $1
GROUP BY other.company_id
ORDER BY other.company_id
"""

_BARRED = """
SELECT coalesce(array_agg(DISTINCT l.consignor_id ORDER BY l.consignor_id), '{}')
FROM consignor_links l
WHERE l.company_id = $1 OR l.company_id IN (
    SELECT other.company_id FROM company_marks mine
    JOIN company_marks other ON other.kind = mine.kind AND other.mark = mine.mark
    WHERE mine.company_id = $1
)
"""


class Tie(msgspec.Struct, frozen=True):
    """Another company tied to this one, and what they share (`person: <name>`, `bank: <reference>`)."""

    company: int
    shared: list[str]


async def ties_of(db: asyncpg.Pool | asyncpg.Connection, company_id: int) -> list[Tie]:
    rows = await db.fetch(_TIED, company_id)
    return [Tie(row["company_id"], sorted(row["shared"])) for row in rows]


async def barred_consignors(db: asyncpg.Pool | asyncpg.Connection, company_id: int) -> tuple[int, ...]:
    """The consignors on whose lots the company may not bid: linked to it, or to a company tied to it."""
    consignors: list[int] = await db.fetchval(_BARRED, company_id)
    return tuple(consignors)
