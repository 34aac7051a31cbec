"""Officers' shares of a tender's key, held in this gateway process's memory only, until k are in or they expire.

Shares given one at a time (each officer from their own console or `auction tender share`) add up only in the
process that received them: nothing of a share is written to Redis, PostgreSQL, a log or any other process. Behind
a load balancer with several gateways, the officers either reach the same one (a sticky route to the console), or
give their shares together in one request (the console collects them; `auction tender reveal` runs the reveal in
its own process). A share is dropped SHARE_TTL_S after it was given, and every share of a sale is dropped once a
reveal with them was tried, whatever came of it: fewer than k shares are nothing, and none outlives its use.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from auction.tender.shamir import Share

SHARE_TTL_S = 600.0


@dataclass(frozen=True, slots=True)
class _Held:
    share: Share = field(repr=False)
    given_by: int
    until: float


class ShareBox:
    def __init__(self, ttl_s: float = SHARE_TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._sales: dict[int, dict[int, _Held]] = {}

    def add(self, sale: int, shares: Mapping[int, Share], given_by: int) -> dict[int, Share]:
        """Hold `shares` (officer -> share) for the sale; returns every share held for it now (officer -> share),
        those expired dropped first. A share given again for the same officer replaces theirs."""
        now = self._clock()
        held = {officer: h for officer, h in self._sales.get(sale, {}).items() if h.until > now}
        for officer, share in shares.items():
            held[officer] = _Held(share, given_by, now + self._ttl_s)
        self._sales[sale] = held
        return {officer: h.share for officer, h in held.items()}

    def expires_in_s(self, sale: int) -> float:
        """Seconds until the oldest share held for the sale expires (0 with none)."""
        held = self._sales.get(sale, {})
        return max(0.0, min((h.until for h in held.values()), default=self._clock()) - self._clock())

    def drop(self, sale: int) -> None:
        self._sales.pop(sale, None)


__all__ = ["SHARE_TTL_S", "ShareBox"]
