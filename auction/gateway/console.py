"""The console's view of a live sale, read from the store: for each lot what the rostrum's operators see beside its
record (auction.engine.views.live_console: the ask, where the lead came from, the online bid waiting, the
commission bar, the absentee book, the possible missed bids), which lot is on the block, and how many watch.

The possible missed bids are the lot's `LateBidNoted` events since its last hammer: read from the end of the
lot's stream, a few events at a time, so a long lot costs no more than a short one.
"""

from __future__ import annotations

import asyncio

import msgspec

from auction.engine.lot import ON_THE_BLOCK, LotState
from auction.engine.messages import AnyEvent, LotPassed, LotSold
from auction.engine.views import LiveConsole, LotView, live_console, lot_view
from auction.store import LotStore

HAMMER_WINDOW = 16  # events read back from a closed lot's newest to find its last hammer; widened if not found


class ConsoleLot(msgspec.Struct, frozen=True):
    """One lot of a live sale at the console: its record, as `record_snapshot` carries it, and the live fields."""

    lot_state: LotView
    reserve: int
    leader: int | None
    leader_max: int
    consignor: int
    live: LiveConsole


class RostrumView(msgspec.Struct, frozen=True):
    """A live sale at the console: the lot on the block (null between lots), how many watch the sale through this
    gateway, and every lot, in lot order."""

    sale: int
    server_ms: int
    on_block: int | None
    watching: int
    lots: list[ConsoleLot]


async def console_of(store: LotStore, state: LotState) -> LiveConsole | None:
    """The live fields of a lot (None unless it is a live sale's), as of `state`."""
    if state.terms.format != "live":
        return None
    return live_console(state, await since_hammer(store, state))


async def since_hammer(store: LotStore, state: LotState) -> list[AnyEvent]:
    """The lot's events from its last hammer (sold or passed) to `state.seq`; none while it is not closed."""
    if state.status not in ("sold", "passed"):
        return []
    window = HAMMER_WINDOW
    while True:
        after = max(0, state.seq - window)
        events = await store.events_after(state.terms.sale, state.terms.lot, after, state.seq - after)
        hammers = [index for index, event in enumerate(events) if isinstance(event, LotSold | LotPassed)]
        if hammers or after == 0:
            return events[hammers[-1] :] if hammers else events
        window *= 4


async def rostrum_view(store: LotStore, sale: int, watching: int, now_ms: int) -> RostrumView | None:
    """The sale at the console; None if the store has no lots of it. Lots of other formats are left out."""
    states = await store.states(sale)
    if not states:
        return None
    live = [state for state in states if state.terms.format == "live"]
    lots = await asyncio.gather(*(_console_lot(store, state) for state in live))
    on_block = next((state.terms.lot for state in live if state.status in ON_THE_BLOCK), None)
    return RostrumView(sale, now_ms, on_block, watching, list(lots))


async def _console_lot(store: LotStore, state: LotState) -> ConsoleLot:
    terms = state.terms
    live = live_console(state, await since_hammer(store, state))
    return ConsoleLot(lot_view(state), terms.reserve, state.leader, state.leader_max, terms.consignor, live)
