"""Reading a lot's record back as the bids that made it: pure, for recomputing a lot without someone's bids.

The record holds what the buyers asked (a `BidAccepted`, a `MaxBidRaised`) next to what the engine did for them
(a `ProxyBidPlaced`, a `LotExtended`). Only the first are commands; folding them through `decide` again makes the
rest. A `BidsCancelled` strikes every bid its bidder had made up to it: those are no longer part of the lot,
whatever comes later (a buyer reinstated and bidding again starts afresh).
"""

from __future__ import annotations

from collections.abc import Iterable

from auction.engine.messages import AnyEvent, BidAccepted, BidsCancelled, MaxBidRaised, PlaceBid


def live_bids(record: Iterable[AnyEvent]) -> list[PlaceBid]:
    """The PlaceBid commands the record implies, in order, leaving out the bids a BidsCancelled struck.

    A plain bid is its amount; a maximum, and a raised maximum, are the maximum the buyer asked for (the
    engine showed less of it). Proxy bids are not commands: they are made again by whoever folds these."""
    bids: list[PlaceBid] = []
    for event in record:
        match event:
            case BidAccepted():
                bids.append(
                    PlaceBid(event.at_ms, event.bidder, event.paddle, event.max_amount, event.client_id, event.kind)
                )
            case MaxBidRaised():
                bids.append(PlaceBid(event.at_ms, event.bidder, event.paddle, event.max_amount, event.client_id, "max"))
            case BidsCancelled():
                bids = [bid for bid in bids if bid.bidder != event.bidder]
    return bids


def has_live_bids(record: Iterable[AnyEvent], bidder: int) -> bool:
    """Whether `bidder` has a bid on the lot that no cancellation has struck."""
    return any(bid.bidder == bidder for bid in live_bids(record))


__all__ = ["has_live_bids", "live_bids"]
