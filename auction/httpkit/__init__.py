"""The HTTP kit that the gateway and settlement share, and that neither owns.

routes.py    Route, Reply, Query: a route declared once, wired and documented from the same declaration
openapi.py   the OpenAPI 3.1 document of a set of routes
errors.py    error codes and their statuses, ApiError, the JSON error body
bodies.py    bounded JSON and raw bodies, int parameters, each refused with the field named
callers.py   Caller: who is on the other end, as the gateway's middleware resolved it
"""

from .bodies import MAX_ID, MAX_JSON_BYTES, int_param, json_body, raw_body, require_json
from .callers import ANONYMOUS, CALLER_KEY, Caller, Principal, Via, caller_of
from .errors import STATUS, WHO_REFUSALS, ApiError, ErrorBody, ErrorCode, ErrorInfo, error_field, error_reply, reply
from .openapi import document, openapi_route
from .routes import HTML, JSON, OCTETS, TEXT, Handler, Query, Reply, Route

__all__ = [
    "ANONYMOUS",
    "CALLER_KEY",
    "HTML",
    "JSON",
    "MAX_ID",
    "MAX_JSON_BYTES",
    "OCTETS",
    "STATUS",
    "TEXT",
    "WHO_REFUSALS",
    "ApiError",
    "Caller",
    "ErrorBody",
    "ErrorCode",
    "ErrorInfo",
    "Handler",
    "Principal",
    "Query",
    "Reply",
    "Route",
    "Via",
    "caller_of",
    "document",
    "error_field",
    "error_reply",
    "int_param",
    "json_body",
    "openapi_route",
    "raw_body",
    "reply",
    "require_json",
]
