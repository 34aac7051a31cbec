"""Commands for a sale that another store owns go to that store: over Redis pub/sub, batched, answered in kind.

A store that doesn't hold a sale's lease publishes the command on the sale's inbox channel
(`sale:{S}:inbox`); the owner is the one subscriber, executes it as its own, and publishes the answer on the
sender's replies channel (`auction:store:<id>:replies`). Commands that arrive together go as one message per
sale, and answers ready together as one message per sender.

Nothing here is durable, and nothing needs to be: a command lost on the way was never executed, and one whose
answer is lost was executed once. Either way the sender times out, tells its caller the outcome is unknown
(StoreUnavailable), and the caller resends with the same client id, which returns the first answer if there
was one. A publish that reaches no subscriber means the sale has no live owner: the sender is told (None) and
routes the commands again, taking the lease itself once it has expired. A sender publishes one sale's batches
one after another, each once the one before has reached the owner, and the owner takes them in the order they
arrive: commands for a sale keep the order they were submitted in.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

import msgspec
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from auction import keys
from auction.engine.messages import AnyCommand
from auction.redis_adapter import REDIS_ERRORS

from .codec import Outcome, decode_answer, encode_answer
from .committer import Pending, StoreStats
from .errors import LotNotFound, StoreError, StoreUnavailable, translate_errors

log = logging.getLogger(__name__)

# An owner answers in milliseconds, or in MAX_QUEUE_AGE at worst ("busy"); no answer this long after sending
# means the command or its answer was lost (Redis restarting): the caller is told at once, and may resend.
ANSWER_TIMEOUT_S = 2.0
RETRY_S = 0.2  # after the replies/inbox subscription failed (Redis restarting)

# What local execution looks like to the forwarder: LotStore.submit.
Submit = Callable[[int, int, AnyCommand, str | None], "asyncio.Future[Outcome]"]


class _Request(msgspec.Struct, frozen=True, array_like=True):
    request: int
    lot: int
    command: AnyCommand
    dedupe: str | None


class _Requests(msgspec.Struct, frozen=True, array_like=True):
    origin: str
    items: list[_Request]


class _Reply(msgspec.Struct, frozen=True, array_like=True):
    request: int
    answer: bytes | None = None
    error: str | None = None  # "not_found" or "unavailable"; `message` says more
    message: str = ""


_ENCODER = msgspec.msgpack.Encoder()
_REQUESTS = msgspec.msgpack.Decoder(_Requests)
_REPLIES = msgspec.msgpack.Decoder(list[_Reply])


class Forwarder:
    def __init__(self, redis: Redis, store_id: str, submit: Submit, stats: StoreStats) -> None:
        self._redis = redis
        self._id = store_id
        self._submit = submit
        self._pubsub: PubSub | None = None
        self._listener: asyncio.Task[None] | None = None
        self._requests = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Outcome]] = {}
        self._answers: dict[str, list[_Reply]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._serving: set[int] = set()  # the sales we hold: their inboxes should be subscribed
        self._subscribed: set[int] = set()  # the inboxes that are
        self._subscribing = asyncio.Lock()
        self._stats = stats

    # ---- sending commands to an owner ---------------------------------------------------------------------

    async def publish(self, sale: int, batch: list[Pending]) -> list[asyncio.Future[Outcome]] | None:
        """Send a batch of one sale's commands, in order, to the sale's owner: the futures of their answers, or
        None when no store listens on the sale's inbox (route them again). An answer that doesn't come within
        ANSWER_TIMEOUT_S fails with StoreUnavailable (the outcome is unknown). Raises StoreUnavailable."""
        await self._listen()
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Outcome]] = []
        requests: list[_Request] = []
        for item in batch:
            request = _Request(next(self._requests), item.lot, item.command, item.dedupe)
            future: asyncio.Future[Outcome] = loop.create_future()
            self._waiting[request.request] = future
            requests.append(request)
            futures.append(future)
        try:
            message = _ENCODER.encode(_Requests(self._id, requests))
            with translate_errors("forwarding commands"):
                listeners = await self._redis.publish(keys.sale_inbox(sale), message)
        except StoreUnavailable:
            self._forget([r.request for r in requests])
            raise
        if listeners == 0:
            self._forget([r.request for r in requests])
            return None
        self._stats.forwarded += len(batch)
        loop.call_later(ANSWER_TIMEOUT_S, self._give_up, sale, [r.request for r in requests])
        return futures

    def _give_up(self, sale: int, requests: list[int]) -> None:
        for request in requests:
            future = self._waiting.pop(request, None)
            if future is not None and not future.done():
                future.set_exception(
                    StoreUnavailable(f"the owner of sale {sale} did not answer within {ANSWER_TIMEOUT_S:.0f} s")
                )

    def _forget(self, requests: list[int]) -> None:
        for request in requests:
            self._waiting.pop(request, None)

    def _on_replies(self, data: bytes) -> None:
        for reply in _REPLIES.decode(data):
            future = self._waiting.pop(reply.request, None)
            if future is None or future.done():
                continue  # timed out meanwhile: the caller was told the outcome is unknown
            if reply.answer is not None:
                future.set_result(decode_answer(reply.answer))
            elif reply.error == "not_found":
                future.set_exception(LotNotFound(reply.message))
            else:
                future.set_exception(StoreUnavailable(reply.message))

    # ---- serving the sales we own -----------------------------------------------------------------------------

    async def serve(self, sale: int) -> None:
        """Take the commands other stores send for `sale` (we hold its lease): returns once subscribed."""
        self._serving.add(sale)
        try:
            await self._match_subscription(sale)
        except StoreError:
            self._serving.discard(sale)
            raise

    def stop_serving(self, sale: int) -> None:
        """We no longer hold `sale`: commands sent meanwhile reach no one and their senders route again."""
        if sale in self._serving:
            self._serving.discard(sale)
            self._later(self._unsubscribe_quietly(sale))

    async def _unsubscribe_quietly(self, sale: int) -> None:
        with contextlib.suppress(StoreError):
            await self._match_subscription(sale)

    async def _match_subscription(self, sale: int) -> None:
        """Subscribe to or unsubscribe from the sale's inbox, whichever `_serving` says now. One change at a
        time, each deciding when its turn comes: a sale lost and at once taken again ends subscribed, whatever
        order the two requests would have reached Redis in (an owner deaf to its inbox is a sale nobody can
        bid on while its lease is renewed)."""
        async with self._subscribing:
            channel = keys.sale_inbox(sale)
            wanted = sale in self._serving
            if wanted and sale not in self._subscribed:
                await self._listen()
                assert self._pubsub is not None
                with translate_errors("subscribing to a sale's inbox"):
                    await self._pubsub.subscribe(channel)
                self._subscribed.add(sale)
            elif not wanted and sale in self._subscribed and self._pubsub is not None:
                with translate_errors("unsubscribing from a sale's inbox"):
                    await self._pubsub.unsubscribe(channel)
                self._subscribed.discard(sale)

    def _on_requests(self, sale: int, data: bytes) -> None:
        requests = _REQUESTS.decode(data)
        for request in requests.items:
            self._stats.served += 1
            try:
                future = self._submit(sale, request.lot, request.command, request.dedupe)
            except StoreError as exc:
                self._answer(requests.origin, _failure(request.request, exc))
                continue
            future.add_done_callback(partial(self._answered, requests.origin, request))

    def _answered(self, origin: str, request: _Request, done: asyncio.Future[Outcome]) -> None:
        error = done.exception()
        if error is None:
            self._answer(origin, _Reply(request.request, encode_answer(done.result())))
        else:
            self._answer(origin, _failure(request.request, error))

    def _answer(self, origin: str, reply: _Reply) -> None:
        if not self._answers:
            self._later(self._send_answers())
        self._answers.setdefault(origin, []).append(reply)

    async def _send_answers(self) -> None:
        await asyncio.sleep(0)
        answers, self._answers = self._answers, {}
        for origin, replies in answers.items():
            with contextlib.suppress(*REDIS_ERRORS):  # lost: the sender times out and its client resends
                await self._redis.publish(keys.store_replies(origin), _ENCODER.encode(replies))

    # ---- the one subscription of this store ---------------------------------------------------------------

    async def _listen(self) -> None:
        if self._pubsub is None:
            self._pubsub = self._redis.pubsub()
            with translate_errors("subscribing to replies"):
                await self._pubsub.subscribe(keys.store_replies(self._id))
        if self._listener is None or self._listener.done():
            self._listener = asyncio.create_task(self._listen_forever(self._pubsub), name="lot-store-forwarder")

    async def _listen_forever(self, pubsub: PubSub) -> None:
        replies = keys.store_replies(self._id).encode()
        while True:
            try:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except REDIS_ERRORS:  # redis-py reconnects and subscribes again on the next read
                log.warning("the forwarder's subscription failed; retrying", exc_info=True)
                await asyncio.sleep(RETRY_S)
                continue
            if message is None or message.get("type") != "message":
                continue
            self._dispatch(replies, message)

    def _dispatch(self, replies: bytes, message: dict[str, Any]) -> None:
        try:
            channel: bytes = message["channel"]
            if channel == replies:
                self._on_replies(message["data"])
            else:
                self._on_requests(_sale_of_inbox(channel), message["data"])
        except Exception:  # a bad message must not stop the listener
            log.exception("a forwarded message could not be handled")

    def _later(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        for task in list(self._tasks):
            with contextlib.suppress(Exception):
                await task
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(StoreUnavailable("the store closed before the owner answered"))


def _sale_of_inbox(channel: bytes) -> int:
    """`sale:{S}:inbox` -> S."""
    return int(channel[channel.index(b"{") + 1 : channel.index(b"}")])


def _failure(request: int, error: BaseException) -> _Reply:
    code = "not_found" if isinstance(error, LotNotFound) else "unavailable"
    return _Reply(request, error=code, message=str(error))
