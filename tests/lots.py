"""Lots and commands for store, persister and scheduler tests: a timed lot on eBay's ladder (cents)."""

from __future__ import annotations

import itertools

from auction.engine.ladder import EBAY_LADDER_USD
from auction.engine.lot import LotTerms, SoftClose
from auction.engine.messages import AnyCommand, BidKind, PlaceBid

START = 1_000_000
END = 2_000_000
MINUTE = 60_000

_client_ids = itertools.count(1)


def bid(at_ms: int, bidder: int, amount: int, kind: BidKind = "bid") -> PlaceBid:
    """A bid with a fresh client id; the paddle is derived from the bidder."""
    client_id = f"c{next(_client_ids)}"
    return PlaceBid(at_ms=at_ms, bidder=bidder, paddle=100 + bidder, amount=amount, client_id=client_id, kind=kind)


def max_bid(at_ms: int, bidder: int, amount: int) -> PlaceBid:
    return bid(at_ms, bidder, amount, "max")


def terms_for(sale: int, lot: int = 1, *, reserve: int = 0, opening: int = 100, cap_ms: int | None = None) -> LotTerms:
    """A timed lot on eBay's ladder (cents), open from START to END, 2-minute soft close."""
    return LotTerms(
        sale=sale,
        lot=lot,
        opening=opening,
        reserve=reserve,
        start_ms=START,
        end_ms=END,
        ladder=EBAY_LADDER_USD,
        soft_close=SoftClose(window_ms=2 * MINUTE, extension_ms=2 * MINUTE, cap_ms=cap_ms),
        consignor=9,
    )


def dedupe_key(command: AnyCommand) -> str | None:
    """What the gateway sends as the dedupe key: "<bidder>:<client_id>" for a bid, nothing otherwise."""
    return f"{command.bidder}:{command.client_id}" if isinstance(command, PlaceBid) else None
