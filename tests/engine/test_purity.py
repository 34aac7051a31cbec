"""The bidding core is pure: no I/O, clock or randomness anywhere in what it imports. And what the views give
the public never carries a bidder's identity, maximum or client id."""

from __future__ import annotations

import ast
import typing
from pathlib import Path

import msgspec
import pytest

import auction.engine
from auction.engine.lot import LotState, LotTerms, decide, evolve, new_lot
from auction.engine.messages import AnyCommand, AnyEvent, MaxBidRaised
from auction.engine.views import AnyPublicEvent, Hidden, lot_view, public_event

from ._lots import END, close, max_bid, terms

ROOT = Path(auction.engine.__file__).resolve().parents[2]  # the folder holding the `auction` package
ENGINE = Path(auction.engine.__file__).resolve().parent
FORBIDDEN = {
    "asyncio",
    "redis",
    "asyncpg",
    "aiohttp",
    "websockets",
    "time",
    "datetime",
    "random",
    "secrets",
    "os",
    "socket",
    "uuid",
}
PRIVATE_KEYS = {"max_amount", "bidder", "client_id", "leader", "leader_max", "reason"}


def _module_file(name: str) -> Path | None:
    """The source of a module of this project (auction.*), or None for anything else."""
    if name != "auction" and not name.startswith("auction."):
        return None
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, name: str | None = None) -> set[str]:
    """Every module a file imports (absolute names), including `from pkg import submodule` and the packages a
    dotted import executes on the way."""
    name = name or _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names if _module_file(f"{module}.{alias.name}"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "__import__":
            found.add("__import__")
    with_parents: set[str] = set()
    for module in found:
        parts = module.split(".")
        with_parents.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return with_parents


def _closure(start: str) -> dict[str, set[str]]:
    """module -> what it imports, for `start` and every auction.* module it reaches."""
    seen: dict[str, set[str]] = {}
    todo = [start]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        path = _module_file(module)
        if path is None:
            continue
        seen[module] = _imports(path)
        todo.extend(m for m in seen[module] if _module_file(m) and m not in seen)
    return seen


ENGINE_MODULES = sorted(_module_name(p) for p in ENGINE.glob("*.py"))


def test_engine_modules_found() -> None:
    assert {"auction.engine.lot", "auction.engine.views", "auction.engine.premium"} <= set(ENGINE_MODULES)


@pytest.mark.parametrize("module", ENGINE_MODULES)
def test_engine_module_imports_nothing_impure(module: str) -> None:
    closure = _closure(module)
    assert module in closure
    offending = {
        (importer, imported)
        for importer, imports in closure.items()
        for imported in imports
        if imported.split(".")[0] in FORBIDDEN or imported == "__import__"
    }
    assert not offending, f"{module} reaches impure imports: {sorted(offending)}"


def test_the_walk_resolves_relative_and_submodule_imports() -> None:
    """The walker itself: lot.py imports `from auction.engine import lifecycle`, a submodule."""
    closure = _closure("auction.engine.views")
    assert {
        "auction.engine.lot",
        "auction.engine.lifecycle",
        "auction.engine.ladder",
        "auction.engine.messages",
    } <= set(closure)
    assert "auction" in closure and "auction.engine" in closure  # the packages run on the way in


def test_the_walk_would_catch_an_impure_import(tmp_path: Path) -> None:
    source = tmp_path / "fake.py"
    source.write_text(
        "import os.path\nfrom datetime import datetime\nfrom . import lot\nfrom .. import engine\n"
        "def f():\n    import time\n    return __import__('socket')\n"
    )
    found = _imports(source, "auction.engine.fake")
    assert {"os", "os.path", "datetime", "time", "__import__", "auction.engine.lot", "auction.engine"} <= found


# --------------------------------------------------------------------------------------------------------------
# Views: nothing private reaches the public.

SECRET_MAX = 987_654_321  # a value that appears nowhere else in the samples
SECRET_BIDDER = 55_555_551
SECRET_CLIENT = "client-secret-xyz"
SECRET_RESERVE = 424_242_427
SECRET_REASON = "reason-secret-qrs"  # why a lot was withdrawn or someone's bids cancelled: the house's business


def _sample(event_type: type[AnyEvent], seq: int) -> AnyEvent:
    """An instance of any event type, with the private fields set to recognisable secrets."""
    hints = typing.get_type_hints(event_type)
    values: dict[str, object] = {}
    for field in msgspec.structs.fields(event_type):
        hint = hints[field.name]
        if field.name == "seq":
            values[field.name] = seq
        elif field.name in {"max_amount", "leader_max"}:
            values[field.name] = SECRET_MAX
        elif field.name in {"bidder", "leader"}:
            values[field.name] = SECRET_BIDDER
        elif field.name == "client_id":
            values[field.name] = SECRET_CLIENT
        elif field.name == "reason" and hint is str:
            values[field.name] = SECRET_REASON
        elif typing.get_origin(hint) is typing.Literal:
            values[field.name] = typing.get_args(hint)[0]
        elif typing.get_origin(hint) is tuple:
            values[field.name] = ()
        elif typing.get_args(hint) and typing.get_origin(typing.get_args(hint)[0]) is typing.Literal:
            values[field.name] = typing.get_args(typing.get_args(hint)[0])[0]  # an optional Literal
        elif hint is int or hint == int | None:
            values[field.name] = 1_000 + seq
        elif hint is str:
            values[field.name] = "why"
        else:
            raise AssertionError(f"no sample for {event_type.__name__}.{field.name}: {hint}")
    return event_type(**values)  # type: ignore[arg-type]


EVENT_TYPES = list(typing.get_args(AnyEvent))
PUBLIC_TYPES = tuple(typing.get_args(AnyPublicEvent))


def test_every_event_type_is_covered() -> None:
    assert {t.__name__ for t in EVENT_TYPES} == {
        "LotOpened",
        "BidAccepted",
        "ProxyBidPlaced",
        "MaxBidRaised",
        "LotExtended",
        "LotSold",
        "LotPassed",
        "LotWithdrawn",
        "BidsCancelled",
        # a live lot's (auction.engine.formats.live)
        "AbsenteeBidLeft",
        "AskSet",
        "IncrementChanged",
        "OnlineBidPending",
        "OnlineBidDeclined",
        "FairWarningCalled",
        "LotReopened",
        "LotPaused",
        "LotResumed",
        "BidUndone",
        "LateBidNoted",
        # a tender lot's (auction.engine.formats.tender)
        "ViewingOpened",
        "TenderBidSubmitted",
        "BidsClosed",
        "TenderRevealed",
        "AcceptanceOffered",
    }


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=lambda t: t.__name__)
def test_every_event_has_a_public_form_without_private_fields(event_type: type[AnyEvent]) -> None:
    lot = terms(reserve=SECRET_RESERVE)
    event = _sample(event_type, seq=3)
    shown = public_event(lot, event)
    assert isinstance(shown, PUBLIC_TYPES), f"{event_type.__name__} has no public form: {shown!r}"
    assert shown.seq == event.seq and shown.at_ms == event.at_ms
    encoded = msgspec.json.encode(shown)
    fields = msgspec.json.decode(encoded)
    assert isinstance(fields, dict)
    assert not PRIVATE_KEYS & set(fields), fields
    assert "reserve" not in fields
    text = encoded.decode()
    for secret in (str(SECRET_MAX), str(SECRET_BIDDER), SECRET_CLIENT, str(SECRET_RESERVE), SECRET_REASON):
        assert secret not in text, (secret, text)


def test_a_raised_maximum_is_hidden() -> None:
    event = _sample(MaxBidRaised, seq=9)
    assert public_event(terms(), event) == Hidden(9, event.at_ms)


def _run(lot: LotTerms, commands: list[AnyCommand]) -> tuple[LotState, list[AnyEvent]]:
    state = new_lot(lot)
    events: list[AnyEvent] = []
    for command in commands:
        decision = decide(state, command)
        assert isinstance(decision, tuple), decision
        for event in decision:
            state = evolve(state, event)
        events.extend(decision)
    return state, events


def test_public_record_of_a_real_lot_is_gap_free_and_private_free() -> None:
    lot = terms()
    state, events = _run(
        lot,
        [
            max_bid(SECRET_BIDDER, SECRET_MAX, 2000),
            max_bid(8, 5_000, 3000),
            max_bid(SECRET_BIDDER, SECRET_MAX + 2_000_000, 4000),  # a raise of at least an increment
            close(END),
        ],
    )
    assert state.status == "sold"
    shown = [public_event(lot, e) for e in events]
    assert [s.seq for s in shown] == list(range(1, len(events) + 1))
    text = msgspec.json.encode(shown).decode()
    for secret in (str(SECRET_MAX), str(SECRET_MAX + 2_000_000), str(SECRET_BIDDER), "c8-3000"):
        assert secret not in text, (secret, text)
    assert not PRIVATE_KEYS & {key for item in msgspec.json.decode(text) for key in item}


def test_lot_view_hides_the_leader_maximum_and_reserve() -> None:
    """The leader's maximum is below the hidden reserve, so neither may show; only `reserve_met` (false)."""
    lot = terms(reserve=SECRET_RESERVE)
    state, _ = _run(lot, [max_bid(SECRET_BIDDER, SECRET_MAX // 10, 2000)])
    assert state.leader == SECRET_BIDDER
    text = msgspec.json.encode(lot_view(state)).decode()
    fields = msgspec.json.decode(text)
    assert not {"leader", "leader_max", "reserve", *PRIVATE_KEYS} & set(fields)
    for secret in (str(SECRET_MAX // 10), str(SECRET_BIDDER), str(SECRET_RESERVE)):
        assert secret not in text, (secret, text)
    assert fields["reserve_met"] is False
    assert fields["price"] == lot.opening
