"""Errors as the API gives them: one code from a closed list, the field it is about, a message for people.

Every refusal over HTTP is `{"error": {"code", "field", "message"}}` with the status its code implies; the
websocket's error frames use the same codes. A handler raises `ApiError`; the edge (the gateway's `errors`
middleware) writes it with `error_reply`.
"""

from __future__ import annotations

import re
from typing import Any, Literal, get_args

import msgspec
from aiohttp import web

from auction.engine.standing import StandingRefusal

ErrorCode = Literal[
    "invalid",  # malformed JSON, a wrong type, a value out of range; `field` names it
    "unknown_type",  # a message type the server doesn't know
    "too_large",  # a frame over MAX_FRAME_BYTES
    "unauthorised",  # no credentials where some are needed, or a malformed Authorization header
    "token_invalid",  # a token nobody holds: mistyped, tampered with, or made up
    "token_expired",  # a token past its expiry: log in again or issue a new one
    "token_revoked",  # a token that was revoked (logout, DELETE /api/tokens/{id}) or whose account is disabled
    "login_failed",  # wrong email or password (never says which)
    "not_allowed",  # your role may not do this, or it is not yours (another company's file, another's lot)
    "sanctioned",  # the company's country is on the sanctions list
    "refused",  # the vetting rules say no: `message` says why (not approved, approval expired, ...)
    "conflict",  # clashes with what exists: a paddle taken, a registration asked for twice, a wrong status
    "not_found",  # no such sale or lot
    "rate_limited",  # over the per-connection rate; slow down
    "lagged",  # the connection fell too far behind the live feed; reconnect and resume
    "unavailable",  # Redis or PostgreSQL failed; for a bid the outcome is unknown: resend the same client_id
    "busy",  # past this process's capacity for that work (e.g. passwords to hash): retry after `retry_after`
    "unsupported_media_type",  # a body that is not the media type the route takes (JSON): nothing was read
    "internal",  # our fault; the message was not acted on
]

STATUS: dict[ErrorCode, int] = {
    "invalid": 400,
    "unknown_type": 400,
    "too_large": 413,
    "unauthorised": 401,
    "token_invalid": 401,
    "token_expired": 401,
    "token_revoked": 401,
    "login_failed": 401,
    "not_allowed": 403,
    "sanctioned": 422,
    "refused": 409,
    "conflict": 409,
    "not_found": 404,
    "rate_limited": 429,
    "lagged": 409,
    "unavailable": 503,
    "busy": 503,
    "unsupported_media_type": 415,
    "internal": 500,
}


# Refusals about who asks (403) rather than about what they ask (409): the engine's refusals of a buyer's standing,
# and "not_allowed" (not theirs to do). The gateway answers a refused bid by it, settlement a refused offer.
WHO_REFUSALS: frozenset[str] = frozenset({*get_args(StandingRefusal), "not_allowed"})


class ErrorInfo(msgspec.Struct, frozen=True, omit_defaults=True):
    code: ErrorCode
    field: str | None
    message: str
    retry_after: int | None = None  # seconds, for 429 (also in the Retry-After header)
    client_id: str | None = None  # the bid it answers, as on the websocket (protocol.Error)
    sale: int | None = None
    lot: int | None = None


class ErrorBody(msgspec.Struct, frozen=True):
    error: ErrorInfo


class ApiError(Exception):
    """A refusal, raised by a handler and written by the edge with the status its code implies."""

    def __init__(
        self,
        code: ErrorCode,
        field: str | None,
        message: str,
        status: int | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.info = ErrorInfo(code, field, message, retry_after)
        self.status = status or STATUS[code]


_ENCODER = msgspec.json.Encoder()


def reply(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=_ENCODER.encode(body), status=status, content_type="application/json")


def error_reply(info: ErrorInfo, status: int | None = None) -> web.Response:
    response = reply(ErrorBody(info), status or STATUS[info.code])
    if info.retry_after is not None:
        response.headers["Retry-After"] = str(info.retry_after)
    return response


_AT = re.compile(r" - at `(?:key` in `)?\$\.?([^`]*)`$")
_NAMED = re.compile(r"^Object (?:missing required|contains unknown) field `([^`]*)`")


def error_field(message: str) -> str | None:
    """The field a msgspec validation message is about: 'amount', 'lots[1]', 'resume'; None for the whole."""
    named = _NAMED.match(message)
    at = _AT.search(message)
    path = at.group(1) if at else ""
    if named:
        return f"{path}.{named.group(1)}" if path else named.group(1)
    return path or None
