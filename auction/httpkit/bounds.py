"""The bounds of what a request may carry, as msgspec types: one place, so that every route's schema (and the
OpenAPI document made from it) bounds every number and string the same way, and a value past them is refused
400 `invalid` naming the field before anything reads it (a number past 2^63 never reaches PostgreSQL).

The protocol's amount bound (auction.gateway.protocol.MAX_AMOUNT) is this one.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

MAX_AMOUNT = 10**13  # 100 billion in a currency's minor unit: far above any stone ever sold
MAX_ID = 2**53  # ids survive a round trip through JavaScript numbers
MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z: any instant a request may name, in ms since the epoch

Amount = Annotated[int, msgspec.Meta(ge=1, le=MAX_AMOUNT)]  # money in minor units, more than nothing
MoneyOrZero = Annotated[int, msgspec.Meta(ge=0, le=MAX_AMOUNT)]
RecordId = Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]  # a row's id, a sale's id
Millis = Annotated[int, msgspec.Meta(ge=0, le=MAX_MS)]  # an instant, in ms since the epoch
Word = Annotated[str, msgspec.Meta(max_length=64)]  # a code, a key, a name a program chooses
Line = Annotated[str, msgspec.Meta(max_length=200)]  # a name, a reference, a tracking number
Note = Annotated[str, msgspec.Meta(max_length=2_000)]  # what a person writes about something
