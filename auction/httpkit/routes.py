"""A route, declared once: what the app is wired from and what the OpenAPI document describes.

Every HTTP route of the gateway and of settlement is a `Route` (method, path, handler, and what it takes and
returns); the composition root adds exactly these to the router, and `openapi.document` describes exactly
these.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
JSON = "application/json"
HTML = "text/html"
TEXT = "text/plain"
OCTETS = "application/octet-stream"


@dataclass(frozen=True)
class Query:
    """A query parameter: an int in [minimum, maximum], or text when `choices` (one of them) or `max_length` is
    given. The document states it; the handler reads and checks it (int_param, or its own check)."""

    name: str
    description: str
    minimum: int = 0
    maximum: int | None = None
    default: int | None = None
    choices: tuple[str, ...] = ()
    max_length: int | None = None


@dataclass(frozen=True)
class Reply:
    """One documented response: `body` a msgspec type for JSON, or None with `media` for HTML/text/none."""

    description: str
    body: Any = None
    media: str | None = JSON


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    replies: dict[int, Reply]
    query: tuple[Query, ...] = ()
    body: Any = None
    body_media: str | None = None  # a body that is not JSON (e.g. a document's bytes): its media type
    secured: bool = False
    tags: tuple[str, ...] = field(default=())
    text_params: tuple[str, ...] = ()  # path parameters that are text (a page's path), not positive integers

    @property
    def canonical(self) -> str:
        """The path as the router names it: `/{page:regex}` is `/{page}`."""
        return canonical_path(self.path)


def canonical_path(path: str) -> str:
    return re.sub(r"\{(\w+):[^{}]*\}", r"{\1}", path)
