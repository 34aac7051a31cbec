"""How vetting shows a time: milliseconds since the epoch, as the rest of the API does."""

from __future__ import annotations

from datetime import datetime


def epoch_ms(at: datetime | None) -> int | None:
    return None if at is None else int(at.timestamp() * 1000)
