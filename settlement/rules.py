"""The money and the rules of settlement, as pure functions: no database, no clock, no randomness.

Every amount is an integer in minor units. Each charge is computed exactly and rounded once, half up, with the
same `round_half_up` the premium uses; the premium itself is `auction.engine.premium.premium`, the one function
the bidding core also shows bidders, so an invoice can never disagree with the total a bidder confirmed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import msgspec

from auction.engine.lot import LotTerms, decide, evolve, new_lot
from auction.engine.messages import (
    AnyEvent,
    BidAccepted,
    BidsCancelled,
    CloseLot,
    LotPassed,
    LotSold,
    ProxyBidPlaced,
    Rejected,
)
from auction.engine.premium import BASIS_POINTS, TRADE_RATE, PremiumSchedule, premium, round_half_up
from auction.engine.record import live_bids

SECOND_MS = 1000
HOUR_MS = 3600 * SECOND_MS
DAY_MS = 24 * HOUR_MS
MONTH_MS = 30 * DAY_MS  # interest is quoted per month; a month is 30 days here (docs/SETTLEMENT.md)
YEAR_MS = 365 * DAY_MS


class SettlementTerms(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Everything settlement needs to know about a sale beyond its premium schedule; DOMAIN.md's defaults."""

    due_days: int = 7
    interest_bp_per_month: int = 100  # 1 % a month, simple interest on what is overdue
    reminder_days: tuple[int, ...] = (1, 7)  # reminders this many days after the due date
    default_after_days: int = 14  # the buyer is in default this long after the due date
    second_chance_window_ms: int = 48 * HOUR_MS
    commission_bp: int = 1000  # the consignor's commission on the hammer
    consignor_lot_fee: int = 0  # per sold lot, charged to the consignor (insurance, photography, ...)
    hold_days: int = 5  # a consignor is paid this long after the buyer's payment cleared
    shipping_per_lot: int = 0  # charged to the buyer per lot
    insurance_bp: int = 0  # charged to the buyer on the hammer, for transit insurance
    tax_bp: int = 0  # on hammer + premium + shipping + insurance, where the sale's jurisdiction taxes it
    trade_buyers: tuple[int, ...] = ()  # buyer companies that pay the trade premium
    trade_premium: PremiumSchedule = TRADE_RATE
    post_sale_window_ms: int = 72 * HOUR_MS
    unsold_fee_bp: int = 0  # charged to the consignor on the reserve of a stone that comes back unsold
    return_shipping: int = 0  # the cost of an insured return, charged to the consignor
    strikes_to_suspend: int = 2
    strike_window_ms: int = YEAR_MS
    # shipping and insurance claims (settlement/shipping_rules.py)
    parcel_cap: int = 10_000_000  # the most one insured parcel may declare (100,000.00); more goes in several
    transit_days: int = 3  # a shipment's scheduled delivery is this long after it is booked
    damage_claim_days: int = 30  # damage must be reported within this long of delivery (or of custody)
    missing_claim_from_days: int = 15  # a missing parcel may be claimed from this long after its scheduled delivery
    missing_claim_until_days: int = 45  # ... and until this long after it

    def __post_init__(self) -> None:
        rates = (self.interest_bp_per_month, self.commission_bp, self.insurance_bp, self.tax_bp, self.unsold_fee_bp)
        if any(r < 0 or r > BASIS_POINTS for r in rates):
            raise ValueError("rates are basis points between 0 and 10000")
        if min(self.due_days, self.hold_days, self.default_after_days, self.shipping_per_lot) < 0:
            raise ValueError("days and amounts may not be negative")


DEFAULT_TERMS = SettlementTerms()


def bp_of(amount: int, rate_bp: int) -> int:
    """`rate_bp` basis points of `amount`, rounded once, half up."""
    return round_half_up(amount * rate_bp, BASIS_POINTS)


class LotCharges(msgspec.Struct, frozen=True):
    """What one lot costs its buyer and what its consignor gets."""

    hammer: int
    premium: int
    shipping: int
    insurance: int
    tax: int
    commission: int
    consignor_fees: int

    @property
    def total(self) -> int:
        return self.hammer + self.premium + self.shipping + self.insurance + self.tax

    @property
    def consignor_net(self) -> int:
        return self.hammer - self.commission - self.consignor_fees


def premium_schedule_for(buyer: int, schedule: PremiumSchedule, terms: SettlementTerms) -> PremiumSchedule:
    return terms.trade_premium if buyer in terms.trade_buyers else schedule


def lot_charges(hammer: int, buyer: int, schedule: PremiumSchedule, terms: SettlementTerms) -> LotCharges:
    prem = premium(hammer, premium_schedule_for(buyer, schedule, terms))
    insurance = bp_of(hammer, terms.insurance_bp)
    tax = bp_of(hammer + prem + terms.shipping_per_lot + insurance, terms.tax_bp)
    return LotCharges(
        hammer=hammer,
        premium=prem,
        shipping=terms.shipping_per_lot,
        insurance=insurance,
        tax=tax,
        commission=bp_of(hammer, terms.commission_bp),
        consignor_fees=terms.consignor_lot_fee,
    )


def late_interest(principal: int, payments: Sequence[tuple[int, int]], due_ms: int, now_ms: int, rate_bp: int) -> int:
    """Simple interest on what was overdue, from the due date to `now_ms`: exact, rounded once half up.

    `principal` is what the invoice charges; `payments` are (at_ms, amount). The overdue balance at any moment
    is the principal less payments made by then; interest is the integral of it over time at `rate_bp` a month.
    """
    if now_ms <= due_ms or rate_bp == 0:
        return 0
    balance = principal - sum(amount for at, amount in payments if at <= due_ms)
    exact, since = 0, due_ms
    for at, amount in sorted(p for p in payments if due_ms < p[0] <= now_ms):
        exact += max(balance, 0) * (at - since)
        balance, since = balance - amount, at
    exact += max(balance, 0) * (now_ms - since)
    return round_half_up(exact * rate_bp, BASIS_POINTS * MONTH_MS)


InvoiceStage = Literal["not_due", "due", "reminder", "default"]


def reminders_due(due_ms: int, now_ms: int, terms: SettlementTerms) -> int:
    """How many reminders should have gone out by `now_ms`."""
    return sum(1 for days in terms.reminder_days if now_ms >= due_ms + days * DAY_MS)


def in_default(due_ms: int, now_ms: int, terms: SettlementTerms) -> bool:
    return now_ms >= due_ms + terms.default_after_days * DAY_MS


def payout_release_ms(paid_ms: int, terms: SettlementTerms) -> int:
    """When a consignor may be paid for a lot whose buyer's payment cleared at `paid_ms`."""
    return paid_ms + terms.hold_days * DAY_MS


def should_suspend(strike_times: Sequence[int], now_ms: int, terms: SettlementTerms) -> bool:
    """Two strikes (by default) within the last twelve months suspend a buyer until an operator reviews."""
    recent = [t for t in strike_times if now_ms - terms.strike_window_ms < t <= now_ms]
    return len(recent) >= terms.strikes_to_suspend


def forfeit(deposit_held: int, loss: int) -> int:
    """The part of a defaulter's deposit that pays the house's loss first."""
    return max(0, min(deposit_held, loss))


def unsold_charges(reserve: int, terms: SettlementTerms) -> tuple[int, int]:
    """(unsold fee, return shipping) charged to a consignor whose stone comes back."""
    return bp_of(reserve, terms.unsold_fee_bp), terms.return_shipping


# ---- recomputing a lot from its record -----------------------------------------------------------------------


class Underbidder(msgspec.Struct, frozen=True):
    bidder: int
    paddle: int
    last_bid: int  # the highest amount the engine showed for them: their own last bid on the lot


def underbidders(events: Sequence[AnyEvent], excluding: int) -> list[Underbidder]:
    """Everyone but `excluding` who bid on the lot, highest last bid first (ties: who got there first). A bidder
    whose bids a BidsCancelled struck (a suspended defaulter) is no underbidder, unless they bid again after."""
    best: dict[int, tuple[int, int, int]] = {}  # bidder -> (amount, -order, paddle)
    for order, event in enumerate(events):
        if isinstance(event, BidsCancelled):
            best.pop(event.bidder, None)
        elif isinstance(event, BidAccepted | ProxyBidPlaced) and event.bidder != excluding:
            current = best.get(event.bidder)
            if current is None or event.amount > current[0]:
                best[event.bidder] = (event.amount, -order, event.paddle)
    ranked = sorted(best.items(), key=lambda item: (item[1][0], item[1][1]), reverse=True)
    return [Underbidder(bidder, paddle, amount) for bidder, (amount, _, paddle) in ranked]


def reaward(terms: LotTerms, events: Sequence[AnyEvent], striking: int | frozenset[int]) -> LotSold | LotPassed:
    """The lot's result had `striking` (a bidder, or several) never bid: the recorded bids of everyone else
    folded through the engine's own `decide`, then closed when it originally closed (or at its recomputed end,
    if later).

    Bids a BidsCancelled struck stay struck (`live_bids`). A bid the engine now refuses (say, a plain bid from
    who has become the leader) is dropped, as it would have been refused at the time.
    """
    struck = striking if isinstance(striking, frozenset) else frozenset({striking})
    state = new_lot(terms)
    close_at = max((e.at_ms for e in events if isinstance(e, LotSold | LotPassed)), default=terms.end_ms)
    for bid in live_bids(events):
        if bid.bidder in struck:
            continue
        decision = decide(state, bid)
        if isinstance(decision, Rejected):
            continue
        for event in decision:
            state = evolve(state, event)
    result = decide(state, CloseLot(at_ms=max(close_at, state.end_ms)))
    if isinstance(result, Rejected):  # pragma: no cover - a lot that was never opened has no bids and passes
        return LotPassed(seq=state.seq + 1, at_ms=close_at, highest_bid=0)
    final = result[-1]
    assert isinstance(final, LotSold | LotPassed)
    return final


def split_parcels(value: int, cap: int) -> list[int]:
    """A declared value cut into parcels of at most `cap`, as even as possible (largest first)."""
    if value <= 0:
        return []
    count = -(-value // cap)
    base, extra = divmod(value, count)
    return [base + 1] * extra + [base] * (count - extra)
