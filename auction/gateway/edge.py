"""The gateway's edge policies: what every request meets before, or apart from, the route that answers it.

    Edge             the settings below, as one frozen value (auction/config.py reads them from the environment)
    same_site        whether a browser's Origin is this site (the public address, else the Host it asked for)
    AddressLimits    token buckets per client address, for anonymous requests that change something (a login, an
                     application: each costs a password hash), answered 429 `rate_limited` with Retry-After
    api_headers      nosniff and frame-deny on every API response (the pages' own headers are the pages')

Each limit is per gateway process, on purpose: it guards this process's CPU and connections, which is what a flood
of account work used to take from bidding. Behind a load balancer the address is the balancer's unless it passes
the client's on (not read yet: `request.remote` is the peer).
"""

from __future__ import annotations

import math
import time
from urllib.parse import urlsplit

import msgspec
from aiohttp import web

from auction.gateway.bid_limits import BID_RATE_PER_S

ANONYMOUS_RATE_PER_S = 2.0  # an office behind one NAT logs its buyers in at the start of a sale
ANONYMOUS_BURST = 60
WEBSOCKETS_PER_ADDRESS = 200  # a trading floor's buyers may all sit behind one office address
HANDSHAKE_TIMEOUT_S = 10.0  # a request's head (the websocket handshake's included) must arrive within this
ADDRESS_ENTRIES = 100_000  # buckets kept; past this the full ones are dropped (they are the same as none)

API_HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"}


class Edge(msgspec.Struct, frozen=True):
    """`public_url`: the address browsers use (https://auction.example); when https, the session cookie is
    `Secure` and an Origin must match it. None: the Host a request named stands for it."""

    public_url: str | None = None
    anonymous_rate_per_s: float = ANONYMOUS_RATE_PER_S
    anonymous_burst: int = ANONYMOUS_BURST
    websockets_per_address: int = WEBSOCKETS_PER_ADDRESS
    handshake_timeout_s: float = HANDSHAKE_TIMEOUT_S
    bids_per_s: int = BID_RATE_PER_S  # per bidding company, across gateways (bid_limits.py); 0: no limit

    @property
    def secure_cookies(self) -> bool:
        return self.public_url is not None and self.public_url.startswith("https://")


DEFAULT_EDGE = Edge()


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL, lower-cased, without a default port."""
    parts = urlsplit(url.strip())
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    port = parts.port
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")


def same_site(request: web.Request, public_url: str | None) -> bool:
    """Whether the request's Origin header (present: a browser sent it) is this site's. `Origin: null` (a
    sandboxed frame, a file) never is."""
    origin = request.headers.get("Origin", "")
    if not origin or origin == "null":
        return False
    if public_url is not None:
        return origin_of(origin) == origin_of(public_url)
    return origin.split("://", 1)[-1].lower() == request.host.lower()


class AddressLimits:
    """Per-address token buckets: `rate_per_s` on average, bursts of `burst`. Bounded: past `entries`
    addresses, those whose bucket has refilled (which is the same as having none) are forgotten."""

    def __init__(self, rate_per_s: float, burst: int, entries: int = ADDRESS_ENTRIES) -> None:
        self._rate = rate_per_s
        self._burst = float(burst)
        self._entries = entries
        self._buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, at)

    def take(self, address: str) -> int:
        """0 if the address may go on (and a token is taken), else the whole seconds until it may."""
        now = time.monotonic()
        tokens, at = self._buckets.get(address, (self._burst, now))
        tokens = min(self._burst, tokens + (now - at) * self._rate)
        if tokens < 1:
            self._buckets[address] = (tokens, now)
            return max(1, math.ceil((1 - tokens) / self._rate))
        if len(self._buckets) >= self._entries and address not in self._buckets:
            self._forget_full(now)
        self._buckets[address] = (tokens - 1, now)
        return 0

    def _forget_full(self, now: float) -> None:
        full = [a for a, (t, at) in self._buckets.items() if t + (now - at) * self._rate >= self._burst]
        for address in full:
            del self._buckets[address]
        if len(self._buckets) >= self._entries:  # all busy at once: start again rather than grow
            self._buckets.clear()


class AddressCounts:
    """How many of something (live websockets) each address holds now; bounded by what is open."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._counts: dict[str, int] = {}

    def open(self, address: str) -> bool:
        """Count one more for the address, unless it holds `limit` already (then False, nothing counted)."""
        held = self._counts.get(address, 0)
        if held >= self.limit:
            return False
        self._counts[address] = held + 1
        return True

    def close(self, address: str) -> None:
        held = self._counts.get(address, 0) - 1
        if held > 0:
            self._counts[address] = held
        else:
            self._counts.pop(address, None)


async def api_headers(request: web.Request, response: web.StreamResponse) -> None:
    """aiohttp's on_response_prepare: every API answer (errors and refusals included) may not be sniffed into
    another type or framed by another site."""
    if request.path.startswith("/api/") or request.path in ("/metrics", "/ws"):
        for name, value in API_HEADERS.items():
            response.headers.setdefault(name, value)
