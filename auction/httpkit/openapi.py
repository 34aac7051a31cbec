"""GET /api/openapi.json: an OpenAPI 3.1 document built from the same route table the app is wired from.

Every HTTP route is declared once as a `Route` (routes.py); the composition root adds exactly these to the
router, and `document` describes exactly these. Schemas come from the msgspec
Structs themselves (`msgspec.json.schema_components`), so the document can't drift from the wire format.
A test compares the router with the document both ways.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import msgspec
from aiohttp import web

from .bounds import MAX_ID
from .routes import JSON, Reply, Route

REF = "#/components/schemas/{name}"
MAX_TEXT_PARAM = 512  # a page's path: the pages refuse longer ones (gateway.pages.MAX_PATH_CHARS is within it)


def _types(routes: Sequence[Route]) -> list[Any]:
    found: list[Any] = []
    for route in routes:
        candidates = [route.body, *(reply.body for reply in route.replies.values())]
        found.extend(t for t in candidates if t is not None and t not in found)
    return found


def _content(schema: dict[str, Any], media: str) -> dict[str, Any]:
    return {media: {"schema": schema}}


def _reply(reply: Reply, schemas: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    doc: dict[str, Any] = {"description": reply.description}
    if reply.body is not None:
        doc["content"] = _content(schemas[reply.body], "application/json")
    elif reply.media == JSON:
        doc["content"] = _content({"type": "object"}, JSON)
    elif reply.media is not None:
        doc["content"] = _content({"type": "string"}, reply.media)
    return doc


def _parameters(route: Route) -> list[dict[str, Any]]:
    params = [
        {"name": name, "in": "path", "required": True, "schema": _path_schema(route, name)}
        for name in re.findall(r"\{(\w+)\}", route.canonical)
    ]
    for q in route.query:
        schema: dict[str, Any] = {"type": "integer", "minimum": q.minimum, "maximum": q.maximum or MAX_ID}
        if q.choices:
            schema = {"type": "string", "enum": list(q.choices)}
        elif q.max_length is not None:
            schema = {"type": "string", "maxLength": q.max_length}
        elif q.default is not None:
            schema["default"] = q.default
        params.append(
            {"name": q.name, "in": "query", "required": False, "description": q.description, "schema": schema}
        )
    return params


def _path_schema(route: Route, name: str) -> dict[str, Any]:
    """A text parameter (a page's path) up to MAX_TEXT_PARAM characters, else an id (int_param's bounds)."""
    if name in route.text_params:
        return {"type": "string", "maxLength": MAX_TEXT_PARAM}
    return {"type": "integer", "minimum": 1, "maximum": MAX_ID}


def _operation(route: Route, schemas: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": route.summary,
        "operationId": f"{route.method.lower()}{re.sub(r'[^A-Za-z0-9]+', '_', route.canonical)}".rstrip("_"),
        "responses": {str(status): _reply(reply, schemas) for status, reply in sorted(route.replies.items())},
    }
    if route.tags:
        op["tags"] = list(route.tags)
    parameters = _parameters(route)
    if parameters:
        op["parameters"] = parameters
    if route.body is not None:
        op["requestBody"] = {"required": True, "content": _content(schemas[route.body], "application/json")}
    elif route.body_media is not None:
        op["requestBody"] = {"required": True, "content": _content({"type": "string"}, route.body_media)}
    if route.secured:
        op["security"] = [{"bearer": []}, {"session": []}]
    return op


def document(routes: Sequence[Route], title: str, version: str) -> dict[str, Any]:
    types = _types(routes)
    refs, components = msgspec.json.schema_components(types, ref_template=REF)
    schemas = dict(zip(types, refs, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.canonical, {})[route.method.lower()] = _operation(route, schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "auction_session"},
            },
        },
    }


def openapi_route(routes: Sequence[Route], title: str, version: str) -> Route:
    """The route serving the document of `routes` plus itself, encoded once."""
    body: list[bytes] = []

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body[0], content_type="application/json")

    route = Route("GET", "/api/openapi.json", handler, "This document", {200: Reply("OpenAPI 3.1")})
    body.append(msgspec.json.encode(document([*routes, route], title, version)))
    return route
