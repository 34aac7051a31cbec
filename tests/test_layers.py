"""The house's layers run one way, and a test keeps them so (the engine's purity test does the same for the core).

    auction/engine            the pure core: imports nothing of the project but itself
    auction/ (the rest)       store, record, identity, vetting, catalogue, the HTTP kit: the engine and itself
    auction/gateway, settlement/   each: the two layers below and itself; never each other
    ops/                      the composition root (CLI, process runner, worker, demo, app assembly): anything
    loadtest/, tests/         harnesses over the whole: anything

Nothing imports ops/ but loadtest, the tests and `auction/__main__.py` (which only hands over to the CLI).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("auction", "settlement", "ops", "loadtest")


def layer_of(module: str) -> tuple[int, str]:
    """(rank, room): a module may import a lower rank, or its own room."""
    if module == "auction.engine" or module.startswith("auction.engine."):
        return 0, "engine"
    if module == "auction.gateway" or module.startswith("auction.gateway."):
        return 2, "gateway"
    if module == "auction" or module.startswith("auction."):
        return 1, "auction"
    if module.startswith("settlement"):
        return 2, "settlement"
    if module.startswith("ops"):
        return 3, "ops"
    return 4, "loadtest"


def project_modules() -> list[tuple[str, Path]]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found.append((".".join(parts), path))
    return found


def imported(module: str, path: Path) -> set[str]:
    """The project's modules a file imports, anywhere in it (functions included), resolved to absolute names."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                names.add(".".join([*base, node.module] if node.module else base))
            elif node.module:
                names.add(node.module)
    return {name for name in names if name.split(".")[0] in PACKAGES}


def violations() -> list[str]:
    found = []
    for module, path in project_modules():
        rank, room = layer_of(module)
        for target in sorted(imported(module, path)):
            target_rank, target_room = layer_of(target)
            if module == "auction.__main__" and target_room == "ops":
                continue  # `python -m auction` hands over to the CLI, which lives in the composition root
            if target_room != room and target_rank >= rank:
                found.append(f"{module} ({room}) imports {target} ({target_room})")
    return found


def test_every_import_runs_down_the_layers() -> None:
    assert violations() == []


@pytest.mark.parametrize(
    ("module", "target", "allowed"),
    [
        ("auction.store.committer", "auction.engine.lot", True),
        ("auction.engine.lot", "auction.store", False),
        ("auction.gateway.app", "settlement.http", False),
        ("settlement.http", "auction.gateway.http", False),
        ("settlement.http", "auction.httpkit", True),
        ("auction.catalog", "ops.embedded", False),
        ("ops.cli", "settlement.cli", True),
    ],
)
def test_the_rule_itself(module: str, target: str, allowed: bool) -> None:
    rank, room = layer_of(module)
    target_rank, target_room = layer_of(target)
    assert (target_room == room or target_rank < rank) is allowed
