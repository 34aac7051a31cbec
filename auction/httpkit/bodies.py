"""What a request carries, read and bounded: a JSON body decoded into its Struct, raw bytes, an int parameter.

Each refuses bad input with an ApiError naming the field, never lets a body grow past its limit, and never
raises anything else.
"""

from __future__ import annotations

from typing import TypeVar

import msgspec
from aiohttp import web

from . import bounds
from .errors import ApiError, error_field

T = TypeVar("T")
MAX_JSON_BYTES = 64 * 1024
MAX_ID = bounds.MAX_ID


async def json_body(request: web.Request, kind: type[T], limit: int = MAX_JSON_BYTES) -> T:
    """The body decoded into `kind`. It must say it is JSON: a form or text/plain body (what another site's page
    can send without asking) is refused 415 before it is read."""
    if (request.content_length or 0) > limit:
        raise ApiError("too_large", None, f"a body may be at most {limit} bytes")
    require_json(request)
    data = await request.read()
    if len(data) > limit:
        raise ApiError("too_large", None, f"a body may be at most {limit} bytes")
    try:
        decoded = msgspec.json.decode(data, type=kind)
    except msgspec.ValidationError as exc:
        raise ApiError("invalid", error_field(str(exc)), str(exc)) from exc
    except msgspec.DecodeError as exc:
        raise ApiError("invalid", None, str(exc)) from exc
    refuse_nul(data)
    return decoded


NUL_ESCAPE = b"\\u0000"  # the only way JSON text holds U+0000: msgspec refuses a raw NUL byte in a string


def refuse_nul(data: bytes) -> None:
    """400 `invalid` naming the field if a string of the JSON text `data` (a key or a value) holds U+0000, which
    no field has a use for and PostgreSQL can't store in text. For every JSON body and websocket frame: the
    bytes are searched first, so a body without the escape costs one scan of its bytes."""
    if NUL_ESCAPE not in data:
        return
    try:
        where = nul_path(msgspec.json.decode(data))
    except msgspec.DecodeError:
        return  # not JSON: the decoder that reads it says so
    if where is not None:
        raise ApiError("invalid", where or None, f"{where or 'the body'} must not contain the NUL character (U+0000)")


def refuse_nul_in_url(request: web.Request) -> None:
    """400 `invalid` naming the parameter if a path or query parameter holds U+0000 (sent as %00), checked once
    for every route before its handler reads them."""
    for name, value in [*request.match_info.items(), *request.query.items()]:
        if "\x00" in name or "\x00" in value:
            raise ApiError(
                "invalid", name.replace("\x00", "") or None, f"{name!r} must not contain the NUL character (U+0000)"
            )


def nul_path(value: object, path: str = "") -> str | None:
    """Where in a decoded JSON value the first string holding U+0000 is ('' for the whole; a key holding it names
    its object), or None."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = nul_path(item, f"{path}[{index}]")
            if found is not None:
                return found
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                return path
            found = nul_path(item, f"{path}.{key}" if path else key)
            if found is not None:
                return found
    return None


def require_json(request: web.Request) -> None:
    """415 `unsupported_media_type` (field content_type) unless the body is declared application/json (or a
    +json type). aiohttp reads a missing Content-Type as application/octet-stream."""
    media = request.content_type
    if media != "application/json" and not media.endswith("+json"):
        message = f"the body must be JSON (application/json), not {media}"
        raise ApiError("unsupported_media_type", "content_type", message)


async def raw_body(request: web.Request, limit: int) -> bytes:
    """The request's body, read in chunks and refused past `limit` without reading it all."""
    if (request.content_length or 0) > limit:
        raise ApiError("too_large", "content", f"a document may be at most {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise ApiError("too_large", "content", f"a document may be at most {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def int_param(
    raw: str | None, name: str, *, minimum: int = 1, maximum: int = MAX_ID, default: int | None = None
) -> int:
    """A path or query parameter as an int in range, or a 400 naming the parameter."""
    if raw is None or raw == "":
        if default is None:
            raise ApiError("invalid", name, f"{name} is required")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError("invalid", name, f"{name} must be a whole number, got {raw[:40]!r}") from None
    if not minimum <= value <= maximum:
        raise ApiError("invalid", name, f"{name} must be between {minimum} and {maximum}")
    return value
