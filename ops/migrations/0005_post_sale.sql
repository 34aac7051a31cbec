-- Unsold stones: the post-sale window of a passed lot (the reserve offered to its top bidder, offers from
-- registered buyers that the consignor answers), the consignor's consent to relist with a lower reserve, the
-- relisting itself (the stone as a lot of a later sale), and the return to the consignor with its charges.
-- Money is bigint minor units of the sale's currency; *_ms are epoch milliseconds passed in by the caller.

-- Offers on a passed lot during its window. kind 'reserve': the house offers the lot at its reserve to the top
-- bidder, who answers. kind 'buyer': a registered buyer offers an amount, the consignor answers.
-- `client_id` is chosen by the buyer (the house's offer uses 'reserve'): the same offer sent twice is one row.
CREATE TABLE post_sale_offers (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sale_id     bigint NOT NULL,
    lot_no      int NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('reserve', 'buyer')),
    buyer_id    bigint NOT NULL,
    amount      bigint NOT NULL CHECK (amount > 0),
    client_id   text NOT NULL,
    made_ms     bigint NOT NULL,
    expires_ms  bigint NOT NULL,
    status      text NOT NULL DEFAULT 'open'
        CHECK (status IN ('open', 'accepted', 'declined', 'closed', 'expired', 'replaced')),
    answered_ms bigint,
    FOREIGN KEY (sale_id, lot_no) REFERENCES passed_lots (sale_id, lot_no),
    UNIQUE (sale_id, lot_no, buyer_id, kind, client_id),
    CHECK ((status = 'open') = (answered_ms IS NULL))
);
-- One reserve offer per passed lot, one accepted offer per lot (a stone is sold once), and one open offer per
-- buyer per lot (a new offer replaces the buyer's earlier one, as a sealed bid does).
CREATE UNIQUE INDEX post_sale_offers_one_reserve ON post_sale_offers (sale_id, lot_no) WHERE kind = 'reserve';
CREATE UNIQUE INDEX post_sale_offers_one_accepted ON post_sale_offers (sale_id, lot_no) WHERE status = 'accepted';
CREATE UNIQUE INDEX post_sale_offers_one_open ON post_sale_offers (sale_id, lot_no, buyer_id)
    WHERE status = 'open' AND kind = 'buyer';

-- The consignor's consent to offer the stone again in a later sale, at a lower reserve ('consignor'); or the
-- operator's relisting of a defaulted lot at its own reserve ('default'). Withdrawn consent keeps its row.
CREATE TABLE relist_consents (
    sale_id      bigint NOT NULL,
    lot_no       int NOT NULL,
    reserve      bigint NOT NULL CHECK (reserve >= 0),
    source       text NOT NULL CHECK (source IN ('consignor', 'default')),
    consented_ms bigint NOT NULL,
    withdrawn_ms bigint,
    PRIMARY KEY (sale_id, lot_no),
    FOREIGN KEY (sale_id, lot_no) REFERENCES passed_lots (sale_id, lot_no)
);

-- A relisted stone: the lot it became in a later sale (a lots row, with the diamond, consignor and new reserve).
CREATE TABLE relistings (
    from_sale_id bigint NOT NULL,
    from_lot_no  int NOT NULL,
    to_sale_id   bigint NOT NULL,
    to_lot_no    int NOT NULL,
    reserve      bigint NOT NULL CHECK (reserve >= 0),
    at_ms        bigint NOT NULL,
    PRIMARY KEY (from_sale_id, from_lot_no),
    UNIQUE (to_sale_id, to_lot_no),
    FOREIGN KEY (from_sale_id, from_lot_no) REFERENCES passed_lots (sale_id, lot_no),
    FOREIGN KEY (to_sale_id, to_lot_no) REFERENCES lots (sale_id, lot_no)
);

-- A stone on its way back to its consignor: what the consignment agreement charged for it (nothing for a lot
-- whose sale fell through because its buyer defaulted), the posting, and the insured return shipment.
CREATE TABLE lot_returns (
    sale_id         bigint NOT NULL,
    lot_no          int NOT NULL,
    consignor_id    bigint NOT NULL,
    reason          text NOT NULL CHECK (reason IN ('unsold', 'defaulted')),
    currency        char(3) NOT NULL,
    unsold_fee      bigint NOT NULL CHECK (unsold_fee >= 0),
    return_shipping bigint NOT NULL CHECK (return_shipping >= 0),
    declared_value  bigint NOT NULL CHECK (declared_value >= 0),
    txn_id          bigint UNIQUE REFERENCES ledger_transactions (id),
    shipment_id     bigint NOT NULL REFERENCES shipments (id),
    at_ms           bigint NOT NULL,
    PRIMARY KEY (sale_id, lot_no),
    FOREIGN KEY (sale_id, lot_no) REFERENCES passed_lots (sale_id, lot_no),
    CHECK ((txn_id IS NULL) = (unsold_fee + return_shipping = 0))
);
