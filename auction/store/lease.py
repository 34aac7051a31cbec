"""Which store writes a sale: a lease in Redis, with a fencing token that every commit names.

One writer per sale. The first store with a command for a sale nobody holds takes the sale's lease
(`sale:{S}:owner`, with an expiry) and is given the next fencing token (`sale:{S}:fence`); every other store
forwards its commands for that sale to it (auction.store.forward). The owner renews its leases while it lives;
a store that dies simply stops renewing, and the next command for the sale, wherever it arrives, takes the
lease once it has expired. A store of higher priority may take a sale from one of lower priority at once (a
gateway from the worker, whose scheduler may have been first to open the sale's lots).

What keeps this safe is not the clock: every commit names the fencing token it holds the sale with, and the
commit script refuses it ('fenced') if the sale has changed hands since, in the same atomic step that writes.
So a store that still believes it holds a lease that expired (a long pause, a slow network) can't write; its
commands are forwarded to the new owner instead. The lease only decides who *should* write; the fence decides
who *can*.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from redis.asyncio import Redis

from auction import keys

from .errors import StoreError, translate_errors
from .scripts import LEASE_LUA

log = logging.getLogger(__name__)

LEASE_MS = 3_000  # how long a lease outlives its owner's last renewal: the pause after an owner dies
IDLE_RELEASE_S = 600.0  # a sale without a command for this long is let go, so a long-lived process holds few
# A lease is renewed three times per term, and trusted locally only until a third of its term before it would
# expire by our clock; past that, the store asks Redis again. The fence makes a wrong guess harmless; the margin
# makes it rare.
RENEWALS_PER_TERM = 3

GATEWAY_PRIORITY = 1  # where bids arrive: gateways should own the sales they serve
BACKGROUND_PRIORITY = 0  # the worker's scheduler, settlement, the command line: own only what nobody else does


@dataclass(slots=True)
class Lease:
    fence: str
    valid_until: float  # time.monotonic(): trusted until then
    used_at: float


class SaleLeases:
    """The leases one store holds, renewed in the background while it runs."""

    def __init__(
        self,
        redis: Redis,
        store_id: str,
        priority: int,
        *,
        lease_ms: int = LEASE_MS,
    ) -> None:
        self._redis = redis
        self._id = store_id
        self._priority = priority
        self._lease_ms = lease_ms
        self._trusted_s = lease_ms * (1 - 1 / RENEWALS_PER_TERM) / 1000
        self._script = redis.register_script(LEASE_LUA)
        self._held: dict[int, Lease] = {}
        self._renewer: asyncio.Task[None] | None = None

    def fence(self, sale: int) -> str | None:
        """Our fencing token for `sale` while we trust our lease on it; None if we don't hold it (or may not)."""
        lease = self._held.get(sale)
        if lease is None:
            return None
        now = time.monotonic()
        if now >= lease.valid_until:
            return None
        lease.used_at = now
        return lease.fence

    async def acquire(self, sale: int) -> tuple[str | None, str | None]:
        """Take or renew the lease: (fence, None) once ours, (None, owner's store id) while another holds it."""
        asked_at = time.monotonic()
        reply = await self._call(sale, "acquire")
        if reply[0] == b"held":
            self._hold(sale, reply[1].decode(), asked_at)
            return reply[1].decode(), None
        return None, reply[1].decode()

    def drop(self, sale: int) -> None:
        """The sale changed hands behind our back (a commit came back 'fenced'): stop writing it."""
        self._held.pop(sale, None)

    async def release_all(self) -> None:
        """On close: give every sale back at once, so the next store needn't wait for the leases to expire."""
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        for sale in list(self._held):
            self.drop(sale)
            with contextlib.suppress(StoreError):
                await self._call(sale, "release")

    def _hold(self, sale: int, fence: str, asked_at: float) -> None:
        valid_until = asked_at + self._trusted_s
        lease = self._held.get(sale)
        if lease is not None and lease.fence == fence:
            lease.valid_until = valid_until
        else:
            self._held[sale] = Lease(fence, valid_until, time.monotonic())
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.create_task(self._renew_forever(), name="lot-store-leases")

    async def _renew_forever(self) -> None:
        while self._held:
            await asyncio.sleep(self._lease_ms / RENEWALS_PER_TERM / 1000)
            for sale in list(self._held):
                try:
                    await self._renew(sale)
                except StoreError:
                    log.warning("renewing the lease of sale %s failed", sale, exc_info=True)

    async def _renew(self, sale: int) -> None:
        lease = self._held.get(sale)
        if lease is None:
            return
        if time.monotonic() - lease.used_at > IDLE_RELEASE_S:
            self.drop(sale)
            await self._call(sale, "release")
            return
        asked_at = time.monotonic()
        reply = await self._call(sale, "renew")
        if reply[0] == b"held" and reply[1].decode() == lease.fence:
            lease.valid_until = asked_at + self._trusted_s
        else:
            self.drop(sale)

    async def _call(self, sale: int, action: str) -> list[bytes]:
        with translate_errors(f"{action} the lease of sale {sale}"):
            reply: list[bytes] = await self._script(
                keys=[keys.sale_owner(sale), keys.sale_fence(sale)],
                args=[action, self._id, self._priority, self._lease_ms],
            )
        return reply
