"""The executor: the pure core run against Redis, one atomic commit per batch of commands, one writer per sale.

lot_store.py   LotStore: commands in, outcomes out; routes each sale's commands to its one writer; reads
committer.py   decides batches (planner) and commits them (pipe, commit.lua); caches, retries, durability
planner.py     pure: a batch decided against known states, and the commit script's arguments
pipe.py        commit scripts pipelined on a connection of their own
lease.py       which store writes a sale: a lease and a fencing token
forward.py     commands for a sale owned elsewhere, sent to its owner over pub/sub
codec.py       how states, answers and bidder records are kept in Redis; outcomes
errors.py      the exception tree, and the translation of Redis's and PostgreSQL's errors
*.lua          the atomic steps (commit, create, lease), in files of their own
"""

from auction.config import Durability, Writers

from .codec import Accepted, BidderRecord, Outcome, decode_answer, decode_state, encode_answer, encode_state
from .committer import MAX_QUEUE_AGE_NS, StoreStats
from .errors import (
    FOREIGN_ERRORS,
    EventsTrimmed,
    LotNotFound,
    StoreClosed,
    StoreError,
    StoreUnavailable,
    translate_errors,
)
from .lease import BACKGROUND_PRIORITY, GATEWAY_PRIORITY
from .lot_store import LotStore, service_store
from .planner import IDEMPOTENCY_WINDOW_MS

__all__ = [
    "BACKGROUND_PRIORITY",
    "FOREIGN_ERRORS",
    "GATEWAY_PRIORITY",
    "IDEMPOTENCY_WINDOW_MS",
    "MAX_QUEUE_AGE_NS",
    "Accepted",
    "BidderRecord",
    "Durability",
    "EventsTrimmed",
    "LotNotFound",
    "LotStore",
    "Outcome",
    "StoreClosed",
    "StoreError",
    "StoreStats",
    "StoreUnavailable",
    "Writers",
    "decode_answer",
    "decode_state",
    "encode_answer",
    "encode_state",
    "service_store",
    "translate_errors",
]
