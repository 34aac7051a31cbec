"""What `make demo` and `make test` install is pinned (issue 12, finding 25): a new release of ruff or mypy
used to be able to fail `make test` on an unchanged tree. constraints.txt holds every version; the Makefile's
install step passes it to pip, for the package's build too; `make lock` is the one way it changes."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins() -> dict[str, str]:
    found = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not pinned with =="
            found[canonical(name)] = version
    return found


def declared() -> list[str]:
    """Every requirement pyproject.toml names: the build's, the package's and its extras'."""
    project = PYPROJECT["project"]
    extras = [req for group in project["optional-dependencies"].values() for req in group]
    return [*PYPROJECT["build-system"]["requires"], *project["dependencies"], *extras]


def test_every_requirement_is_pinned() -> None:
    pinned = pins()
    names = {canonical(re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0]) for requirement in declared()}
    assert sorted(names - pinned.keys()) == []
    assert {"pip", "setuptools", "ruff", "mypy"} <= pinned.keys()


def test_this_environment_is_what_the_pins_say() -> None:
    pinned = pins()
    for dist in metadata.distributions():
        name = canonical(dist.metadata["Name"])
        if name in pinned and name not in ("pip", "setuptools"):  # those two: the venv's, and the build's
            assert dist.version == pinned[name], f"{name} {dist.version} installed, {pinned[name]} pinned"


def test_the_install_step_uses_the_pins() -> None:
    makefile = (ROOT / "Makefile").read_text()
    installs = [line for line in makefile.splitlines() if "/pip install" in line and "$(BIN)" in line]
    assert installs and all("--constraint $(CONSTRAINTS)" in line for line in installs)
    assert any("--build-constraint $(CONSTRAINTS)" in line for line in installs)
    assert "CONSTRAINTS := constraints.txt" in makefile


def test_the_licence_is_an_spdx_expression() -> None:
    """A TOML table there is deprecated, and setuptools stops building it after 2027-02-18 (PEP 639)."""
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
