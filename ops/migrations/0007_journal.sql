-- The sale's journal (auction.engine.journal): every commit of the engine with each command as decided, its
-- context and its answer; every lot created and every standing set; in the order they happened. With
-- lot_events it is the whole record: the verifier (`auction audit verify`) replays it through the pure core.
-- The entry's Redis stream id (milliseconds, sequence) orders the sale's journal; writing an entry twice is
-- harmless (the persister's redelivery, or the store in `postgres` durability).
CREATE TABLE sale_journal (
    sale_id   bigint NOT NULL,
    entry_ms  bigint NOT NULL,
    entry_seq bigint NOT NULL,
    kind      text NOT NULL CHECK (kind IN ('lot_created', 'standing_set', 'committed')),
    body      jsonb NOT NULL,
    PRIMARY KEY (sale_id, entry_ms, entry_seq)
);
