"""Revoked tokens, told to every gateway at once: a Redis pub/sub channel (keys.REVOKED_TOKENS) carrying the id of
each token revoked (logout, DELETE /api/tokens/{id}).

Each gateway listens on one subscription. On a revocation it forgets its cached answers about tokens and closes
that token's websockets (LiveChannel.close_token), so the record feed stops within the time a message takes,
whether or not the client ever speaks again; HTTP refuses the token at once instead of after the cache's
seconds. Pub/sub delivers at most once: a gateway whose subscription broke may have missed one, so every time it
subscribes again it checks the token of every open connection once more (`resubscribed`). A token's expiry needs
no message: each connection has a timer for it (channel.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from auction import keys
from auction.redis_adapter import REDIS_ERRORS

log = logging.getLogger(__name__)

RETRY_S = 0.5  # after the subscription fails, before subscribing again
READ_TIMEOUT_S = 1.0
CLOSE_WAIT_S = 0.1


class Revocations:
    def __init__(self, redis: Redis, revoked: Callable[[int], None], resubscribed: Callable[[], None]) -> None:
        self._redis = redis
        self._revoked = revoked
        self._resubscribed = resubscribed
        self._listener: asyncio.Task[None] | None = None
        self._pubsub: PubSub | None = None
        self._stopping = False

    async def publish(self, token_id: int) -> None:
        """Tell every gateway (this one included). Best effort: PostgreSQL has the revocation already, and a
        gateway that missed the message checks again when it next subscribes, or on the connection's next frame."""
        try:
            await self._redis.publish(keys.REVOKED_TOKENS, str(token_id))
        except REDIS_ERRORS:
            log.warning("token %s: the revocation could not be published", token_id, exc_info=True)

    def start(self) -> None:
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen_forever(), name="token-revocations")

    async def close(self) -> None:
        """Stop listening. A read the cancellation doesn't reach at once (redis-py's may wait out its timeout)
        is ended by closing its connection."""
        self._stopping = True
        listener, self._listener = self._listener, None
        if listener is None:
            return
        listener.cancel()
        done, _ = await asyncio.wait({listener}, timeout=CLOSE_WAIT_S)
        if not done and self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        with contextlib.suppress(asyncio.CancelledError, *REDIS_ERRORS):
            await listener

    async def _listen_forever(self) -> None:
        first = True
        while not self._stopping:
            pubsub = self._pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(keys.REVOKED_TOKENS)
                if not first:
                    self._resubscribed()  # messages published meanwhile were lost
                first = False
                await self._read(pubsub)
            except REDIS_ERRORS:
                if self._stopping:
                    return
                log.warning("the revocations subscription failed; subscribing again", exc_info=True)
                first = False
                await asyncio.sleep(RETRY_S)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _read(self, pubsub: PubSub) -> None:
        while not self._stopping:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=READ_TIMEOUT_S)
            if message is None or message.get("type") != "message":
                continue
            try:
                token_id = int(message["data"])
            except (TypeError, ValueError):
                log.warning("a revocation message that is not a token id: %r", message["data"])
                continue
            self._revoked(token_id)
