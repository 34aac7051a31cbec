"""The pure rules of shipping, custody and claims: every transition legal or illegal, every window edge ±1 ms."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from settlement.rules import DAY_MS, SettlementTerms
from settlement.shipping_rules import (
    CLAIM_STATUSES,
    TRACKING_STATES,
    ClaimKind,
    ClaimStatus,
    Coverage,
    RemovalStatus,
    RemovalStep,
    TrackingState,
    approval_cap,
    buyer_declared_value,
    claim_allows,
    claim_move_problem,
    coverage,
    custody_claim_problem,
    insured_at,
    loss_bearer,
    missing_evidence,
    parcel_values,
    photo_problem,
    removal_step_problem,
    shipment_claim_problem,
    shipment_state,
    tracking_allows,
    tracking_problem,
)

TERMS = SettlementTerms()
T = 1_700_000_000_000

# ---- tracking -----------------------------------------------------------------------------------------------

LEGAL_TRACKING = {
    ("created", "collected"),
    ("collected", "in_transit"),
    ("in_transit", "delivered_signed"),
    ("created", "exception"),
    ("collected", "exception"),
    ("in_transit", "exception"),
    ("exception", "in_transit"),
    ("exception", "lost"),
}


@pytest.mark.parametrize(("state", "to"), list(itertools.product(TRACKING_STATES, TRACKING_STATES)))
def test_every_tracking_transition(state: TrackingState, to: TrackingState) -> None:
    legal = (state, to) in LEGAL_TRACKING
    assert tracking_allows(state, to) is legal
    problem = tracking_problem(state, to, T, T)
    assert (problem is None) is legal
    if not legal:
        assert problem is not None and problem.field == "state"


def test_a_tracking_update_may_not_go_back_in_time() -> None:
    assert tracking_problem("created", "collected", T, T) is None
    problem = tracking_problem("created", "collected", T, T - 1)
    assert problem is not None and problem.field == "at_ms"


def test_insured_from_the_first_scan_to_the_signed_delivery() -> None:
    history: list[tuple[TrackingState, int]] = [("created", T), ("collected", T + 10), ("in_transit", T + 20),
                                                ("delivered_signed", T + 30)]  # fmt: skip
    cover = coverage(history)
    assert cover == Coverage(T + 10, T + 30)
    assert [insured_at(cover, at) for at in (T + 9, T + 10, T + 30, T + 31)] == [False, True, True, False]
    assert not insured_at(coverage([("created", T)]), T + 1)
    assert insured_at(coverage([("created", T), ("collected", T + 1), ("exception", T + 2)]), T + 10**9)


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ({"delivered_signed"}, "delivered_signed"),
        ({"delivered_signed", "in_transit"}, "in_transit"),
        ({"created", "in_transit"}, "created"),
        ({"delivered_signed", "exception"}, "exception"),
        ({"exception", "lost", "delivered_signed"}, "lost"),
    ],
)
def test_a_shipment_is_as_far_as_its_least_advanced_parcel(states: set[TrackingState], expected: str) -> None:
    assert shipment_state(states) == expected


@pytest.mark.parametrize(
    ("value", "cap", "parcels"),
    [
        (10_000_000, 10_000_000, [10_000_000]),  # at the cap: one parcel
        (10_000_001, 10_000_000, [5_000_001, 5_000_000]),  # one over: two
        (20_000_000, 10_000_000, [10_000_000, 10_000_000]),
        (20_000_001, 10_000_000, [6_666_667, 6_666_667, 6_666_667]),
        (1, 10_000_000, [1]),
    ],
)
def test_parcels_above_the_cap(value: int, cap: int, parcels: list[int]) -> None:
    assert parcel_values(value, cap) == parcels


@given(st.integers(1, 10**13), st.integers(1, 200))
def test_parcels_add_up_and_stay_within_the_cap(value: int, about: int) -> None:
    cap = max(1, value // about)  # about `about` parcels: any cap, without lists of millions
    parcels = parcel_values(value, cap)
    assert sum(parcels) == value and max(parcels) <= cap and max(parcels) - min(parcels) <= 1
    assert len(parcels) == -(-value // cap)


def test_the_cap_must_be_positive() -> None:
    with pytest.raises(ValueError):
        parcel_values(100, 0)


def test_a_default_parcel_cap_of_100_000() -> None:
    assert TERMS.parcel_cap == 10_000_000 and buyer_declared_value(10_000_000, 2_600_000) == 12_600_000


# ---- claim windows ------------------------------------------------------------------------------------------

SCHEDULED = T + 3 * DAY_MS
DELIVERED = Coverage(T + 1, T + 2 * DAY_MS)
IN_TRANSIT = Coverage(T + 1, None)
NEVER_COLLECTED = Coverage(None, None)


@pytest.mark.parametrize(
    ("kind", "cover", "at_ms", "field"),
    [
        # damage: within 30 days of the signed delivery, both ends included
        ("damage", DELIVERED, DELIVERED.delivered_ms - 1, "at_ms"),  # type: ignore[operator]
        ("damage", DELIVERED, DELIVERED.delivered_ms, None),
        ("damage", DELIVERED, DELIVERED.delivered_ms + 30 * DAY_MS, None),  # type: ignore[operator]
        ("damage", DELIVERED, DELIVERED.delivered_ms + 30 * DAY_MS + 1, "at_ms"),  # type: ignore[operator]
        ("damage", IN_TRANSIT, SCHEDULED, "kind"),  # not delivered: a loss, not damage
        # loss: from 15 days after the scheduled delivery up to 45 days, both ends included
        ("loss", IN_TRANSIT, SCHEDULED + 15 * DAY_MS - 1, "at_ms"),
        ("loss", IN_TRANSIT, SCHEDULED + 15 * DAY_MS, None),
        ("loss", IN_TRANSIT, SCHEDULED + 45 * DAY_MS, None),
        ("loss", IN_TRANSIT, SCHEDULED + 45 * DAY_MS + 1, "at_ms"),
        ("loss", DELIVERED, SCHEDULED + 20 * DAY_MS, "kind"),  # delivered and signed for
        ("loss", NEVER_COLLECTED, SCHEDULED + 20 * DAY_MS, "kind"),  # never insured
        # theft: from the first scan up to 45 days after the scheduled delivery
        ("theft", IN_TRANSIT, IN_TRANSIT.collected_ms - 1, "at_ms"),  # type: ignore[operator]
        ("theft", IN_TRANSIT, IN_TRANSIT.collected_ms, None),
        ("theft", IN_TRANSIT, SCHEDULED + 45 * DAY_MS, None),
        ("theft", IN_TRANSIT, SCHEDULED + 45 * DAY_MS + 1, "at_ms"),
        ("theft", DELIVERED, SCHEDULED, "kind"),
        ("theft", NEVER_COLLECTED, SCHEDULED, "kind"),
    ],
)
def test_shipment_claim_windows(kind: ClaimKind, cover: Coverage, at_ms: int, field: str | None) -> None:
    problem = shipment_claim_problem(kind, cover, SCHEDULED, at_ms, TERMS)
    assert (problem.field if problem else None) == field


def test_the_windows_are_settings() -> None:
    terms = SettlementTerms(missing_claim_from_days=10, missing_claim_until_days=20, damage_claim_days=5)
    assert shipment_claim_problem("loss", IN_TRANSIT, SCHEDULED, SCHEDULED + 10 * DAY_MS, terms) is None
    assert shipment_claim_problem("loss", IN_TRANSIT, SCHEDULED, SCHEDULED + 20 * DAY_MS + 1, terms) is not None
    assert shipment_claim_problem("damage", DELIVERED, SCHEDULED, T + 7 * DAY_MS + 1, terms) is not None


STARTED, COMPLETED = T, T + DAY_MS


@pytest.mark.parametrize(
    ("kind", "started", "completed", "at_ms", "field"),
    [
        ("damage", STARTED, COMPLETED, STARTED - 1, "at_ms"),
        ("damage", STARTED, COMPLETED, STARTED, None),
        ("damage", STARTED, COMPLETED, COMPLETED + 30 * DAY_MS, None),
        ("damage", STARTED, COMPLETED, COMPLETED + 30 * DAY_MS + 1, "at_ms"),
        ("damage", STARTED, None, STARTED + 30 * DAY_MS, None),  # the work still goes on: counted from its start
        ("damage", STARTED, None, STARTED + 30 * DAY_MS + 1, "at_ms"),
        ("loss", STARTED, COMPLETED, COMPLETED + 45 * DAY_MS, None),
        ("loss", STARTED, COMPLETED, COMPLETED + 45 * DAY_MS + 1, "at_ms"),
        ("theft", STARTED, COMPLETED, STARTED - 1, "at_ms"),
        ("theft", STARTED, COMPLETED, STARTED, None),
        ("damage", None, None, STARTED, "removal"),  # never in hand: no custody
    ],
)
def test_custody_claim_windows(
    kind: ClaimKind, started: int | None, completed: int | None, at_ms: int, field: str | None
) -> None:
    problem = custody_claim_problem(kind, started, completed, at_ms, TERMS)
    assert (problem.field if problem else None) == field


def test_a_claims_window_is_named_as_a_date_people_read() -> None:
    started = 1_767_225_600_000  # 2026-01-01 00:00 UTC
    early = custody_claim_problem("damage", started, None, started - 1, TERMS)
    assert early is not None and "opens on 2026-01-01 00:00 UTC (1767225600000 ms)" in early.message
    late = custody_claim_problem("damage", started, started, started + 10_000 * DAY_MS, TERMS)
    assert late is not None and "closed on 2026-" in late.message and "UTC" in late.message


# ---- evidence, who bore the loss, the cap -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "have", "missing"),
    [
        ("loss", set(), ["proof_of_value", "photo"]),
        ("loss", {"invoice", "photo"}, []),
        ("damage", {"appraisal", "photo"}, []),
        ("damage", {"grading_report"}, ["photo"]),
        ("damage", {"photo", "other"}, ["proof_of_value"]),
        ("theft", {"invoice", "photo"}, ["police_report"]),
        ("theft", {"invoice", "photo", "police_report"}, []),
        ("loss", {"police_report", "photo"}, ["proof_of_value"]),  # a police report is not proof of value
    ],
)
def test_evidence_each_kind_needs(kind: ClaimKind, have: set[str], missing: list[str]) -> None:
    assert missing_evidence(kind, have) == missing


@pytest.mark.parametrize(
    ("purpose", "paid", "bearer"),
    [
        ("to_buyer", True, "buyer"),
        ("to_buyer", False, "consignor"),
        ("to_consignor", True, "consignor"),
        ("to_lab", False, "consignor"),
        ("from_lab", False, "consignor"),
        (None, False, "consignor"),  # custody
    ],
)
def test_who_bore_the_loss(purpose: str | None, paid: bool, bearer: str) -> None:
    assert loss_bearer(purpose, paid) == bearer  # type: ignore[arg-type]


def test_the_approval_cap() -> None:
    assert approval_cap(1_000, 0) == 1_000
    assert approval_cap(1_000, 400) == 600
    assert approval_cap(1_000, 1_500) == 0


# ---- claim states -------------------------------------------------------------------------------------------

LEGAL_CLAIM = {
    ("filed", "documents_requested"),
    ("filed", "under_review"),
    ("filed", "denied"),
    ("documents_requested", "under_review"),
    ("documents_requested", "denied"),
    ("under_review", "documents_requested"),
    ("under_review", "approved"),
    ("under_review", "denied"),
    ("approved", "paid"),
}


@pytest.mark.parametrize(("status", "to"), list(itertools.product(CLAIM_STATUSES, CLAIM_STATUSES)))
def test_every_claim_transition(status: ClaimStatus, to: ClaimStatus) -> None:
    legal = (status, to) in LEGAL_CLAIM
    assert claim_allows(status, to) is legal
    problem = claim_move_problem(status, to, missing=[], amount=100, cap=100, reason="why")
    assert (problem is None) is legal
    if not legal:
        assert problem is not None and problem.field == "status"


@pytest.mark.parametrize(
    ("status", "to", "kwargs", "field"),
    [
        ("filed", "under_review", {"missing": ["photo"]}, "evidence"),
        ("documents_requested", "under_review", {"missing": ["police_report"]}, "evidence"),
        ("under_review", "approved", {"amount": 1_001, "cap": 1_000}, "amount"),
        ("under_review", "approved", {"amount": 1_000, "cap": 1_000}, None),
        ("under_review", "approved", {"amount": 0, "cap": 1_000}, "amount"),
        ("under_review", "approved", {"amount": None, "cap": 1_000}, "amount"),
        ("filed", "denied", {"reason": " "}, "reason"),
        ("under_review", "denied", {"reason": "no proof"}, None),
    ],
)
def test_claim_guards(status: ClaimStatus, to: ClaimStatus, kwargs: dict[str, object], field: str | None) -> None:
    problem = claim_move_problem(status, to, **kwargs)  # type: ignore[arg-type]
    assert (problem.field if problem else None) == field


# ---- setting removal ----------------------------------------------------------------------------------------

REMOVAL_STATUSES: tuple[RemovalStatus, ...] = ("requested", "consented", "started", "completed")
REMOVAL_STEPS: tuple[RemovalStep, ...] = ("consent", "start", "complete")
LEGAL_REMOVAL = {("requested", "consent"), ("consented", "start"), ("started", "complete")}


@pytest.mark.parametrize(("status", "step"), list(itertools.product(REMOVAL_STATUSES, REMOVAL_STEPS)))
def test_every_removal_step(status: RemovalStatus, step: RemovalStep) -> None:
    problem = removal_step_problem(status, step, {"before", "after"})
    assert (problem is None) is ((status, step) in LEGAL_REMOVAL)


@pytest.mark.parametrize(
    ("status", "step", "photos", "field"),
    [
        ("requested", "start", {"before"}, "consent"),  # no consent: refused
        ("consented", "start", set(), "photos"),  # no photo before: refused
        ("consented", "start", {"before"}, None),
        ("started", "complete", {"before"}, "photos"),
        ("started", "complete", {"after"}, "photos"),
        ("started", "complete", {"before", "after"}, None),
    ],
)
def test_removal_needs_consent_and_both_photos(
    status: RemovalStatus, step: RemovalStep, photos: set[str], field: str | None
) -> None:
    problem = removal_step_problem(status, step, photos)
    assert (problem.field if problem else None) == field


@pytest.mark.parametrize(
    ("status", "before_ok", "after_ok"),
    [("requested", True, False), ("consented", True, False), ("started", False, True), ("completed", False, False)],
)
def test_which_photo_belongs_when(status: RemovalStatus, before_ok: bool, after_ok: bool) -> None:
    assert (photo_problem(status, "before") is None) is before_ok
    assert (photo_problem(status, "after") is None) is after_ok
