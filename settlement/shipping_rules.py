"""The rules of shipments, custody and insurance claims, as pure functions and tables: no database, no clock.

A parcel's tracking, as one transition table (like auction/engine/lifecycle.py):

    created -> collected -> in_transit -> delivered_signed
    created | collected | in_transit -> exception -> in_transit | lost

A stone is insured from the parcel's first scan (collected) to its signed delivery. A claim:

    filed -> documents_requested <-> under_review -> approved -> paid
    filed -> under_review
    filed | documents_requested | under_review -> denied (with a reason)

Moving to under_review needs the evidence the kind of claim requires; approval is capped at the declared value of
what was lost, less what other claims on the same thing were already approved for. Taking a stone out of its
setting (custody):

    requested -consent-> consented -start (photo before)-> started -complete (both photos)-> completed

Each rule answers with a `Problem` naming the field at fault, or None; the database half turns a problem into a
refusal.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Literal

import msgspec

from settlement.rules import DAY_MS, SettlementTerms, split_parcels

Purpose = Literal["to_buyer", "to_consignor", "to_lab", "from_lab"]
PURPOSES: tuple[Purpose, ...] = ("to_buyer", "to_consignor", "to_lab", "from_lab")

TrackingState = Literal["created", "collected", "in_transit", "delivered_signed", "exception", "lost"]
TRACKING_STATES: tuple[TrackingState, ...] = ("created", "collected", "in_transit", "delivered_signed", "exception",
                                              "lost")  # fmt: skip
TRACKING_FINAL: frozenset[TrackingState] = frozenset({"delivered_signed", "lost"})

ClaimKind = Literal["loss", "theft", "damage"]
CLAIM_KINDS: tuple[ClaimKind, ...] = ("loss", "theft", "damage")
ClaimStatus = Literal["filed", "documents_requested", "under_review", "approved", "paid", "denied"]
CLAIM_STATUSES: tuple[ClaimStatus, ...] = ("filed", "documents_requested", "under_review", "approved", "paid", "denied")
CLAIM_OPEN: frozenset[ClaimStatus] = frozenset({"filed", "documents_requested", "under_review"})

EvidenceKind = Literal["invoice", "appraisal", "grading_report", "photo", "police_report", "other"]
EVIDENCE_KINDS: tuple[EvidenceKind, ...] = ("invoice", "appraisal", "grading_report", "photo", "police_report", "other")
PROOF_OF_VALUE: frozenset[EvidenceKind] = frozenset({"invoice", "appraisal", "grading_report"})

Bearer = Literal["buyer", "consignor"]


class Problem(msgspec.Struct, frozen=True):
    """Why a rule says no: the input field at fault and a sentence for the operator."""

    field: str
    message: str


# ---- tracking -----------------------------------------------------------------------------------------------

_TRACKING_MOVES: dict[TrackingState, frozenset[TrackingState]] = {
    "created": frozenset({"collected", "exception"}),
    "collected": frozenset({"in_transit", "exception"}),
    "in_transit": frozenset({"delivered_signed", "exception"}),
    "exception": frozenset({"in_transit", "lost"}),
    "delivered_signed": frozenset(),
    "lost": frozenset(),
}


def tracking_allows(state: TrackingState, to: TrackingState) -> bool:
    return to in _TRACKING_MOVES[state]


def tracking_problem(state: TrackingState, to: TrackingState, last_at_ms: int, at_ms: int) -> Problem | None:
    """Whether a parcel that is `state` since `last_at_ms` may become `to` at `at_ms`."""
    if not tracking_allows(state, to):
        return Problem("state", f"a parcel that is {state} cannot become {to}")
    if at_ms < last_at_ms:
        return Problem("at_ms", f"the update at {at_ms} is earlier than the parcel's last one at {last_at_ms}")
    return None


class Coverage(msgspec.Struct, frozen=True):
    """When a parcel was insured: from its first scan to its signed delivery (None: not yet)."""

    collected_ms: int | None
    delivered_ms: int | None


def coverage(history: Sequence[tuple[TrackingState, int]]) -> Coverage:
    """The insured period from a parcel's history of (state, at_ms)."""
    collected = next((at for state, at in history if state == "collected"), None)
    delivered = next((at for state, at in history if state == "delivered_signed"), None)
    return Coverage(collected, delivered)


def insured_at(cover: Coverage, at_ms: int) -> bool:
    if cover.collected_ms is None or at_ms < cover.collected_ms:
        return False
    return cover.delivered_ms is None or at_ms <= cover.delivered_ms


# A shipment is as far along as its least advanced parcel; a lost or troubled parcel marks the whole shipment.
_SHIPMENT_ORDER: tuple[TrackingState, ...] = ("lost", "exception", "created", "collected", "in_transit",
                                              "delivered_signed")  # fmt: skip


def shipment_state(parcel_states: Collection[TrackingState]) -> TrackingState:
    return next(state for state in _SHIPMENT_ORDER if state in parcel_states)


def scheduled_delivery(booked_ms: int, terms: SettlementTerms) -> int:
    return booked_ms + terms.transit_days * DAY_MS


def parcel_values(declared_value: int, cap: int) -> list[int]:
    """A declared value split into insured parcels of at most `cap` each (settlement.rules.split_parcels)."""
    if cap <= 0:
        raise ValueError("the per-parcel cap must be positive")
    return split_parcels(declared_value, cap)


def buyer_declared_value(hammer: int, premium: int) -> int:
    """What a stone shipped to its buyer is declared at: what the buyer paid for the stone itself.

    Hammer plus premium is the price of replacing it at auction; shipping and insurance are services and tax is
    recoverable, so neither is part of the stone's value (docs/SETTLEMENT.md, "Shipments and claims").
    """
    return hammer + premium


# ---- claims: who, when, what evidence -----------------------------------------------------------------------


def loss_bearer(purpose: Purpose | None, buyer_paid: bool) -> Bearer:
    """Who bore a loss: the buyer once they have paid for a stone on its way to them; otherwise the consignor
    (a return, a lab trip, the house's custody, or a buyer who has not paid and so never owned the risk)."""
    return "buyer" if purpose == "to_buyer" and buyer_paid else "consignor"


def shipment_claim_problem(kind: ClaimKind, cover: Coverage, scheduled_ms: int, at_ms: int,
                           terms: SettlementTerms) -> Problem | None:  # fmt: skip
    """Whether a claim of `kind` on a parcel (or shipment) may be filed at `at_ms`.

    damage  on a delivered parcel, within `damage_claim_days` of the signed delivery (both ends included)
    loss    a parcel that was collected and never delivered, from `missing_claim_from_days` to
            `missing_claim_until_days` after its scheduled delivery (both ends included)
    theft   a parcel that was collected and never delivered, reported at once (with a police report) from the
            first scan up to the same outer limit as a loss: a theft is known when it happens, so no wait
    """
    if kind == "damage":
        if cover.delivered_ms is None:
            return Problem("kind", "damage is claimed on a delivered parcel; a parcel not delivered is a loss")
        return _window(cover.delivered_ms, cover.delivered_ms + terms.damage_claim_days * DAY_MS, at_ms, "delivery")
    if cover.collected_ms is None:
        return Problem("kind", "the parcel was never collected, so it was never insured")
    if cover.delivered_ms is not None:
        return Problem("kind", f"the parcel was delivered and signed for; a {kind} claim needs one that was not")
    until = scheduled_ms + terms.missing_claim_until_days * DAY_MS
    if kind == "theft":
        return _window(cover.collected_ms, until, at_ms, "collection")
    return _window(scheduled_ms + terms.missing_claim_from_days * DAY_MS, until, at_ms, "scheduled delivery")


def custody_claim_problem(kind: ClaimKind, started_ms: int | None, completed_ms: int | None, at_ms: int,
                          terms: SettlementTerms) -> Problem | None:  # fmt: skip
    """Whether a claim against the house's custody of a stone (a setting removal) may be filed at `at_ms`.

    The risk starts when the work starts. Damage: within `damage_claim_days` of the work's end (or of its start,
    while it goes on); loss or theft: within `missing_claim_until_days` of the same moment (the house knows at
    once where the stone is, so there is nothing to wait for).
    """
    if started_ms is None:
        return Problem("removal", "the stone was never taken in hand for removal, so custody never began")
    base = completed_ms if completed_ms is not None else started_ms
    days = terms.damage_claim_days if kind == "damage" else terms.missing_claim_until_days
    return _window(started_ms, base + days * DAY_MS, at_ms, "custody")


def _window(opens_ms: int, closes_ms: int, at_ms: int, counted_from: str) -> Problem | None:
    if at_ms < opens_ms:
        opens = _when(opens_ms)
        return Problem("at_ms", f"too early: the window for this claim opens {opens} (after the {counted_from})")
    if at_ms > closes_ms:
        return Problem("at_ms", f"too late: the window for this claim closed {_when(closes_ms)}")
    return None


def _when(at_ms: int) -> str:
    """A moment as people read it, in UTC (the desk shows this sentence as it is), with the milliseconds a script
    would compare."""
    moment = datetime.fromtimestamp(at_ms // 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"on {moment} ({at_ms} ms)"


def missing_evidence(kind: ClaimKind, have: Collection[str]) -> list[str]:
    """What a claim still needs: proof of value (invoice, appraisal or grading report), photos, and for a
    theft a police report."""
    missing = []
    if not PROOF_OF_VALUE.intersection(have):
        missing.append("proof_of_value")
    if "photo" not in have:
        missing.append("photo")
    if kind == "theft" and "police_report" not in have:
        missing.append("police_report")
    return missing


# ---- claims: states -----------------------------------------------------------------------------------------

_CLAIM_MOVES: dict[ClaimStatus, frozenset[ClaimStatus]] = {
    "filed": frozenset({"documents_requested", "under_review", "denied"}),
    "documents_requested": frozenset({"under_review", "denied"}),
    "under_review": frozenset({"documents_requested", "approved", "denied"}),
    "approved": frozenset({"paid"}),
    "paid": frozenset(),
    "denied": frozenset(),
}


def claim_allows(status: ClaimStatus, to: ClaimStatus) -> bool:
    return to in _CLAIM_MOVES[status]


def approval_cap(declared_value: int, approved_elsewhere: int) -> int:
    """The most a claim may be approved for: the declared value of what was lost, less what overlapping claims
    (the same parcel, the whole shipment, the same custody) were already approved for."""
    return max(0, declared_value - approved_elsewhere)


def claim_move_problem(
    status: ClaimStatus,
    to: ClaimStatus,
    *,
    missing: Sequence[str] = (),
    amount: int | None = None,
    cap: int = 0,
    reason: str = "",
) -> Problem | None:
    """Whether a claim that is `status` may move to `to`, given what it still misses, the amount asked for
    approval and its cap, and the reason given for a denial."""
    if not claim_allows(status, to):
        return Problem("status", f"a claim that is {status} cannot become {to}")
    if to == "under_review" and missing:
        return Problem("evidence", f"the claim still needs: {', '.join(missing)}")
    if to == "approved":
        if amount is None or amount <= 0:
            return Problem("amount", "an approval needs a positive amount")
        if amount > cap:
            return Problem("amount", f"{amount} is above what the claim may be approved for ({cap})")
    if to == "denied" and not reason.strip():
        return Problem("reason", "a denial needs a reason")
    return None


# ---- custody: taking a stone out of its setting -------------------------------------------------------------
#
#   requested -consent-> consented -start-> started -complete-> completed
#
# The consignor's consent comes first; the photo before is taken before the work starts and the photo after
# once it has; the work can't be completed without both.

RemovalStatus = Literal["requested", "consented", "started", "completed"]
RemovalStep = Literal["consent", "start", "complete"]
PhotoStage = Literal["before", "after"]

_REMOVAL_MOVES: dict[tuple[RemovalStatus, RemovalStep], RemovalStatus] = {
    ("requested", "consent"): "consented",
    ("consented", "start"): "started",
    ("started", "complete"): "completed",
}


def removal_after(status: RemovalStatus, step: RemovalStep) -> RemovalStatus | None:
    return _REMOVAL_MOVES.get((status, step))


def removal_step_problem(status: RemovalStatus, step: RemovalStep, photos: Collection[str]) -> Problem | None:
    """Whether a removal that is `status`, with photos of these stages, may take `step`."""
    if step == "start" and status == "requested":
        return Problem("consent", "the consignor's consent must be recorded before the stone is taken out")
    if removal_after(status, step) is None:
        return Problem("status", f"a removal that is {status} cannot {step}")
    if step == "start" and "before" not in photos:
        return Problem("photos", "a photo of the stone in its setting must be taken before the work starts")
    if step == "complete":
        missing = [stage for stage in ("before", "after") if stage not in photos]
        if missing:
            return Problem("photos", f"the removal can't be completed without the photo {' and '.join(missing)}")
    return None


def photo_problem(status: RemovalStatus, stage: PhotoStage) -> Problem | None:
    """The photo before belongs before the work starts, the photo after once it has (and before it is closed)."""
    if stage == "before" and status not in ("requested", "consented"):
        return Problem("stage", "the work has started: a photo now is not a photo before")
    if stage == "after" and status != "started":
        return Problem("stage", "the photo after is taken once the work has started, before it is completed")
    return None
