"""The load generator's clients all connect from 127.0.0.1. The gateway's per-address limit on websockets
(AUCTION_WS_PER_ADDRESS, default 200: a trading floor behind one address) would refuse the 800 bidders and
10,000 watchers of a bench as one abusive client, so the gateways a bench starts run with it lifted."""

from __future__ import annotations

import msgspec

from auction.config import Settings

WEBSOCKETS_PER_ADDRESS = 1_000_000  # the setting's bound: no limit a bench can reach

ENV = {"AUCTION_WS_PER_ADDRESS": str(WEBSOCKETS_PER_ADDRESS)}  # for gateways started with an environment of ours


def lifted(settings: Settings) -> Settings:
    """`settings` with the per-address limits lifted, for a process group a bench starts."""
    return msgspec.structs.replace(settings, websockets_per_address=WEBSOCKETS_PER_ADDRESS)
