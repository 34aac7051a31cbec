"""The exceptions of the house's desk (consignors, consignments, photos, sales being built, the catalogue file):
one tree, so that the HTTP edge (auction/gateway/house.py) maps them in one place.

    HouseError              `code` and `field` say what was wrong; the gateway maps `code` to a status
     |- HouseMissing        no such consignor, stone, sale or lot (code not_found)
     |- HouseConflict       it clashes with what exists: a stone already in a sale, a sale already published
     `- HouseInvalid        the input breaks a rule; `problems` lists every (field, message), the first is `field`

A catalogue file refused names every bad cell (auction/catalogue_file.py: CatalogueRefused, a HouseInvalid whose
problems carry the line and the column).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

HouseCode = Literal["invalid", "not_found", "conflict"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong: the field (a path such as `measurements.depth`, or a CSV column) and why."""

    field: str
    message: str


class HouseError(Exception):
    def __init__(self, code: HouseCode, field: str | None, message: str) -> None:
        super().__init__(message)
        self.code: HouseCode = code
        self.field = field


class HouseMissing(HouseError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__("not_found", field, message)


class HouseConflict(HouseError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__("conflict", field, message)


class HouseInvalid(HouseError):
    """Every problem found, not only the first; `field` and the message are the first one's."""

    def __init__(self, problems: list[Problem]) -> None:
        assert problems, "a HouseInvalid names at least one problem"
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__("invalid", first.field, f"{first.field}: {first.message}{more}")
        self.problems = problems


def refuse_if(problems: list[Problem]) -> None:
    """Raise HouseInvalid naming every problem, if there is any."""
    if problems:
        raise HouseInvalid(problems)
