"""Whose settlement a caller may read: a buyer only their own company's, a consignor only their own.

Who may call a route at all is auction/gateway/access.py's table; this comes after it, in the handler, for the
routes that a buyer or a consignor shares with the house's operators. The refusal is decided from the request
alone (the company or consignor it names against the caller's own), before anything is looked up, so it is the
same 403 whether or not the thing asked for exists: nobody learns of another's invoices by asking.
"""

from __future__ import annotations

from typing import Literal

from auction.httpkit import ApiError, Caller

Party = Literal["buyer", "consignor"]


def refuse_unless_own(caller: Caller, party: Party, party_id: int) -> None:
    """403 `not_allowed`, naming `party`, unless the caller is the house or the party itself. A buyer is their
    company (`Caller.company`), a consignor their consignor record (`Caller.consignor`)."""
    if caller.role == "buyer":
        own = party == "buyer" and caller.company == party_id
    elif caller.role == "consignor":
        own = party == "consignor" and caller.consignor == party_id
    else:
        return  # operators: the table let in only those whose work it is
    if not own:
        raise ApiError("not_allowed", party, f"you may read only your own {_WHAT[party]}")


_WHAT: dict[Party, str] = {"buyer": "company's invoices, offers and shipments", "consignor": "statements and stones"}
