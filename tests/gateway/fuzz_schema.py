"""Hypothesis strategies for requests, drawn from an OpenAPI 3.1 document as auction.httpkit.openapi writes it
(msgspec's JSON schemas: $ref, anyOf, enum, prefixItems, additionalProperties), and a walk that lists every input
the document leaves unbounded.

A drawn body is valid for its schema most of the time; each leaf is, now and then, a value past every bound
instead (EDGE_VALUES): what a fuzzer finds that a schema doesn't forbid, and what it forbids but a client sends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import msgspec
from hypothesis import strategies as st

EDGE_VALUES: list[Any] = [
    "\x00", "a\x00b", "nul\x00" * 3, "", " ", "x" * 5_000, "\ud7ff\ue000", "İ", "%00", "../../etc/passwd", "\n",
    0, -1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**30, 1.5, -0.0, True, None, [], {},
]  # fmt: skip
EDGE_PATH: list[str] = ["0", "-1", "9223372036854775808", "1e3", "%00", "a%00b", "x" * 300, "1.5"]
MAX_TEXT = 40  # generated strings, where the schema allows longer: the edges bring the long ones
MAX_ITEMS = 3


@dataclass(frozen=True)
class Drawn:
    method: str
    url: str
    body: bytes | None
    media: str | None


def requests_for(
    method: str, path: str, operation: dict[str, Any], document: dict[str, Any], known: dict[str, list[int]]
) -> st.SearchStrategy[Drawn]:
    """Requests for one operation: its path and query parameters, and its body."""
    components = document["components"]["schemas"]
    parameters = operation.get("parameters", [])
    path_values = {p["name"]: _path_value(p, known) for p in parameters if p["in"] == "path"}
    query_values = {p["name"]: _query_value(p) for p in parameters if p["in"] == "query"}
    content = operation.get("requestBody", {}).get("content", {})
    media = next(iter(content), None)
    body = _body(content[media]["schema"], media, components) if media is not None else st.none()
    return st.builds(
        _request, st.just(method), st.just(path), st.fixed_dictionaries(path_values),
        st.fixed_dictionaries({}, optional=query_values), body, st.just(media),
    )  # fmt: skip


def _request(
    method: str, path: str, params: dict[str, str], query: dict[str, str], body: bytes | None, media: str | None
) -> Drawn:
    url = re.sub(r"\{(\w+)\}", lambda m: params[m.group(1)], path)
    if query:
        url += "?" + urlencode(query)
    return Drawn(method, url, body, media)


def _path_value(parameter: dict[str, Any], known: dict[str, list[int]]) -> st.SearchStrategy[str]:
    schema = parameter["schema"]
    if schema.get("type") == "string":
        text = st.text(max_size=MAX_TEXT).map(lambda s: quote(s, safe=""))
        return st.one_of(text, st.sampled_from(EDGE_PATH)).filter(bool)
    ids = st.integers(schema.get("minimum", 1), schema.get("maximum", 2**53))
    choices = known.get(parameter["name"], [])
    usual = st.sampled_from(choices) if choices else ids
    return (
        st.integers(0, 9).flatmap(lambda k: usual if k < 6 else ids if k < 9 else st.sampled_from(EDGE_PATH)).map(str)
    )


def _query_value(parameter: dict[str, Any]) -> st.SearchStrategy[str]:
    schema = parameter["schema"]
    if schema.get("type") == "string":
        usual = st.sampled_from(schema["enum"]) if "enum" in schema else _string(schema)
        return st.one_of(usual, st.sampled_from(["a\x00b", "x" * 300, ""]))
    ints = st.integers(schema.get("minimum"), schema.get("maximum")).map(str)
    return st.one_of(ints, st.sampled_from(EDGE_PATH))


def _body(schema: dict[str, Any], media: str, components: dict[str, Any]) -> st.SearchStrategy[bytes | None]:
    if media == "application/json":
        value = st.integers(0, 19).flatmap(lambda k: _value(schema, components) if k else _any_json())
        return value.map(_encode)
    return st.one_of(st.binary(max_size=2_000), st.text(max_size=500).map(str.encode), st.just(b"a,b\n\x00,\xff\n"))


def _encode(value: Any) -> bytes:
    return msgspec.json.encode(value)


def _any_json() -> st.SearchStrategy[Any]:
    leaves = st.none() | st.booleans() | st.integers() | st.text(max_size=20) | st.sampled_from(EDGE_VALUES)
    containers = lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)  # noqa: E731
    return st.recursive(leaves, containers, max_leaves=8)


def _value(schema: dict[str, Any], components: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """A value for `schema`; at each leaf one time in eight an edge value instead."""
    if "$ref" in schema:
        if depth > 6:
            return st.none()
        return _value(components[schema["$ref"].rsplit("/", 1)[1]], components, depth + 1)
    if "anyOf" in schema or "oneOf" in schema:
        return st.one_of([_value(s, components, depth + 1) for s in schema.get("anyOf", schema.get("oneOf"))])
    if "enum" in schema:
        return _or_edge(st.sampled_from(schema["enum"]))
    if "const" in schema:
        return st.just(schema["const"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of([_value({**schema, "type": k}, components, depth) for k in kind])
    match kind:
        case "object":
            return _object(schema, components, depth)
        case "array":
            return _array(schema, components, depth)
        case "integer":
            low = schema.get("minimum", schema.get("exclusiveMinimum", -(2**70) - 1) + 1)
            high = schema.get("maximum", schema.get("exclusiveMaximum", 2**70 + 1) - 1)
            return _or_edge(st.integers(low, high))
        case "number":
            return _or_edge(st.floats(schema.get("minimum"), schema.get("maximum"), allow_nan=False,
                                      allow_infinity=False))  # fmt: skip
        case "string":
            return _or_edge(_string(schema))
        case "boolean":
            return _or_edge(st.booleans())
        case "null":
            return st.none()
    return _any_json()


def _or_edge(usual: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.integers(0, 7).flatmap(lambda k: usual if k else st.sampled_from(EDGE_VALUES))


def _string(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    if "pattern" in schema:
        pattern = schema["pattern"].replace("(?!\\n)$", "$")
        matching = st.from_regex(pattern, fullmatch=True)
        return matching.filter(lambda s: low <= len(s) <= (high or 10**6))
    if schema.get("format") in ("date-time", "date"):
        dates = st.datetimes() if schema["format"] == "date-time" else st.dates()
        return dates.map(lambda d: d.isoformat())
    return st.text(min_size=low, max_size=max(low, min(high or MAX_TEXT, MAX_TEXT)))


def _array(schema: dict[str, Any], components: dict[str, Any], depth: int) -> st.SearchStrategy[list[Any]]:
    if "prefixItems" in schema:
        return st.tuples(*(_value(s, components, depth + 1) for s in schema["prefixItems"])).map(list)
    low = schema.get("minItems", 0)
    high = max(low, min(schema.get("maxItems", MAX_ITEMS), MAX_ITEMS))
    return st.lists(_value(schema.get("items", {}), components, depth + 1), min_size=low, max_size=high)


def _object(schema: dict[str, Any], components: dict[str, Any], depth: int) -> st.SearchStrategy[dict[str, Any]]:
    properties = schema.get("properties", {})
    required = set(schema.get("required", ()))
    fields = {name: _value(s, components, depth + 1) for name, s in properties.items()}
    fixed = st.fixed_dictionaries(
        {k: v for k, v in fields.items() if k in required},
        optional={k: v for k, v in fields.items() if k not in required},
    )
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        keys = st.text(min_size=1, max_size=12)
        more = st.dictionaries(keys, _value(extra, components, depth + 1), max_size=2)
        return st.tuples(fixed, more).map(lambda pair: {**pair[1], **pair[0]})
    return fixed


# ---- every input bounded ------------------------------------------------------------------------------------------

_BOUNDED_PATTERN = re.compile(r"^\^(?!.*,\})[^*+]*\$$")  # anchored, no unbounded repetition: its length is bounded


def unbounded_inputs(document: dict[str, Any]) -> list[str]:
    """Every integer a request carries without a minimum and a maximum, every string without a maxLength (or an
    anchored pattern that bounds it), every array or map without a bound on its size: '<operation> <where>'."""
    components = document["components"]["schemas"]
    found: list[str] = []
    for path, item in sorted(document["paths"].items()):
        for method, operation in sorted(item.items()):
            where = f"{method.upper()} {path}"
            for parameter in operation.get("parameters", []):
                _walk(parameter["schema"], f"{where} {parameter['in']} {parameter['name']}", components, found, set())
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None:
                _walk(body["schema"], f"{where} body", components, found, set())
    return found


def _walk(schema: dict[str, Any], where: str, components: dict[str, Any], found: list[str], seen: set[str]) -> None:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        if name not in seen:
            _walk(components[name], where, components, found, seen | {name})
        return
    for option in schema.get("anyOf", []):
        _walk(option, where, components, found, seen)
    if "enum" in schema or "const" in schema:
        return
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if ("integer" in kinds or "number" in kinds) and not _bounded_number(schema):
        found.append(f"{where}: a number without a minimum and a maximum")
    if "string" in kinds and "maxLength" not in schema and not _BOUNDED_PATTERN.match(schema.get("pattern", "")):
        found.append(f"{where}: a string without a maxLength")
    if "array" in kinds:
        if "maxItems" not in schema and "prefixItems" not in schema:
            found.append(f"{where}: an array without maxItems")
        for option in schema.get("prefixItems", []):
            _walk(option, f"{where}[]", components, found, seen)
        if "items" in schema:
            _walk(schema["items"], f"{where}[]", components, found, seen)
    if "object" in kinds:
        for name, option in schema.get("properties", {}).items():
            _walk(option, f"{where}.{name}", components, found, seen)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            if "maxProperties" not in schema:
                found.append(f"{where}: a map without maxProperties")
            _walk(extra, f"{where}{{}}", components, found, seen)


def _bounded_number(schema: dict[str, Any]) -> bool:
    low = "minimum" in schema or "exclusiveMinimum" in schema
    high = "maximum" in schema or "exclusiveMaximum" in schema
    return low and high
