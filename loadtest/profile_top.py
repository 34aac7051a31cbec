"""The top frames of a py-spy profile (`--format raw`, collapsed stacks), as shares of all samples.

    python -m loadtest.profile_top loadtest/results/raw/gateway.collapsed [--top 30] [--match store.py]

Each line of a collapsed file is `frame;frame;...;leaf count`. Self time is charged to the leaf; inclusive
time to every distinct frame of the stack (a recursive frame counts once). Frames are named without their
line numbers, so one function is one row.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

_LINE = re.compile(r"^(.*) (\d+)$")
_LINENO = re.compile(r":\d+\)$")


def frame_name(frame: str) -> str:
    """`f (path/to/mod.py:123)` -> `f (path/to/mod.py)`."""
    return _LINENO.sub(")", frame.strip())


def tally(lines: list[str]) -> tuple[int, Counter[str], Counter[str]]:
    """Total samples, and per frame its self and inclusive samples."""
    total, own, inclusive = 0, Counter[str](), Counter[str]()
    for line in lines:
        found = _LINE.match(line.strip())
        if found is None:
            continue
        stack, count = found.group(1).split(";"), int(found.group(2))
        names = [frame_name(frame) for frame in stack]
        total += count
        own[names[-1]] += count
        for name in set(names):
            inclusive[name] += count
    return total, own, inclusive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.profile_top", description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--match", default="", help="only frames whose name contains this")
    options = parser.parse_args(argv)
    total, own, inclusive = tally(options.path.read_text().splitlines())
    if not total:
        print("no samples")
        return 1
    print(f"{total} samples")
    for title, counts in (("self", own), ("inclusive", inclusive)):
        print(f"\n-- {title} --")
        shown = [(name, n) for name, n in counts.most_common() if options.match in name][: options.top]
        for name, n in shown:
            print(f"{100 * n / total:6.1f} %  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
