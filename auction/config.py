"""Settings, as one frozen object built from the environment in the entry point only (arq's style).

This module is the only one that reads the environment, and the CLI (ops/cli.py) the only caller: everything
else is handed the settings, or the values it needs from them. A process that starts others hands its settings
on as their environment (`environment_for`), so a child reads the same values the same way.

AUCTION_REDIS_URL      redis://... ; unset: start an embedded Redis under the state folder
AUCTION_DATABASE_URL   postgresql://... ; unset: start an embedded PostgreSQL under the state folder
AUCTION_STATE_DIR      where embedded servers keep their data (default .state)
AUCTION_DURABILITY     redis (default) or postgres: when a bid is acknowledged, see README "Durability"
AUCTION_WRITERS        single (default: one store writes each sale, the others forward to it) or optimistic
                       (every process commits directly, the compare-and-set alone keeps it right); README
AUCTION_APPENDFSYNC    always (default), everysec or no: the embedded Redis's fsync policy
AUCTION_SANCTIONED_COUNTRIES  ISO 3166 alpha-2 codes, comma-separated, whose companies can't be approved
                       (default KP,IR,SY,CU,RU,BY; set it empty for none)
AUCTION_EMBEDDED_PG    pgserver or path: which PostgreSQL to start when no URL is given (default: the pgserver
                       wheel if installed, else initdb/postgres on PATH)
AUCTION_PUBLIC_URL     the address browsers use, e.g. https://auction.example (scheme and host, optionally a port;
                       no path): https makes the session cookie Secure, and a browser's Origin must match it.
                       Unset: cookies are Secure only on a TLS connection, and an Origin must match the Host asked
AUCTION_WS_PER_ADDRESS live websockets one client address may hold on a gateway (default 200: a trading floor's
                       buyers may all sit behind one office address); past it an upgrade is refused 429
AUCTION_BIDS_PER_S     bids a second one bidding company may place, whatever the transport and the gateway (default
                       20, bursts of three seconds' worth; 0 for no limit; auction/gateway/bid_limits.py)
AUCTION_SHILL_THRESHOLD the shill monitor's score (0 to 100) from which operators see a bidder flagged
                       (default 50; auction.engine.shill)
AUCTION_HOUSE_NAME     the house's legal name, as its invoices are issued (default: the site's name)
AUCTION_HOUSE_ADDRESS  its postal address, lines separated by |  (e.g. "Hoveniersstraat 2|2018 Antwerpen|Belgium")
AUCTION_HOUSE_TAX_ID   its VAT or tax registration number, printed on invoices when set
AUCTION_HOUSE_PAYMENT  how buyers pay it, lines separated by | (bank, IBAN, SWIFT/BIC); unset: "ask the house"
AUCTION_HOUSE_EMAIL    where buyers and consignors write about their accounts
AUCTION_ADMIN_PASSWORD the first admin's password for `auction admin create` (`admin_password`; kept out of
                       Settings so that it never appears where settings are printed)
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, get_args

import msgspec

from auction.house_details import DEFAULT_HOUSE, HouseDetails, house_from_lines

Durability = Literal["redis", "postgres"]
Writers = Literal["single", "optimistic"]
AppendFsync = Literal["always", "everysec", "no"]
EmbeddedPg = Literal["pgserver", "path"]


# North Korea, Iran, Syria, Cuba, Russia, Belarus: comprehensive or sectoral sanctions that cover the trade in
# diamonds (Russian diamonds are banned by the G7 since 2024). A house sets its own list for its jurisdictions.
DEFAULT_SANCTIONED = frozenset({"KP", "IR", "SY", "CU", "RU", "BY"})
# Half the scale: a bidder leaning wholly to one consignor whose bidding is at least half shill-like.
DEFAULT_SHILL_THRESHOLD = 50
WS_PER_ADDRESS = 200
BIDS_PER_S = 20  # per bidding company: above the load generator's 15 a second per buyer, far above a person's
MAX_BIDS_PER_S = 100_000
_PUBLIC_URL = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$")


class SettingsError(ValueError):
    """An environment variable holds a value the program can't use; the message names it."""


class Settings(msgspec.Struct, frozen=True):
    redis_url: str | None = None
    database_url: str | None = None
    state_dir: Path = Path(".state")
    durability: Durability = "redis"
    writers: Writers = "single"
    appendfsync: AppendFsync = "always"
    sanctioned_countries: frozenset[str] = DEFAULT_SANCTIONED
    embedded_pg: EmbeddedPg | None = None
    house_details: HouseDetails = DEFAULT_HOUSE
    shill_threshold: int = DEFAULT_SHILL_THRESHOLD
    public_url: str | None = None
    websockets_per_address: int = WS_PER_ADDRESS
    bids_per_s: int = BIDS_PER_S


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = env.get(name, default)
    if value not in allowed:
        raise SettingsError(f"{name}={value!r}: expected one of {', '.join(allowed)}")
    return value


def _optional_choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str | None:
    value = env.get(name) or None
    if value is not None and value not in allowed:
        raise SettingsError(f"{name}={value!r}: expected one of {', '.join(allowed)}, or unset")
    return value


def _url(env: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> str | None:
    value = env.get(name) or None
    if value is not None and not value.startswith(schemes):
        raise SettingsError(f"{name}: expected a URL starting with {' or '.join(schemes)}")
    return value


def settings_from_env(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    return Settings(
        redis_url=_url(env, "AUCTION_REDIS_URL", ("redis://", "rediss://", "unix://")),
        database_url=_url(env, "AUCTION_DATABASE_URL", ("postgresql://", "postgres://")),
        state_dir=Path(env.get("AUCTION_STATE_DIR", ".state")),
        durability=_choice(env, "AUCTION_DURABILITY", get_args(Durability), "redis"),  # type: ignore[arg-type]
        writers=_choice(env, "AUCTION_WRITERS", get_args(Writers), "single"),  # type: ignore[arg-type]
        appendfsync=_choice(env, "AUCTION_APPENDFSYNC", get_args(AppendFsync), "always"),  # type: ignore[arg-type]
        sanctioned_countries=_countries(env, "AUCTION_SANCTIONED_COUNTRIES"),
        embedded_pg=_optional_choice(env, "AUCTION_EMBEDDED_PG", get_args(EmbeddedPg)),  # type: ignore[arg-type]
        house_details=_house_details(env),
        shill_threshold=_threshold(env, "AUCTION_SHILL_THRESHOLD"),
        public_url=_public_url(env, "AUCTION_PUBLIC_URL"),
        websockets_per_address=_count(env, "AUCTION_WS_PER_ADDRESS", WS_PER_ADDRESS),
        bids_per_s=_count(env, "AUCTION_BIDS_PER_S", BIDS_PER_S, minimum=0, maximum=MAX_BIDS_PER_S),
    )


def environment_for(settings: Settings, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a child process: `env` (default: this process's), with every setting written as
    settings_from_env reads it, so the child's settings equal `settings`. An unset URL or choice is removed."""
    child = dict(os.environ if env is None else env)
    written = {
        "AUCTION_REDIS_URL": settings.redis_url,
        "AUCTION_DATABASE_URL": settings.database_url,
        "AUCTION_STATE_DIR": str(settings.state_dir),
        "AUCTION_DURABILITY": settings.durability,
        "AUCTION_WRITERS": settings.writers,
        "AUCTION_APPENDFSYNC": settings.appendfsync,
        "AUCTION_SANCTIONED_COUNTRIES": ",".join(sorted(settings.sanctioned_countries)),
        "AUCTION_EMBEDDED_PG": settings.embedded_pg,
        "AUCTION_HOUSE_NAME": settings.house_details.name,
        "AUCTION_HOUSE_ADDRESS": "|".join(settings.house_details.address),
        "AUCTION_HOUSE_TAX_ID": settings.house_details.tax_id,
        "AUCTION_HOUSE_PAYMENT": "|".join(settings.house_details.payment),
        "AUCTION_HOUSE_EMAIL": settings.house_details.email,
        "AUCTION_SHILL_THRESHOLD": str(settings.shill_threshold),
        "AUCTION_PUBLIC_URL": settings.public_url,
        "AUCTION_WS_PER_ADDRESS": str(settings.websockets_per_address),
        "AUCTION_BIDS_PER_S": str(settings.bids_per_s),
    }
    for name, value in written.items():
        if value is None:
            child.pop(name, None)
        else:
            child[name] = value
    return child


def admin_password(env: Mapping[str, str] | None = None) -> str | None:
    """AUCTION_ADMIN_PASSWORD, for scripts that create the first admin; None when unset (the CLI asks)."""
    env = os.environ if env is None else env
    return env.get("AUCTION_ADMIN_PASSWORD")


MAX_TOKEN_CHARS = 512  # a session token is far shorter; anything longer is not one


def api_token(env: Mapping[str, str] | None = None) -> str | None:
    """AUCTION_TOKEN, an operator's API token for commands that talk to a running gateway (`auction tender share`),
    kept out of the command line where other users of the machine could read it; None when unset."""
    env = os.environ if env is None else env
    token = env.get("AUCTION_TOKEN", "").strip()
    if len(token) > MAX_TOKEN_CHARS or not token.isprintable():
        raise SettingsError(f"AUCTION_TOKEN: not an API token (at most {MAX_TOKEN_CHARS} printable characters)")
    return token or None


def environment_with_token(token: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a child command that talks to a gateway as an operator: `env` (default: this
    process's) with AUCTION_TOKEN set, which `api_token` reads there."""
    child = dict(os.environ if env is None else env)
    child["AUCTION_TOKEN"] = token
    return child


def _countries(env: Mapping[str, str], name: str) -> frozenset[str]:
    value = env.get(name)
    if value is None:
        return DEFAULT_SANCTIONED
    codes = frozenset(code.strip().upper() for code in value.split(",") if code.strip())
    bad = sorted(code for code in codes if len(code) != 2 or not code.isalpha())
    if bad:
        raise SettingsError(f"{name}: {bad[0]!r} is not an ISO 3166 alpha-2 country code")
    return codes


def _threshold(env: Mapping[str, str], name: str) -> int:
    value = env.get(name) or None
    if value is None:
        return DEFAULT_SHILL_THRESHOLD
    if not value.isdigit() or int(value) > 100:
        raise SettingsError(f"{name}={value!r}: expected a whole number from 0 to 100")
    return int(value)


def _public_url(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name) or None
    if value is not None and not _PUBLIC_URL.match(value):
        raise SettingsError(f"{name}={value!r}: expected http(s)://host[:port], without a path")
    return value.rstrip("/") if value is not None else None


def _count(env: Mapping[str, str], name: str, default: int, minimum: int = 1, maximum: int = 1_000_000) -> int:
    value = env.get(name) or None
    if value is None:
        return default
    if not value.isdigit() or not minimum <= int(value) <= maximum:
        raise SettingsError(f"{name}={value!r}: expected a whole number from {minimum} to {maximum}")
    return int(value)


def _house_details(env: Mapping[str, str]) -> HouseDetails:
    """The house's particulars from AUCTION_HOUSE_*, each bounded (HouseDetails); an unset one keeps its default."""
    try:
        return house_from_lines(
            env.get("AUCTION_HOUSE_NAME", ""),
            env.get("AUCTION_HOUSE_ADDRESS", ""),
            env.get("AUCTION_HOUSE_TAX_ID", ""),
            env.get("AUCTION_HOUSE_PAYMENT", ""),
            env.get("AUCTION_HOUSE_EMAIL", ""),
        )
    except msgspec.ValidationError as exc:
        raise SettingsError(f"AUCTION_HOUSE_*: {exc}") from exc
