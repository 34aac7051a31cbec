"""The loop shared by the persister and the settlement service."""

from __future__ import annotations

import asyncio

from auction.sale_streams import follow
from auction.store import StoreError


async def test_a_failed_pass_is_retried_until_stop() -> None:
    stop, passes = asyncio.Event(), []

    async def one_pass() -> int:
        passes.append(len(passes))
        if len(passes) == 1:
            raise StoreError("Redis went away")
        stop.set()
        return 1

    await asyncio.wait_for(follow(stop, one_pass, retry_on=StoreError, name="t", retry_after_s=0.01), 2)
    assert passes == [0, 1]


async def test_a_cancel_that_a_driver_turned_into_its_own_error_still_cancels() -> None:
    started, stop = asyncio.Event(), asyncio.Event()

    async def one_pass() -> int:
        if started.is_set():
            return 0  # later passes (only a loop that swallowed the cancel gets here) end at once
        started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            raise StoreError("the driver's own error, raised from our cancellation") from None
        return 0

    task = asyncio.create_task(follow(stop, one_pass, retry_on=StoreError, name="t", retry_after_s=0.01))
    await started.wait()
    task.cancel()
    await asyncio.wait({task}, timeout=2)
    stop.set()  # so that a loop that swallowed the cancel still ends and the test fails instead of hanging
    await asyncio.wait({task}, timeout=2)
    assert task.cancelled()
