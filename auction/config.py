"""Settings, as one frozen object built from the environment in the entry point only (arq's style).

AUCTION_REDIS_URL      redis://... ; unset: start an embedded Redis under the state folder
AUCTION_DATABASE_URL   postgresql://... ; unset: start an embedded PostgreSQL under the state folder
AUCTION_STATE_DIR      where embedded servers keep their data (default .state)
AUCTION_DURABILITY     redis (default) or postgres: when a bid is acknowledged, see README "Durability"
AUCTION_WRITERS        single (default: one store writes each sale, the others forward to it) or optimistic
                       (every process commits directly, the compare-and-set alone keeps it right); README
AUCTION_APPENDFSYNC    always (default), everysec or no: the embedded Redis's fsync policy
AUCTION_SANCTIONED_COUNTRIES  ISO 3166 alpha-2 codes, comma-separated, whose companies can't be approved
                       (default KP,IR,SY,CU,RU,BY; set it empty for none)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, get_args

import msgspec

Durability = Literal["redis", "postgres"]
Writers = Literal["single", "optimistic"]
AppendFsync = Literal["always", "everysec", "no"]


# North Korea, Iran, Syria, Cuba, Russia, Belarus: comprehensive or sectoral sanctions that cover the trade in
# diamonds (Russian diamonds are banned by the G7 since 2024). A house sets its own list for its jurisdictions.
DEFAULT_SANCTIONED = frozenset({"KP", "IR", "SY", "CU", "RU", "BY"})


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


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = env.get(name, default)
    if value not in allowed:
        raise SettingsError(f"{name}={value!r}: expected one of {', '.join(allowed)}")
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
    )


def _countries(env: Mapping[str, str], name: str) -> frozenset[str]:
    value = env.get(name)
    if value is None:
        return DEFAULT_SANCTIONED
    codes = frozenset(code.strip().upper() for code in value.split(",") if code.strip())
    bad = sorted(code for code in codes if len(code) != 2 or not code.isalpha())
    if bad:
        raise SettingsError(f"{name}: {bad[0]!r} is not an ISO 3166 alpha-2 country code")
    return codes
