-- A live lot may be reopened after the hammer (LotReopened), until the next lot opens, and then be sold or
-- passed again (settlement/closings.py). Settlement keeps every close and reopen of a lot it has acted on, so
-- that it follows the lot's latest one whatever order the stream delivers them in; a passed lot that is reopened
-- leaves the post-sale path ('reopened') and comes back to it if it passes again (`pass_seq` says after which
-- LotPassed it is in its window); the offers made on it while it was passed are withdrawn with the reopen.

-- Every LotSold, LotPassed and LotReopened settlement has acted on, by the event's sequence number in the lot's
-- record: a close delivered again finds its row and changes nothing, and one older than the lot's latest
-- (delivered out of order) is superseded.
CREATE TABLE lot_closings (
    sale_id bigint NOT NULL,
    lot_no  int NOT NULL,
    seq     bigint NOT NULL,
    event   text NOT NULL CHECK (event IN ('LotSold', 'LotPassed', 'LotReopened')),
    at_ms   bigint NOT NULL,
    PRIMARY KEY (sale_id, lot_no, seq)
);

ALTER TABLE passed_lots DROP CONSTRAINT passed_lots_status_check;
ALTER TABLE passed_lots ADD CONSTRAINT passed_lots_status_check
    CHECK (status IN ('post_sale', 'sold', 'relist', 'returning', 'returned', 'reopened'));
-- The LotPassed whose window the lot is in (NULL: it joined after a default, or passed before this migration).
ALTER TABLE passed_lots ADD COLUMN pass_seq bigint;

-- An offer on a passed lot that was reopened is 'withdrawn' (an accepted one too: its sale is undone), and a
-- lot that passes again gets a new reserve offer: one per lot among those not withdrawn.
ALTER TABLE post_sale_offers DROP CONSTRAINT post_sale_offers_status_check;
ALTER TABLE post_sale_offers ADD CONSTRAINT post_sale_offers_status_check
    CHECK (status IN ('open', 'accepted', 'declined', 'closed', 'expired', 'replaced', 'withdrawn'));
DROP INDEX post_sale_offers_one_reserve;
CREATE UNIQUE INDEX post_sale_offers_one_reserve ON post_sale_offers (sale_id, lot_no)
    WHERE kind = 'reserve' AND status <> 'withdrawn';
