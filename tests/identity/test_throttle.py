"""The login throttle's slot rules (auction.identity.slot_refusal, after_attempt), table by table, and the bound
on password work waiting for a thread."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import pytest

from auction import identity
from auction.identity import PasswordWork, PasswordWorkBusy, ThrottleRow, after_attempt, slot_refusal

AT = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
LONG_AGO = AT - identity.FAILURE_WINDOW - timedelta(seconds=1)


def row(failures: int = 0, in_flight: int = 0, locked_s: int | None = None, slot_s_ago: int = 1) -> ThrottleRow:
    locked = AT + timedelta(seconds=locked_s) if locked_s is not None else None
    return ThrottleRow(failures, AT - timedelta(seconds=5), locked, in_flight, AT - timedelta(seconds=slot_s_ago))


@pytest.mark.parametrize(
    ("case", "given", "wait"),
    [
        ("nothing yet", row(), 0),
        ("four failures, none in flight", row(failures=4), 0),
        ("four failures, one in flight: it could be the fifth", row(failures=4, in_flight=1), 1),
        ("no failures, five in flight", row(in_flight=5), 1),
        ("no failures, four in flight", row(in_flight=4), 0),
        ("locked for 30 s", row(failures=5, locked_s=30), 30),
        ("lock over: one attempt at a time", row(failures=5, locked_s=-1), 0),
        ("lock over, one in flight", row(failures=5, in_flight=1, locked_s=-1), 1),
        ("slots left by a crashed process lapse", row(in_flight=5, slot_s_ago=61), 0),
        ("failures past the window are forgotten", ThrottleRow(4, LONG_AGO, None, 4, AT), 0),
    ],
)
def test_slot_refusal(case: str, given: ThrottleRow, wait: int) -> None:
    assert slot_refusal(given, identity.ACCOUNT_FAILURES, AT) == wait, case


def test_after_attempt() -> None:
    fifth = after_attempt(row(failures=4, in_flight=1), identity.ACCOUNT_FAILURES, AT, "failed", clears=True)
    assert (fifth.failures, fifth.in_flight, fifth.locked_until) == (5, 0, AT + timedelta(seconds=30))
    sixth = after_attempt(row(failures=5, in_flight=1, locked_s=-1), identity.ACCOUNT_FAILURES, AT, "failed", True)
    assert sixth.locked_until == AT + timedelta(seconds=60)  # doubling
    ok = after_attempt(row(failures=3, in_flight=2), identity.ACCOUNT_FAILURES, AT, "ok", clears=True)
    assert (ok.failures, ok.in_flight, ok.locked_until) == (0, 1, None)
    address = after_attempt(row(failures=3, in_flight=2), identity.ADDRESS_FAILURES, AT, "ok", clears=False)
    assert (address.failures, address.in_flight) == (3, 1)  # a success clears the account's count only
    unchecked = after_attempt(row(failures=3, in_flight=1), identity.ACCOUNT_FAILURES, AT, "unchecked", True)
    assert (unchecked.failures, unchecked.in_flight) == (3, 0)


async def test_password_work_waits_in_a_bounded_queue_and_refuses_past_it() -> None:
    work = PasswordWork(threads=1, queue=1)
    release = threading.Event()
    first = asyncio.create_task(work.run(release.wait))
    second = asyncio.create_task(work.run(lambda: True))
    await asyncio.sleep(0.05)
    with pytest.raises(PasswordWorkBusy):
        await work.run(lambda: True)
    release.set()
    assert await first and await second
    assert work.pending == 0 and await work.run(lambda: True)
