"""Settings: built from the environment in one place (auction/config.py), handed on to children as their
environment, and read nowhere else."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from auction.config import (
    DEFAULT_SANCTIONED,
    Settings,
    SettingsError,
    admin_password,
    api_token,
    environment_for,
    environment_with_token,
    settings_from_env,
)

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "auction" / "config.py"


@pytest.mark.parametrize(
    "settings",
    [
        Settings(),
        Settings(
            redis_url="redis://127.0.0.1:7000/0",
            database_url="postgresql://u@/db?host=/tmp",
            state_dir=Path("/tmp/state"),
            durability="postgres",
            writers="optimistic",
            appendfsync="everysec",
            sanctioned_countries=frozenset(),
            embedded_pg="path",
        ),
        Settings(sanctioned_countries=frozenset({"IR", "KP"}), embedded_pg="pgserver"),
    ],
)
def test_a_child_reads_the_settings_it_was_handed(settings: Settings) -> None:
    assert settings_from_env(environment_for(settings, {})) == settings


def test_a_childs_environment_keeps_the_rest_and_drops_what_is_unset() -> None:
    parent = {"PATH": "/bin", "AUCTION_REDIS_URL": "redis://stale:1/0", "AUCTION_EMBEDDED_PG": "path"}
    child = environment_for(Settings(database_url="postgresql://h/db"), parent)
    assert child["PATH"] == "/bin"
    assert "AUCTION_REDIS_URL" not in child and "AUCTION_EMBEDDED_PG" not in child
    assert child["AUCTION_DATABASE_URL"] == "postgresql://h/db"


def test_the_embedded_postgresql_is_chosen_by_name() -> None:
    assert settings_from_env({}).embedded_pg is None
    assert settings_from_env({"AUCTION_EMBEDDED_PG": ""}).embedded_pg is None
    assert settings_from_env({"AUCTION_EMBEDDED_PG": "path"}).embedded_pg == "path"
    with pytest.raises(SettingsError, match="AUCTION_EMBEDDED_PG"):
        settings_from_env({"AUCTION_EMBEDDED_PG": "docker"})


def test_the_first_admins_password_is_read_here_and_kept_out_of_the_settings() -> None:
    assert admin_password({"AUCTION_ADMIN_PASSWORD": "correct horse battery"}) == "correct horse battery"
    assert admin_password({}) is None
    assert "password" not in repr(settings_from_env({"AUCTION_ADMIN_PASSWORD": "correct horse battery"}))
    assert settings_from_env({}).sanctioned_countries == DEFAULT_SANCTIONED


READERS = {"environ", "getenv", "environb", "getenvb"}


def reads_the_environment(path: Path) -> bool:
    """os.environ or os.getenv (or either imported by name) anywhere in the file."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute) and node.attr in READERS:
            return True
        if isinstance(node, ast.ImportFrom) and node.module == "os" and {a.name for a in node.names} & READERS:
            return True
    return False


def test_only_the_settings_read_the_environment() -> None:
    """The services' packages; the load generator's harnesses and the tests read variables of their own."""
    readers = [
        str(path.relative_to(ROOT))
        for package in ("auction", "settlement", "ops")
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != CONFIG and reads_the_environment(path)
    ]
    assert readers == []


def test_the_shill_threshold_is_a_score_from_0_to_100_handed_to_children() -> None:
    assert settings_from_env({}).shill_threshold == 50
    assert settings_from_env({"AUCTION_SHILL_THRESHOLD": "35"}).shill_threshold == 35
    assert settings_from_env(environment_for(Settings(shill_threshold=0), {})).shill_threshold == 0
    for bad in ("101", "-1", "half", "0.5"):
        with pytest.raises(SettingsError, match="AUCTION_SHILL_THRESHOLD"):
            settings_from_env({"AUCTION_SHILL_THRESHOLD": bad})


def test_the_public_address_and_the_websockets_per_address_are_checked() -> None:
    assert settings_from_env({}).public_url is None and settings_from_env({}).websockets_per_address == 200
    given = settings_from_env({"AUCTION_PUBLIC_URL": "https://auction.example:8443/", "AUCTION_WS_PER_ADDRESS": "50"})
    assert (given.public_url, given.websockets_per_address) == ("https://auction.example:8443", 50)
    assert settings_from_env(environment_for(given, {})) == given
    for bad in ("auction.example", "ftp://auction.example", "https://auction.example/path", "https://a b"):
        with pytest.raises(SettingsError, match="AUCTION_PUBLIC_URL"):
            settings_from_env({"AUCTION_PUBLIC_URL": bad})
    for bad in ("0", "-1", "many"):
        with pytest.raises(SettingsError, match="AUCTION_WS_PER_ADDRESS"):
            settings_from_env({"AUCTION_WS_PER_ADDRESS": bad})


def test_the_api_token_is_read_bounded_and_never_required() -> None:
    assert api_token({}) is None and api_token({"AUCTION_TOKEN": "  "}) is None
    assert api_token({"AUCTION_TOKEN": "abc.def\n"}) == "abc.def"
    for bad in ("x" * 513, "tok\x00en", "tok\nen"):
        with pytest.raises(SettingsError, match="AUCTION_TOKEN"):
            api_token({"AUCTION_TOKEN": bad})


def test_a_child_command_gets_the_token_where_api_token_reads_it() -> None:
    child = environment_with_token("tok-1", {"PATH": "/bin"})
    assert child == {"PATH": "/bin", "AUCTION_TOKEN": "tok-1"} and api_token(child) == "tok-1"
