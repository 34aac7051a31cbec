"""Who may call what: the one table of roles per HTTP route and per websocket message type.

Every HTTP route (method, path as the router spells it) and every client message type has exactly one entry
here; the `authorise` middleware (http.py) and the connection (channel.py) consult nothing else to decide whether
a caller's role may make a call. A route or message type without an entry is refused for everyone (and
tests/gateway/test_access.py fails, naming it), so a new route can't slip in unguarded.

The table answers "may this role call this at all". Whose data it is comes after, in the handler: a buyer may
read a company's file only if it is their own company's, a consignor may watch only their own lots. Those
refusals carry the same code (`not_allowed`) but name the resource (`company`, `lots`), while a refusal by this
table names `role` (or `token` for an anonymous caller, who gets 401 and should sign in).

Anonymous callers keep watching sales and asking for quotes, as before: the public feed shows bidders only as
paddle numbers, never an identity, a maximum or the reserve, which is all DOMAIN.md lets buyers see anyway.

A live sale's rostrum: the auctioneer (and an admin) runs it, every message; the clerk does the console's jobs of
DOMAIN.md "Live sales" only (takes floor and phone bids, takes or declines the online bid waiting, takes back the
newest bid) and enters commission bids. Both watch the record feed, as every operator does.

A sealed-bid tender: the auctioneer (and an admin) creates one; any operator may register an officer key and, if
named one of the tender's officers, fetch their sealed share and give shares (tender_http.py checks whose); a buyer
bids and reads their own bids; a consignor answers for their own lots below the reserve. The tender's key, the
published commitments and the results are anyone's: the results name nobody but to operators.
"""

from __future__ import annotations

from auction.httpkit import Principal
from auction.identity import OPERATOR_ROLES, ROLES

ANYONE: frozenset[Principal] = frozenset({"anonymous", *ROLES})
SIGNED_IN: frozenset[Principal] = frozenset(ROLES)
OPERATORS: frozenset[Principal] = frozenset(OPERATOR_ROLES)
VETTING: frozenset[Principal] = frozenset({"vetting_officer", "admin"})
BUYERS: frozenset[Principal] = frozenset({"buyer"})
ADMIN: frozenset[Principal] = frozenset({"admin"})
SETTLEMENT: frozenset[Principal] = frozenset({"settlement_officer", "admin"})
CONSIGNORS: frozenset[Principal] = frozenset({"consignor"})
ROSTRUM: frozenset[Principal] = frozenset({"auctioneer", "admin"})  # runs a live sale's rostrum
CLERKS: frozenset[Principal] = ROSTRUM | {"clerk"}  # the clerk's console jobs, and the auctioneer's own
TENDER_DESK: frozenset[Principal] = frozenset({"auctioneer", "admin"})  # creates a tender, as the house builds sales
CATALOGUE: frozenset[Principal] = frozenset({"auctioneer", "admin"})  # the house's specialists build sales

HTTP_RULES: dict[tuple[str, str], frozenset[Principal]] = {
    # the public catalogue and live state, as before
    ("GET", "/api/health"): ANYONE,
    ("GET", "/api/time"): ANYONE,
    ("GET", "/api/sales"): ANYONE,
    ("GET", "/api/sales/{sale}"): ANYONE,
    ("GET", "/api/sales/{sale}/lots"): ANYONE,
    ("GET", "/api/sales/{sale}/lots/{lot}"): ANYONE,
    ("GET", "/api/sales/{sale}/lots/{lot}/events"): ANYONE,
    # the web rooms' pages and assets (pages.py): static files; what a page shows comes through the API
    ("GET", "/{page}"): ANYONE,
    ("GET", "/static/{path}"): ANYONE,
    ("GET", "/ws"): ANYONE,  # each message is then checked against MESSAGE_RULES
    ("GET", "/metrics"): ANYONE,  # counters only, nothing about anyone; restrict at the load balancer if wished
    ("GET", "/api/openapi.json"): ANYONE,
    # bidding
    ("POST", "/api/sales/{sale}/lots/{lot}/bids"): BUYERS,
    # a live sale's console: commission bids entered for a paddle, and the rostrum's view (auction/gateway/rostrum*)
    ("POST", "/api/sales/{sale}/lots/{lot}/absentee"): CLERKS,
    ("GET", "/api/sales/{sale}/rostrum"): OPERATORS,
    # the house's oversight of bidding (auction/gateway/oversight.py): cancelling a buyer's bids for cause is a
    # ruling on how the sale is conducted, the auctioneer's (and an admin's); not the clerk's, whose console jobs
    # are mechanical (the newest bid taken back), nor vetting's, whose remedy is suspension (which cancels too)
    ("POST", "/api/sales/{sale}/lots/{lot}/cancellations"): ROSTRUM,
    # the shill monitor's scores are for the house to look into, whoever of it watches the sale
    ("GET", "/api/sales/{sale}/shill-scores"): OPERATORS,
    # sealed-bid tenders (auction/gateway/tender_http.py)
    ("POST", "/api/tenders"): TENDER_DESK,
    ("PUT", "/api/tender/officer-key"): OPERATORS,  # their own key
    ("GET", "/api/sales/{sale}/tender"): ANYONE,
    ("POST", "/api/sales/{sale}/lots/{lot}/tender-bids"): BUYERS,
    ("GET", "/api/sales/{sale}/tender/commitments"): ANYONE,
    ("GET", "/api/sales/{sale}/tender/my-bids"): BUYERS,  # their company's own
    ("GET", "/api/sales/{sale}/tender/results"): ANYONE,  # a consignor: offers on their own lots; operators: all bids
    ("GET", "/api/sales/{sale}/tender/shares/mine"): OPERATORS,  # the tender's officers only
    ("POST", "/api/sales/{sale}/tender/shares"): OPERATORS,  # the tender's officers only
    ("POST", "/api/sales/{sale}/lots/{lot}/tender/accept"): CONSIGNORS,  # their own lots only
    ("POST", "/api/sales/{sale}/lots/{lot}/tender/decline"): CONSIGNORS,
    # identity
    ("POST", "/api/login"): ANYONE,
    ("POST", "/api/logout"): SIGNED_IN,
    ("GET", "/api/me"): SIGNED_IN,
    ("GET", "/api/tokens"): SIGNED_IN,
    ("POST", "/api/tokens"): SIGNED_IN,
    ("DELETE", "/api/tokens/{token}"): SIGNED_IN,  # your own; an admin anyone's
    ("POST", "/api/accounts"): ADMIN,
    # vetting
    ("POST", "/api/companies"): frozenset({"anonymous", "consignor", "vetting_officer", "admin"}),
    ("GET", "/api/companies"): OPERATORS,
    ("GET", "/api/companies/{company}"): BUYERS | OPERATORS,  # a buyer: their own company only
    ("POST", "/api/companies/{company}/documents"): BUYERS | VETTING,  # a buyer: their own company only
    ("GET", "/api/companies/{company}/documents/{document}"): BUYERS | VETTING,
    ("POST", "/api/companies/{company}/decisions"): VETTING,
    ("POST", "/api/companies/{company}/duplicates/{flag}"): VETTING,  # a duplicate application resolved
    ("POST", "/api/companies/{company}/consignors"): VETTING,
    ("GET", "/api/companies/{company}/registrations"): BUYERS | OPERATORS,  # a buyer: their own company's
    # registrations
    ("POST", "/api/sales/{sale}/registrations"): BUYERS,
    ("GET", "/api/sales/{sale}/registrations"): BUYERS | OPERATORS,  # a buyer: their own company's only
    ("POST", "/api/sales/{sale}/registrations/{company}/approval"): VETTING,
    ("POST", "/api/sales/{sale}/registrations/{company}/refusal"): VETTING,
    ("POST", "/api/sales/{sale}/registrations/{company}/deposit"): SETTLEMENT,  # money received: not vetting's
    # consignors and the audit log
    ("GET", "/api/consignor/lots"): frozenset({"consignor"}),
    ("GET", "/api/audit"): ADMIN,
    # the house's desk (auction/gateway/house.py): who a consignor is is the vetting desk's, what they are charged
    # the settlement desk's; their stones, the sales built of them, publishing and withdrawing the specialists'
    ("POST", "/api/house/consignors"): VETTING,
    ("GET", "/api/house/consignors"): OPERATORS,
    ("GET", "/api/house/consignors/{consignor}"): OPERATORS,
    ("PUT", "/api/house/consignors/{consignor}/agreement"): SETTLEMENT,
    ("POST", "/api/house/consignors/{consignor}/stones"): CATALOGUE,
    ("GET", "/api/consignor/stones"): CONSIGNORS,  # their own
    ("GET", "/api/house/stones/{stone}"): OPERATORS,
    ("POST", "/api/house/stones/{stone}/photos"): CATALOGUE,
    ("GET", "/api/house/stones/{stone}/photos/{photo}"): OPERATORS,
    ("GET", "/api/sales/{sale}/lots/{lot}/photos/{photo}"): ANYONE,  # a published lot's, as its listing names them
    ("POST", "/api/house/sales"): CATALOGUE,
    ("GET", "/api/house/sales"): OPERATORS,
    ("GET", "/api/house/sales/{sale}"): OPERATORS,
    ("PUT", "/api/house/sales/{sale}"): CATALOGUE,
    ("PUT", "/api/house/sales/{sale}/lots/{lot}"): CATALOGUE,
    ("DELETE", "/api/house/sales/{sale}/lots/{lot}"): CATALOGUE,
    ("POST", "/api/house/sales/{sale}/order"): CATALOGUE,
    ("PUT", "/api/house/sales/{sale}/catalogue"): CATALOGUE,
    ("GET", "/api/house/sales/{sale}/catalogue"): OPERATORS,
    ("POST", "/api/house/sales/{sale}/publication"): CATALOGUE,
    ("POST", "/api/house/sales/{sale}/lots/{lot}/withdrawal"): CATALOGUE,
    # settlement: operators record what buyers and consignors tell the house; a buyer reads their own invoices
    # and answers the second-chance offers made to them (settlement/http.py and owners.py refuse anyone else's)
    ("GET", "/api/settlement/sales/{sale}"): SETTLEMENT,
    ("GET", "/api/settlement/sales/{sale}/invoices"): SETTLEMENT,  # the desk's lists (settlement/desk_http.py)
    ("GET", "/api/settlement/sales/{sale}/defaults"): SETTLEMENT,
    ("GET", "/api/settlement/sales/{sale}/invoices/{buyer}"): SETTLEMENT | BUYERS,
    ("GET", "/api/settlement/sales/{sale}/invoices/{buyer}/document"): SETTLEMENT | BUYERS,
    ("GET", "/api/settlement/sales/{sale}/invoices/{buyer}/print"): SETTLEMENT | BUYERS,
    ("POST", "/api/settlement/invoices/{invoice}/payments"): SETTLEMENT,
    ("POST", "/api/settlement/sales/{sale}/lots/{lot}/default"): SETTLEMENT,
    ("POST", "/api/settlement/offers/{offer}"): SETTLEMENT | BUYERS,  # a buyer: an offer made to them
    ("GET", "/api/settlement/reconcile"): SETTLEMENT,
    # a buyer's and a consignor's own settlement across sales (settlement/party_http.py): each names its party, and
    # a buyer or consignor naming anyone else is refused; the settlement desk reads any party's
    ("GET", "/api/settlement/buyers/{buyer}/invoices"): BUYERS | SETTLEMENT,
    ("GET", "/api/settlement/buyers/{buyer}/second-chances"): BUYERS | SETTLEMENT,
    ("GET", "/api/settlement/buyers/{buyer}/shipments"): BUYERS | SETTLEMENT,
    ("GET", "/api/settlement/consignors/{consignor}/statements"): CONSIGNORS | SETTLEMENT,
    ("GET", "/api/settlement/consignors/{consignor}/payouts"): CONSIGNORS | SETTLEMENT,
    ("GET", "/api/settlement/consignors/{consignor}/shipments"): CONSIGNORS | SETTLEMENT,
    # the post-sale window of passed lots (settlement/unsold_http.py): a consignor only for their own lots, a
    # buyer only on offers made to them; operators see everything and record any party's answer
    ("GET", "/api/settlement/sales/{sale}/passed"): OPERATORS | CONSIGNORS,
    ("GET", "/api/settlement/sales/{sale}/post-sale"): BUYERS,
    ("POST", "/api/settlement/sales/{sale}/lots/{lot}/offers"): BUYERS,
    ("POST", "/api/settlement/post-sale-offers/{offer}"): BUYERS | CONSIGNORS | SETTLEMENT,
    ("POST", "/api/settlement/sales/{sale}/lots/{lot}/relist"): CONSIGNORS | SETTLEMENT,
    ("DELETE", "/api/settlement/sales/{sale}/lots/{lot}/relist"): CONSIGNORS | SETTLEMENT,
    ("POST", "/api/settlement/sales/{sale}/relistings"): SETTLEMENT,
    # shipments, setting removals and insurance claims (settlement/shipping_http.py): the house's settlement
    # desk records what carriers, consignors, labs and insurers tell it; a carrier pushing its tracking
    # updates does so with an API token issued to a settlement_officer account
    ("GET", "/api/settlement/sales/{sale}/shipments"): SETTLEMENT,
    ("POST", "/api/settlement/sales/{sale}/ship-paid"): SETTLEMENT,
    ("POST", "/api/settlement/shipments"): SETTLEMENT,
    ("GET", "/api/settlement/shipments/{shipment}"): SETTLEMENT,
    ("POST", "/api/settlement/shipments/{shipment}/parcels/{parcel}/tracking"): SETTLEMENT,
    ("POST", "/api/settlement/carriers/{carrier}/updates"): SETTLEMENT,
    ("POST", "/api/settlement/carriers/poll"): SETTLEMENT,
    ("POST", "/api/settlement/removals"): SETTLEMENT,
    ("GET", "/api/settlement/removals/{removal}"): SETTLEMENT,
    ("POST", "/api/settlement/removals/{removal}/consent"): SETTLEMENT,
    ("POST", "/api/settlement/removals/{removal}/photos"): SETTLEMENT,
    ("POST", "/api/settlement/removals/{removal}/start"): SETTLEMENT,
    ("POST", "/api/settlement/removals/{removal}/complete"): SETTLEMENT,
    ("POST", "/api/settlement/claims"): SETTLEMENT,
    ("GET", "/api/settlement/sales/{sale}/claims"): SETTLEMENT,
    ("GET", "/api/settlement/claims/{claim}"): SETTLEMENT,
    ("POST", "/api/settlement/claims/{claim}/evidence"): SETTLEMENT,
    ("POST", "/api/settlement/claims/{claim}/status"): SETTLEMENT,
}

MESSAGE_RULES: dict[str, frozenset[Principal]] = {
    "subscribe": ANYONE,  # a consignor: their own lots only; an operator gets the record form
    "unsubscribe": ANYONE,
    "bid": BUYERS,
    "max_bid": BUYERS,
    "tender_bid": BUYERS,  # a sealed bid on a tender lot (auction/gateway/tender_desk.py)
    "quote": ANYONE,
    "time": ANYONE,
    "watch_shill_scores": OPERATORS,  # the shill monitor's scores, live (auction/gateway/shills.py)
    # a live sale's rostrum (auction/gateway/rostrum.py)
    "open_lot": ROSTRUM,
    "take_bid": CLERKS,
    "set_ask": ROSTRUM,
    "set_increment": ROSTRUM,
    "accept_online_bid": CLERKS,
    "decline_online_bid": CLERKS,
    "fair_warning": ROSTRUM,
    "hammer": ROSTRUM,
    "pass_lot": ROSTRUM,
    "reopen_lot": ROSTRUM,
    "pause_lot": ROSTRUM,
    "resume_lot": ROSTRUM,
    "undo_bid": CLERKS,
    "withdraw_lot": ROSTRUM,
}


def http_rule(method: str, path: str) -> frozenset[Principal] | None:
    """The roles that may call this route; None if the table has no entry (refused for everyone)."""
    return HTTP_RULES.get(("GET" if method == "HEAD" else method, path))


def message_rule(message_type: str) -> frozenset[Principal]:
    return MESSAGE_RULES.get(message_type, frozenset())
