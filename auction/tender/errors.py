"""The one exception of the tender package.

TenderRefused    a request about a tender that can't be done as given: `code` is the API's error code
                 (invalid, not_found, not_allowed, refused, conflict) and `field` names what was wrong
"""

from __future__ import annotations

from auction.httpkit import ErrorCode


class TenderRefused(Exception):
    def __init__(self, code: ErrorCode, field: str | None, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.field = field
