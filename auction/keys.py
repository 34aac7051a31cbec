"""Every Redis key the engine uses, in one place (arq's constants.py style).

All keys of a sale carry the hash tag `{S}` so that a sale lives in one Redis Cluster slot and every atomic
step (one Lua call) touches one slot. The only keys outside a sale are `auction:sales` and `auction:retired`,
global on purpose: the pollers read the first to find sales, the janitor the second to find sales to purge, and
no atomic step ever touches either; and each company's bid bucket (`bid_bucket`), which spans its sales and is
touched alone.

How long each key lives (auction.janitor has the whole lifecycle): a sale's streams are trimmed once every
consumer group has acknowledged them, keeping a tail; a lot's stream keeps its last events and never one the
record lacks; an answer expires after the idempotency window; a finished sale leaves `auction:sales` once
recorded and settled, and its keys go after a grace period, all but the fence and the retirement marker.

Keys are returned as `str`; redis-py encodes them. Values under them are bytes (msgpack state, JSON events),
so clients must be built with `decode_responses=False`.
"""

from __future__ import annotations

# Set of the ids of the sales the pollers (persister, settlement, scheduler, metrics) look at: every sale whose
# lots are loaded into Redis, until the janitor retires it (finished, recorded, settled). Whoever writes to a
# retired sale's streams puts it back.
ACTIVE_SALES = "auction:sales"
# Sorted set sale -> when it was retired (ms): the sales whose keys the janitor purges after the grace period.
RETIRED_SALES = "auction:retired"

# Pub/sub channel on which a gateway that revokes a token publishes its id, so that every gateway closes that
# token's websockets at once (auction/gateway/revocations.py). A channel holds nothing: no key, no lifecycle.
REVOKED_TOKENS = "auction:revoked-tokens"

# Consumer group, on every sale's event and journal streams, through which the persister copies them to PostgreSQL.
PERSISTER_GROUP = "persister"
# Consumer group, on every sale's event stream, through which the settlement service bills the lots that close.
SETTLEMENT_GROUP = "settlement"

# Hash fields of a lot key.
VERSION_FIELD = "v"  # the lot's last event seq, "0" at creation: what the commit script compares (CAS)
STATE_FIELD = "s"  # msgspec msgpack of LotState

# Hash fields of a bidder key (`bidder(sale, b)`). VERSION_FIELD there counts writes to the key (absent = 0).
STANDING_FIELD = "s"  # msgspec msgpack of BidderStanding, set by identity through LotStore.set_standing
EXPOSURE_PREFIX = "x:"  # "x:<lot>" -> all-in the buyer would owe on that lot (only the lot's leader has one)

# Stream entry fields.
JOURNAL_FIELD = "j"  # JSON of one journal entry (auction.engine.journal), in the sale's journal stream
EVENT_FIELD = "e"  # JSON of one event, tagged with its "type" (msgspec json of the AnyEvent union)
LOT_FIELD = "lot"  # per-sale stream only: the lot the event belongs to
SEQ_FIELD = "seq"  # per-sale stream only: the event's seq within its lot


def sale_prefix(sale: int) -> str:
    """The hash-tagged prefix shared by every key of a sale."""
    return f"sale:{{{sale}}}"


def lot_state(sale: int, lot: int) -> str:
    """Hash: `v` (version) and `s` (encoded LotState) of one lot."""
    return f"{sale_prefix(sale)}:lot:{lot}"


def lot_events(sale: int, lot: int) -> str:
    """Stream of one lot's events, entry id `<seq>-0`: XRANGE from `<after+1>-0` resumes a watcher."""
    return f"{lot_state(sale, lot)}:events"


def sale_events(sale: int) -> str:
    """Stream (auto ids) of every event of a sale, fields lot/seq/e: watchers' fan-out and the persister."""
    return f"{sale_prefix(sale)}:events"


def answer(sale: int, dedupe: str) -> str:
    """String, with an expiry (the idempotency window): the encoded first answer to the command whose dedupe key
    ("<bidder>:<client_id>") this is, so a resent bid gets it again. A key per answer because a hash can't
    expire its fields one by one (Redis 7.0), and one big hash expiring whole would stall Redis as it went."""
    return f"{sale_prefix(sale)}:answer:{dedupe}"


def sale_retired(sale: int) -> str:
    """Hash, the sale's retirement marker: `at` (ms) while the sale is retired (out of ACTIVE_SALES), which every
    write to the sale's streams deletes (and so puts the sale back); `purged` once its keys were purged. It
    outlives the purge, so that a standing published later is known to belong to a finished sale."""
    return f"{sale_prefix(sale)}:retired"


RETIRED_AT_FIELD = "at"
PURGED_FIELD = "purged"


def sale_trimmed(sale: int) -> str:
    """Hash: `journal` -> how many entries the janitor trimmed from the sale's journal (all recorded first), so
    that the journal's whole length is known once its oldest entries are gone (LotStore.journal_length)."""
    return f"{sale_prefix(sale)}:trimmed"


TRIMMED_JOURNAL_FIELD = "journal"


def sale_commits(sale: int) -> str:
    """Hash: store id -> the token of that store's last commit applied in the sale. A commit decided on one
    still in flight names it, and is refused unless it is this field (LotStore, "Pipelining")."""
    return f"{sale_prefix(sale)}:commits"


def sale_journal(sale: int) -> str:
    """Stream (auto ids) of the sale's journal (auction.engine.journal): one entry per commit, lot created and
    standing set, field `j`, in the order they happened. The persister copies it into `sale_journal`."""
    return f"{sale_prefix(sale)}:journal"


def sale_owner(sale: int) -> str:
    """String "<store id>|<priority>" with an expiry: the lease of the one store that writes the sale's lots
    (auction.store.lease). Every other store forwards its commands to the owner."""
    return f"{sale_prefix(sale)}:owner"


def sale_fence(sale: int) -> str:
    """Counter, bumped on every change of owner: the fencing token. A commit names the token its writer was
    given, and the commit script refuses it if the sale has changed hands since."""
    return f"{sale_prefix(sale)}:fence"


def sale_rostrum(sale: int) -> str:
    """Hash: `v` (version), `block` (the live lot on the block, '' for none) and `last` (the live lot on it
    last, '' for none) of a live sale. A commit that touches a live lot checks `v` and writes it."""
    return f"{sale_prefix(sale)}:rostrum"


def store_inbox(store: str) -> str:
    """Pub/sub channel on which other stores send a store the commands of the sales it owns
    (auction.store.forward)."""
    return f"auction:store:{store}:inbox"


def store_replies(store: str) -> str:
    """Pub/sub channel on which owners answer the commands a store forwarded to them."""
    return f"auction:store:{store}:replies"


def sale_lots(sale: int) -> str:
    """Sorted set of every lot of the sale (score = lot number), final or not: what `states()` lists."""
    return f"{sale_prefix(sale)}:lots"


def sale_opens(sale: int) -> str:
    """Sorted set lot -> start_ms of lots still scheduled; the scheduler opens those that are due."""
    return f"{sale_prefix(sale)}:opens"


def bidder(sale: int, bidder: int) -> str:
    """Hash: `v` (version), `s` (encoded BidderStanding) and `x:<lot>` exposure fields of a buyer company in a
    sale. Every commit that reads it checks `v`; every commit that writes it bumps `v`."""
    return f"{sale_prefix(sale)}:bidder:{bidder}"


def exposure_field(lot: int) -> str:
    return f"{EXPOSURE_PREFIX}{lot}"


def bid_bucket(company: int) -> str:
    """Hash t (tokens left, text), at (ms): a bidding company's bid rate limit (auction/gateway/bid_limits.py),
    whatever its sale; it expires once the bucket would be full again. Outside any sale on purpose: one
    company's limit spans its sales."""
    return f"auction:company:{company}:bid-bucket"


def sale_closes(sale: int) -> str:
    """Sorted set lot -> current end_ms of lots not yet final; an extension moves the score."""
    return f"{sale_prefix(sale)}:closes"
