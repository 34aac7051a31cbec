"""What a request carries, read and bounded: a JSON body decoded into its Struct, raw bytes, an int parameter.

Each refuses bad input with an ApiError naming the field, never lets a body grow past its limit, and never
raises anything else.
"""

from __future__ import annotations

from typing import TypeVar

import msgspec
from aiohttp import web

from .errors import ApiError, error_field

T = TypeVar("T")
MAX_JSON_BYTES = 64 * 1024
MAX_ID = 2**53  # ids survive a round trip through JavaScript numbers


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
        return msgspec.json.decode(data, type=kind)
    except msgspec.ValidationError as exc:
        raise ApiError("invalid", error_field(str(exc)), str(exc)) from exc
    except msgspec.DecodeError as exc:
        raise ApiError("invalid", None, str(exc)) from exc


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
