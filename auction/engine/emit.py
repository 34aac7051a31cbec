"""Events as a decision makes them: numbered in turn and applied at once, so later rules see what they left."""

from __future__ import annotations

from typing import Any

from auction.engine.evolve import evolve
from auction.engine.messages import AnyEvent
from auction.engine.state import LotState


class Emitter:
    def __init__(self, state: LotState, at_ms: int) -> None:
        self.state = state
        self.at_ms = at_ms
        self.events: list[AnyEvent] = []

    def emit(self, event_type: type[AnyEvent], /, **fields: Any) -> None:
        event = event_type(seq=self.state.seq + 1, at_ms=self.at_ms, **fields)
        self.state = evolve(self.state, event)
        self.events.append(event)


__all__ = ["Emitter"]
