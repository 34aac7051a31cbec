"""The vetting package's exceptions: one tree, so that the HTTP edge maps them in one place (gateway/accounts.py).

    VettingError            `code` and `field` say what was wrong; the gateway maps `code` to a status
     |- VettingRefused      the request is well formed but the rules say no (sanctioned, not approved, ...)
     `- Conflict            it clashes with what exists (paddle taken, already registered, wrong status)

VettingRefused is named for its package because settlement has refusals of its own (settlement.unsold.Refused,
settlement.shipping.Refused).
"""

from __future__ import annotations


class VettingError(Exception):
    def __init__(self, code: str, field: str | None, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


class VettingRefused(VettingError):
    pass


class Conflict(VettingError):
    pass
