"""The one way to Redis: clients built from a URL, the map of how Redis fails, and consumer groups.

Clients. Every service builds its client here, so all of them speak to Redis alike: replies as bytes
(`decode_responses=False`: lot states are msgpack, and the store refuses a client that decodes), read by hiredis
(redis-py's parser in C, a dependency, which redis-py picks whenever it is installed: the persister's stream
reads of 500 entries cost a third of a core when parsed in Python), and, for a gateway, a bounded pool that makes
a caller wait for a free connection rather than fail at once (`connect_pooled`).

Errors. `REDIS_ERRORS` is the whole map of how Redis failing reaches us through redis-py: its own tree
(`RedisError`: connections lost, timeouts, error replies) and `OSError` (a socket refused, reset or timed out,
which redis-py lets through). The store's map of foreign errors is this and PostgreSQL's
(auction.store.errors.FOREIGN_ERRORS): its translate_errors turns them into StoreUnavailable, and settlement's
into SettlementUnavailable with the same map. Code that only logs a failure and tries again (fan-out, the
forwarder, the commit pipe) catches REDIS_ERRORS itself.

Two error replies mean something to the code, and only this module reads their text: BUSYGROUP (a consumer
group that exists already, which is what `ensure_group` wants) and NOGROUP (a stream or its group that is gone,
`is_missing_group`).
"""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError, ResponseError

# How Redis failing reaches a caller. The store's translate_errors turns every one into StoreUnavailable.
REDIS_ERRORS: tuple[type[Exception], ...] = (RedisError, OSError)

# Redis answered one command with an error (a script that failed, a missing group): that command failed, and
# the connection is fine. Part of REDIS_ERRORS.
ErrorReply = ResponseError


# redis-py 8's pool refuses a command at once ("Too many connections") past 100 connections in use: a worker
# closing many lots at once, each taking its sale's lease and committing, went past it under load. Every client
# has a pool this large, and a caller past it waits for a free connection instead of failing.
MAX_CONNECTIONS = 1024
WAIT_S = 10.0


def connect(url: str, *, socket_timeout: float | None = None, decode_responses: bool = False) -> Redis:
    """A client for `url` (redis://, rediss://, unix://). It connects lazily, so building it never fails.

    `decode_responses=True` is for harnesses that read text (INFO, CONFIG GET); no service uses it."""
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=WAIT_S,
        socket_timeout=socket_timeout,
        decode_responses=decode_responses,
    )
    return Redis(connection_pool=pool)


def connect_pooled(url: str, *, max_connections: int, wait_s: float) -> Redis:
    """A client whose pool holds at most `max_connections`; past that a caller waits up to `wait_s` for one to be
    free, then fails with a ConnectionError (a gateway: one connection per watched sale, plus commits and reads)."""
    pool = BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=wait_s)
    return Redis(connection_pool=pool)


def decodes_responses(redis: Redis) -> bool:
    """Whether the client turns replies into text (a client the store can't use: its values are binary)."""
    return bool(redis.connection_pool.connection_kwargs.get("decode_responses"))


async def ensure_group(redis: Redis, stream: str, group: str, *, start: str = "0") -> None:
    """Create the consumer group `group` on `stream` (and the stream, if missing), reading from `start`; a group
    that exists already is left as it is."""
    try:
        await redis.xgroup_create(stream, group, id=start, mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def is_missing_group(error: BaseException) -> bool:
    """Whether `error` is Redis saying the stream or its consumer group does not exist (NOGROUP): Redis lost it,
    and the group must be created again."""
    return isinstance(error, ResponseError) and "NOGROUP" in str(error)


__all__ = [
    "REDIS_ERRORS",
    "ErrorReply",
    "connect",
    "connect_pooled",
    "decodes_responses",
    "ensure_group",
    "is_missing_group",
]
