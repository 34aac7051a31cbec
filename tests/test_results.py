"""auction.results, rule by rule: a lot's result as the record re-derives it, against settlement's invoice lines and
passed lots (the pure half of `auction audit replay`)."""

from __future__ import annotations

import msgspec
import pytest

from auction.engine.lifecycle import Status
from auction.engine.lot import new_lot
from auction.results import Bidding, Line, LotResult, Passed, differences
from tests.lots import terms_for

W, U, X = 7, 8, 9  # the winner, the underbidder, a stranger to the lot
BIDDING = {W: Bidding(5_000, 6_000), U: Bidding(4_500, 4_500)}  # U's highest bid 4,500; W's maximum 6,000


def lot(status: Status, leader: int | None = None, price: int = 0, sales: tuple[tuple[int, int], ...] = (),
        passed_at: int | None = None) -> LotResult:  # fmt: skip
    state = msgspec.structs.replace(new_lot(terms_for(1, 1)), status=status, leader=leader, price=price)
    return LotResult(state, sales, passed_at, BIDDING)


SOLD = lot("sold", W, 5_000, sales=((W, 5_000),))
PASSED = lot("passed", passed_at=4_500)
REOPENED_AND_SOLD_AGAIN = lot("sold", U, 6_000, sales=((W, 5_000), (U, 6_000)))


def line(buyer: int, hammer: int, source: str = "hammer", active: bool = True, n: int = 1) -> Line:
    return Line(n, 1, buyer, hammer, source, active)


CASES = [
    ("sold and billed at its hammer", SOLD, [line(W, 5_000)], [], []),
    ("sold, billed at another hammer", SOLD, [line(W, 5_100)],
     [], ["sold to buyer 7 at 5000, but invoice line 1 bills buyer 7 at 5100 (hammer)"]),
    ("sold, billed to another buyer", SOLD, [line(U, 5_000)],
     [], ["sold to buyer 7 at 5000, but invoice line 1 bills buyer 8 at 5000 (hammer)"]),
    ("sold without a bill", SOLD, [], [], ["sold to buyer 7 at 5000, but no invoice line bills it"]),
    ("defaulted, second chance at the underbidder's own bid", SOLD,
     [line(W, 5_000, active=False), line(U, 4_500, "second_chance", n=2)], [], []),
    ("defaulted, second chance at another amount", SOLD,
     [line(W, 5_000, active=False), line(U, 4_000, "second_chance", n=2)],
     [], ["sold to buyer 7 at 5000, but invoice line 2 bills buyer 8 at 4000 (second_chance): that buyer's highest "
          "bid on the record is 4500"]),
    ("a second chance to someone who never bid", SOLD,
     [line(W, 5_000, active=False), line(X, 4_500, "second_chance", n=2)],
     [], ["sold to buyer 7 at 5000, but invoice line 2 bills buyer 9 at 4500 (second_chance): that buyer never bid "
          "on it"]),
    ("a second chance while the winner's line stands", SOLD,
     [line(W, 5_000), line(U, 4_500, "second_chance", n=2)],
     [], ["sold to buyer 7 at 5000, and its buyer's line still stands, but invoice line 2 bills buyer 8 at 4500 "
          "(second_chance)"]),
    ("re-awarded within the maximum", SOLD,
     [line(W, 5_000, active=False), line(U, 4_500, "reaward", n=2)], [], []),
    ("re-awarded above the maximum", SOLD, [line(W, 5_000, active=False), line(U, 4_600, "reaward", n=2)],
     [], ["sold to buyer 7 at 5000, but invoice line 2 bills buyer 8 at 4600 (reaward): above that buyer's maximum, "
          "4500"]),
    ("sold, and a post-sale line", SOLD, [line(W, 5_000, active=False), line(U, 4_500, "post_sale", n=2)],
     [], ["sold to buyer 7 at 5000, but invoice line 2 bills buyer 8 at 4500 (post_sale)"]),
    ("sold, yet held as passed", SOLD, [line(W, 5_000)], [Passed(1, 0, "post_sale")],
     ["sold to buyer 7 at 5000, but settlement holds it as passed (post_sale)"]),
    ("defaulted and sent back to the post-sale path", SOLD, [line(W, 5_000, active=False)],
     [Passed(1, 5_000, "relist")], []),
    ("passed and held as passed", PASSED, [], [Passed(1, 4_500, "post_sale")], []),
    ("passed, not held as passed", PASSED, [], [], ["passed on the record, but settlement holds no passed lot for it"]),
    ("a bill for a passed lot", PASSED, [line(W, 4_500)], [Passed(1, 4_500, "post_sale")],
     ["passed on the record, but invoice line 1 bills buyer 7 at 4500 (hammer)"]),
    ("passed at another highest bid", PASSED, [], [Passed(1, 4_000, "returned")],
     ["passed at a highest bid of 4500, settlement says 4000"]),
    ("passed, sold in its window", PASSED, [line(U, 4_600, "post_sale")], [Passed(1, 4_500, "sold")], []),
    ("passed, a post-sale line but not sold in its window", PASSED, [line(U, 4_600, "post_sale")],
     [Passed(1, 4_500, "returning")],
     ["passed, and settlement holds it as returning, but invoice line 1 bills buyer 8 at 4600 (post_sale)"]),
    ("reopened and sold again, the first bill voided", REOPENED_AND_SOLD_AGAIN,
     [line(W, 5_000, active=False), line(U, 6_000, n=2)], [Passed(1, 0, "reopened")], []),
    ("a voided bill for a close never recorded", REOPENED_AND_SOLD_AGAIN,
     [line(W, 4_000, active=False), line(U, 6_000, n=2)],
     [], ["sold to buyer 8 at 6000, but invoice line 1 (voided) bills buyer 7 at 4000 (hammer)"]),
    ("withdrawn and billed", lot("withdrawn"), [line(W, 5_000)], [Passed(1, 0, "post_sale")],
     ["withdrawn on the record, but invoice line 1 bills buyer 7 at 5000 (hammer)",
      "withdrawn on the record, but settlement holds it as passed (post_sale)"]),
    ("still open, nothing billed", lot("open", W, 5_000), [], [], []),
    ("still open, billed already", lot("open", W, 5_000), [line(W, 5_000)],
     [], ["open on the record, but invoice line 1 bills buyer 7 at 5000 (hammer)"]),
]  # fmt: skip


@pytest.mark.parametrize(("case", "result", "lines", "passed", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_rule(case: str, result: LotResult, lines: list[Line], passed: list[Passed], expected: list[str]) -> None:
    found = differences({1: result}, lines, passed)
    assert [problem.message for problem in found] == expected
    assert all(problem.lot == 1 for problem in found)


def test_what_is_billed_or_passed_for_a_lot_the_record_lacks() -> None:
    found = differences({1: SOLD}, [line(W, 5_000), Line(2, 2, U, 900, "hammer", True)], [Passed(3, 0, "post_sale")])
    assert [(p.lot, p.message) for p in found] == [
        (2, "invoice line 2 bills buyer 8 at 900 (hammer), but the record has no such lot"),
        (3, "settlement holds it as passed, but the record has no such lot"),
    ]
