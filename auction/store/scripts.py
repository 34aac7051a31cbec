"""The store's Lua scripts, each in a file of its own next to this module, read once at import."""

from __future__ import annotations

from importlib.resources import files


def _read(name: str) -> str:
    return files(__package__).joinpath(name).read_text(encoding="utf-8")


COMMIT_LUA = _read("commit.lua")
CREATE_LUA = _read("create.lua")
LEASE_LUA = _read("lease.lua")
PURGE_LUA = _read("purge.lua")
STANDING_LUA = _read("standing.lua")
TRIM_LUA = _read("trim.lua")
