"""The one way to Redis (auction/redis_adapter.py): its clients, its map of errors, its consumer groups, and that
nobody else reads Redis's errors or builds its clients."""

from __future__ import annotations

import ast
import asyncio
import errno
import inspect
import socket
from pathlib import Path

import pytest
import redis.exceptions
from redis.asyncio import BlockingConnectionPool, Redis

from auction.redis_adapter import (
    REDIS_ERRORS,
    ErrorReply,
    connect,
    connect_pooled,
    decodes_responses,
    ensure_group,
    is_missing_group,
)
from auction.store import FOREIGN_ERRORS, StoreUnavailable, translate_errors
from settlement.errors import SettlementUnavailable
from settlement.errors import translate_errors as settlement_translate_errors

ROOT = Path(__file__).resolve().parents[1]

# Exceptions redis-py defines that this code can't meet, and why. Anything else it defines must be in the map: a
# new class in a new redis-py fails this test until someone decides.
NEVER_MET: dict[type[BaseException], str] = {
    redis.exceptions.ChildDeadlockedError: "the synchronous client's fork check; we use redis.asyncio",
    redis.exceptions.RedisClusterException: "RedisCluster's own errors; the adapter builds no cluster client",
    redis.exceptions.IncorrectPolicyType: "RedisCluster's command routing policies",
}

# What the socket under redis-py raises when it connects (redis-py lets some through as they are).
SOCKET_ERRORS: list[type[BaseException]] = [
    ConnectionRefusedError,
    ConnectionResetError,
    BrokenPipeError,
    TimeoutError,
    asyncio.TimeoutError,
    socket.gaierror,
    OSError,
]


def redis_py_errors() -> list[type[BaseException]]:
    return [
        cls
        for _name, cls in inspect.getmembers(redis.exceptions, inspect.isclass)
        if issubclass(cls, BaseException) and not any(issubclass(cls, never) for never in NEVER_MET)
    ]


def instance(cls: type[BaseException]) -> BaseException:
    if issubclass(cls, OSError):
        return cls(errno.ECONNREFUSED, "boom")
    if issubclass(cls, redis.exceptions.AskError):  # parses its message: "<slot> <host>:<port>"
        return cls("3999 127.0.0.1:6381")
    return cls("boom")


@pytest.mark.parametrize("error", redis_py_errors() + SOCKET_ERRORS, ids=lambda cls: cls.__name__)
def test_every_redis_error_the_code_can_meet_is_in_the_map(error: type[BaseException]) -> None:
    assert issubclass(error, REDIS_ERRORS)
    with pytest.raises(StoreUnavailable) as caught, translate_errors("testing"):
        raise instance(error)
    assert isinstance(caught.value.__cause__, error)


@pytest.mark.parametrize("error", redis_py_errors() + SOCKET_ERRORS, ids=lambda cls: cls.__name__)
def test_settlement_translates_with_the_stores_map(error: type[BaseException]) -> None:
    assert set(REDIS_ERRORS) <= set(FOREIGN_ERRORS)
    with pytest.raises(SettlementUnavailable), settlement_translate_errors("testing"):
        raise instance(error)


def test_what_is_never_met_is_outside_redis_errors_tree() -> None:
    """The exceptions left out of the map are the ones that are not RedisError: nothing of RedisError is left out."""
    assert not any(issubclass(never, redis.exceptions.RedisError) for never in NEVER_MET)


# ---- clients ----------------------------------------------------------------------------------------------------


async def test_a_client_replies_in_bytes_parsed_by_hiredis(redis_url: str) -> None:
    client = connect(redis_url)
    try:
        assert not decodes_responses(client)
        assert await client.ping()
        connection = await client.connection_pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            assert type(connection._parser).__name__ == "_AsyncHiredisParser"
        finally:
            await client.connection_pool.release(connection)
    finally:
        await client.aclose()


async def test_a_text_client_is_told_apart(redis_url: str) -> None:
    client = connect(redis_url, decode_responses=True)
    try:
        assert decodes_responses(client)
    finally:
        await client.aclose()


async def test_a_pooled_client_waits_for_a_connection_from_a_bounded_pool(redis_url: str) -> None:
    client = connect_pooled(redis_url, max_connections=3, wait_s=0.5)
    try:
        pool = client.connection_pool
        assert isinstance(pool, BlockingConnectionPool)
        assert (pool.max_connections, pool.timeout) == (3, 0.5)
        assert not decodes_responses(client)
        assert await client.ping()
    finally:
        await client.aclose()
        await client.connection_pool.disconnect()


# ---- consumer groups --------------------------------------------------------------------------------------------


async def test_a_group_is_created_once_and_an_existing_one_is_left_alone(redis: Redis) -> None:
    stream = f"test:adapter:{id(redis)}:events"
    try:
        await ensure_group(redis, stream, "readers")
        await redis.xadd(stream, {"n": 1})
        await redis.xreadgroup("readers", "one", {stream: ">"})
        await ensure_group(redis, stream, "readers")  # BUSYGROUP: the group and its position stay
        groups = await redis.xinfo_groups(stream)
        assert [(g["name"], g["pending"]) for g in groups] == [(b"readers", 1)]
    finally:
        await redis.delete(stream)


async def test_another_error_creating_a_group_is_raised(redis: Redis) -> None:
    key = f"test:adapter:{id(redis)}:string"
    await redis.set(key, "not a stream")
    try:
        with pytest.raises(ErrorReply, match="WRONGTYPE"):
            await ensure_group(redis, key, "readers")
    finally:
        await redis.delete(key)


async def test_a_missing_group_is_recognised(redis: Redis) -> None:
    stream = f"test:adapter:{id(redis)}:gone"
    with pytest.raises(ErrorReply) as caught:
        await redis.xreadgroup("nobody", "one", {stream: ">"})
    assert is_missing_group(caught.value)
    assert not is_missing_group(ErrorReply("WRONGTYPE Operation against a key holding the wrong kind of value"))
    assert not is_missing_group(ConnectionError("NOGROUP in a message, but not an error reply"))


# ---- nobody else ----------------------------------------------------------------------------------------------

ADAPTER = ROOT / "auction" / "redis_adapter.py"
CLIENT_BUILDERS = {"from_url", "from_pool", "ConnectionPool", "BlockingConnectionPool"}  # and calling Redis()
# Files that still build their own client, and who takes them (none left; the list only ever shrinks).
NOT_YET: dict[str, str] = {}


def project_files() -> list[Path]:
    return [path for package in ("auction", "settlement", "ops", "loadtest") for path in (ROOT / package).rglob("*.py")]


def redis_knowledge(path: Path) -> list[str]:
    """What a file does that only the adapter should: read redis-py's exceptions or their text, build a client."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if "redis.exceptions" in _imported(node):
            found.append("imports redis.exceptions")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found += [f"reads {word} in error text" for word in ("BUSYGROUP", "NOGROUP") if word in node.value]
        elif _name(node) in CLIENT_BUILDERS or (isinstance(node, ast.Call) and _name(node.func) == "Redis"):
            found.append("builds a Redis client")
    return found


def _imported(node: ast.AST) -> list[str]:
    if isinstance(node, ast.ImportFrom):
        return [node.module or ""]
    return [alias.name for alias in node.names] if isinstance(node, ast.Import) else []


def _name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else None


def test_only_the_adapter_reads_redis_errors_or_builds_clients() -> None:
    offenders = {
        str(path.relative_to(ROOT)): problems
        for path in project_files()
        if path != ADAPTER and (problems := redis_knowledge(path))
    }
    for pending in NOT_YET:
        offenders.pop(pending, None)
    assert offenders == {}


def test_the_files_not_yet_moved_still_need_the_exemption() -> None:
    """An exemption that is no longer needed is removed, so the list only ever shrinks."""
    assert all(redis_knowledge(ROOT / pending) for pending in NOT_YET)
