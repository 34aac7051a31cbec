"""`auction bids cancel`: an operator cancels a buyer's bids on a lot for cause, from the command line.

The same decision as `POST /api/sales/{sale}/lots/{lot}/cancellations` (auction.cancellations), with the same
rule of who may take it (access.HTTP_RULES for that route): the operator names themselves with `--by EMAIL`, and
the audit log names their account. The store forwards the command to whichever process holds the sale.
"""

from __future__ import annotations

import argparse
import sys

import asyncpg

from auction import catalog, identity
from auction.cancellations import cancel_for_cause
from auction.engine.views import lot_view
from auction.gateway.access import HTTP_RULES
from auction.redis_adapter import connect
from auction.store import BACKGROUND_PRIORITY, Accepted, LotStore, Writers, service_store

CANCEL_ROUTE = ("POST", "/api/sales/{sale}/lots/{lot}/cancellations")
REASON_CHARS = (3, 500)  # as the route bounds it (auction.gateway.oversight.CauseReason)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bids = commands.add_parser("bids", help="the house's decisions on bids")
    cancel = bids.add_subparsers(dest="bids_command", required=True).add_parser(
        "cancel", help="cancel a buyer's bids on an open lot for cause; the engine recomputes the lot"
    )
    cancel.add_argument("sale", type=_positive)
    cancel.add_argument("lot", type=_positive)
    who = cancel.add_mutually_exclusive_group(required=True)
    who.add_argument("--bidder", type=_positive, help="the buyer company's id")
    who.add_argument("--paddle", type=_positive, help="the buyer's paddle in the sale")
    cancel.add_argument("--reason", required=True, help="why, for the record and the audit log (3-500 characters)")
    cancel.add_argument("--by", required=True, metavar="EMAIL", help="the operator deciding it (auctioneer, admin)")


class BadRequest(Exception):
    """What is wrong with the command as given; nothing was done."""


async def cancel(pg: asyncpg.Pool, redis_url: str, args: argparse.Namespace, writers: Writers, now_ms: int) -> int:
    """Exit status: 0 cancelled, 1 refused by the engine (its reason printed), 2 a bad request (on stderr)."""
    redis = connect(redis_url)
    store = service_store(redis, pg, writers=writers, priority=BACKGROUND_PRIORITY)
    try:
        operator, bidder = await _checked(pg, store, args)
        outcome = await cancel_for_cause(pg, store, args.sale, args.lot, bidder, args.reason, operator, now_ms)
    except BadRequest as exc:
        print(f"auction bids cancel: {exc}", file=sys.stderr)
        return 2
    finally:
        await store.close()
        await redis.aclose()
    if not isinstance(outcome, Accepted):
        print(f"refused: {outcome.reason}")
        return 1
    view = lot_view(outcome.state)
    print(f"sale {args.sale} lot {args.lot}: bidder {bidder}'s bids cancelled; the lot stands at {view.price} "
          f"led by paddle {view.leader_paddle} after {view.bid_count} bids (seq {outcome.state.seq})")  # fmt: skip
    return 0


async def _checked(pg: asyncpg.Pool, store: LotStore, args: argparse.Namespace) -> tuple[identity.Account, int]:
    """(the operator, the bidder), once the reason's bounds, who decides, whose bids and the lot are checked."""
    low, high = REASON_CHARS
    if not low <= len(args.reason) <= high:
        raise BadRequest(f"--reason: between {low} and {high} characters")
    operator = await identity.active_account_by_email(pg, args.by)
    if operator is None or operator.role not in HTTP_RULES[CANCEL_ROUTE]:
        allowed = ", ".join(sorted(HTTP_RULES[CANCEL_ROUTE]))
        raise BadRequest(f"--by: no active account {args.by!r} with a role that may cancel bids ({allowed})")
    bidder = args.bidder or await catalog.company_with_paddle(pg, args.sale, args.paddle)
    if bidder is None:
        raise BadRequest(f"--paddle: nobody holds paddle {args.paddle} in sale {args.sale}")
    if await store.state(args.sale, args.lot) is None:
        raise BadRequest(f"sale {args.sale} has no lot {args.lot}")
    return operator, bidder
