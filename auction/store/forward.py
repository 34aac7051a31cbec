"""Commands for a sale that another store owns go to that store: over Redis pub/sub, batched, answered in kind.

A store that doesn't hold a sale's lease learns from the lease which store does, and publishes the command on
that store's inbox (`auction:store:<id>:inbox`); the store executes it as its own and publishes the answer on
the sender's replies channel (`auction:store:<id>:replies`). Commands that arrive together go as one message
per sale, and answers ready together as one message per sender.

A command goes to one store only, never to a channel that two stores might hear: during a handover the old
owner and the new one would both execute it. A store that receives a command for a sale it no longer holds
routes it on like any command of its own (to the new owner, or taking the lease), and answers the sender once
it has the answer: one decision, one answer.

Nothing here is durable, and nothing needs to be: a command lost on the way was never executed, and one whose
answer is lost was executed once. Either way the sender times out, tells its caller the outcome is unknown
(StoreUnavailable), and the caller resends with the same client id, which returns the first answer if there
was one. A publish that reaches no subscriber means the owner is gone: the sender is told (None) and routes
the commands again, taking the lease itself once it has expired. A sender publishes one sale's batches one
after another, each once the one before has reached the owner, and the owner takes them in the order they
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
    sale: int
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
        self._stats = stats

    # ---- sending commands to an owner ---------------------------------------------------------------------

    async def publish(self, sale: int, owner: str, batch: list[Pending]) -> list[asyncio.Future[Outcome]] | None:
        """Send a batch of one sale's commands, in order, to the store `owner`: the futures of their answers, or
        None when that store doesn't listen (it is gone: route them again). An answer that doesn't come within
        ANSWER_TIMEOUT_S fails with StoreUnavailable (the outcome is unknown). Raises StoreUnavailable."""
        await self.listen()
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
            message = _ENCODER.encode(_Requests(self._id, sale, requests))
            with translate_errors("forwarding commands"):
                listeners = await self._redis.publish(keys.store_inbox(owner), message)
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

    # ---- executing what other stores send us ------------------------------------------------------------------

    def _on_requests(self, data: bytes) -> None:
        """Commands sent to us: executed as our own (routed on if the sale is no longer ours)."""
        requests = _REQUESTS.decode(data)
        for request in requests.items:
            self._stats.served += 1
            try:
                future = self._submit(requests.sale, request.lot, request.command, request.dedupe)
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

    async def listen(self) -> None:
        """Subscribe to our replies and our inbox (once), and read them in a task of their own: before this
        store takes any sale's lease, since other stores send the sale's commands to it from then on."""
        if self._pubsub is None:
            self._pubsub = self._redis.pubsub()
            with translate_errors("subscribing to replies"):
                await self._pubsub.subscribe(keys.store_replies(self._id), keys.store_inbox(self._id))
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
                self._on_requests(message["data"])
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


def _failure(request: int, error: BaseException) -> _Reply:
    code = "not_found" if isinstance(error, LotNotFound) else "unavailable"
    return _Reply(request, error=code, message=str(error))
