"""The HTTP kit that the gateway and settlement share, and that neither owns.

routes.py    Route, Reply, Query: a route declared once, wired and documented from the same declaration
openapi.py   the OpenAPI 3.1 document of a set of routes
errors.py    error codes and their statuses, ApiError, the JSON error body
bodies.py    bounded JSON and raw bodies, int parameters, each refused with the field named; U+0000 refused in
             any string of any JSON body or frame (refuse_nul)
bounds.py    the bounds of what a request carries (amounts, ids, instants, text), as msgspec types
callers.py   Caller: who is on the other end, as the gateway's middleware resolved it
"""

from .bodies import MAX_ID, MAX_JSON_BYTES, int_param, json_body, raw_body, refuse_nul, refuse_nul_in_url, require_json
from .bounds import MAX_AMOUNT, MAX_MS, Amount, Line, Millis, MoneyOrZero, Note, RecordId, Word
from .callers import ANONYMOUS, CALLER_KEY, Caller, Principal, Via, caller_of
from .errors import STATUS, WHO_REFUSALS, ApiError, ErrorBody, ErrorCode, ErrorInfo, error_field, error_reply, reply
from .openapi import document, openapi_route
from .routes import HTML, JSON, OCTETS, TEXT, Handler, Query, Reply, Route

__all__ = [
    "ANONYMOUS",
    "CALLER_KEY",
    "HTML",
    "JSON",
    "MAX_AMOUNT",
    "MAX_ID",
    "MAX_JSON_BYTES",
    "MAX_MS",
    "OCTETS",
    "STATUS",
    "TEXT",
    "WHO_REFUSALS",
    "Amount",
    "ApiError",
    "Caller",
    "ErrorBody",
    "ErrorCode",
    "ErrorInfo",
    "Handler",
    "Line",
    "Millis",
    "MoneyOrZero",
    "Note",
    "Principal",
    "Query",
    "RecordId",
    "Reply",
    "Route",
    "Via",
    "Word",
    "caller_of",
    "document",
    "error_field",
    "error_reply",
    "int_param",
    "json_body",
    "openapi_route",
    "raw_body",
    "refuse_nul",
    "refuse_nul_in_url",
    "reply",
    "require_json",
]
