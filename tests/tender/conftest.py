"""The tender's cryptography is pure: no servers, so no record to verify after these tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def record_verified() -> None:
    """Overrides the suite's check of every sale's record: these tests make no sales."""
