"""The life of a passed lot as one transition table (h11's style, like auction/engine/lifecycle.py): which event
moves a passed lot (`passed_lots.status`) from which status to which. Pure: no database, no clock.

                   lot_passed               offer_accepted
    (not passed) ------------> post_sale ----------------> sold
                                   |
                                   |-- window_closed_with_consent --> relist
                                   |                                    | sent_back (its consent withdrawn)
                                   |-- sent_back (window closed) ---> returning <--'
                                                                        | signed_for
                                                                        v
                                                                     returned

A lot whose buyer defaulted (one sold at the hammer, so not passed yet, or one sold in its window) joins by the
operator's choice: default_unsold -> post_sale (second chances ran out, or the re-award missed the reserve; its
window is already over), default_relisted -> relist, default_cancelled -> returning, which the sweep then sends
back (returning -sent_back-> returning: the return posted and shipped).

A live lot may be reopened after the hammer, until the next lot opens (LotReopened): a passed lot then leaves the
post-sale path, lot_reopened -> reopened (from post_sale, or from sold when an offer was accepted in the seconds
before: that sale is undone), and comes back to it if it passes again (reopened -lot_passed-> post_sale, a new
window from the new close). A reopened lot that is sold instead stays reopened: it is no passed lot any more.

`relist` is both "waiting for a later sale" and "relisted into one": the lot's `relistings` row tells them apart
(a status of its own would need passed_lots' CHECK constraint changed by a migration).
`settlement.unsold_lots` makes every move, and refuses one this table lacks.
"""

from __future__ import annotations

from typing import Literal

PassedStatus = Literal["post_sale", "sold", "relist", "returning", "returned", "reopened"]

PassedEvent = Literal[
    "lot_passed",  # the hammer fell below the reserve (LotPassed): the post-sale window opens
    "offer_accepted",  # an offer accepted in the window: the lot is billed to its buyer
    "window_closed_with_consent",  # the window ended unsold, and the consignor consented to relist
    "sent_back",  # the return posted and shipped: the window ended without consent, the consent was withdrawn
    "signed_for",  # the consignor signed for every parcel of the return
    "default_unsold",  # its buyer defaulted and nobody else took it: second chances ran out, or no re-award
    "default_relisted",  # its buyer defaulted and the operator relists it at its own reserve
    "default_cancelled",  # its buyer defaulted and the operator cancels its sale: it goes back, charged nothing
    "lot_reopened",  # the auctioneer reopened the lot after the hammer (LotReopened, or a later close of it)
]

# (status now, or None for a lot that isn't a passed lot yet; event) -> status after. Anything else is a bug.
TRANSITIONS: dict[tuple[PassedStatus | None, PassedEvent], PassedStatus] = {
    (None, "lot_passed"): "post_sale",
    ("post_sale", "offer_accepted"): "sold",
    ("post_sale", "window_closed_with_consent"): "relist",
    ("post_sale", "sent_back"): "returning",
    ("relist", "sent_back"): "returning",
    ("returning", "sent_back"): "returning",  # a cancelled sale's lot: returning already, now shipped
    ("returning", "signed_for"): "returned",
    (None, "default_unsold"): "post_sale",
    (None, "default_relisted"): "relist",
    (None, "default_cancelled"): "returning",
    ("sold", "default_unsold"): "post_sale",
    ("sold", "default_relisted"): "relist",
    ("sold", "default_cancelled"): "returning",
    ("post_sale", "lot_reopened"): "reopened",
    ("sold", "lot_reopened"): "reopened",  # an offer accepted before the reopen: its sale is undone
    ("reopened", "lot_passed"): "post_sale",  # passed again: a new window from the new close
}


def after(status: PassedStatus | None, event: PassedEvent) -> PassedStatus | None:
    """The status `event` moves a passed lot in `status` to (None: not a passed lot yet); None when the table has
    no such move."""
    return TRANSITIONS.get((status, event))
