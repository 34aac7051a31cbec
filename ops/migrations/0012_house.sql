-- The house's own desk (issue 14): consignors as people or companies, each with a consignment agreement; the
-- stones they hand in (the house's custody of a stone starts at its intake) and their photos; and sales built as
-- drafts, freely edited, until they are published into `sales` and `lots` and loaded into the engine.
-- Money is bigint minor units, rates integer basis points, as everywhere.

-- A consignor is a person or a company. `name` is the person's full name or the company's legal name; `company`
-- (kept from 0001) is the company a person trades as, or the legal name again.
ALTER TABLE consignors
    ADD COLUMN kind       text NOT NULL DEFAULT 'company' CHECK (kind IN ('person', 'company')),
    ADD COLUMN email      text,
    ADD COLUMN phone      text,
    ADD COLUMN address    text,
    ADD COLUMN country    char(2),
    ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();

-- What the consignor agreed with the house, which settlement charges by (settlement/agreements.py): commission on
-- the hammer, the unsold fee (on the reserve) and return shipping of a stone that comes back, and the standing
-- consent to relist an unsold stone at `relist_reserve_bp` of the reserve it failed to reach. Amounts are in
-- `currency`, which every stone consigned under it is estimated in. One row per consignor; each change is on the
-- audit log with the terms before and after.
CREATE TABLE consignment_agreements (
    consignor_id      bigint PRIMARY KEY REFERENCES consignors (id),
    currency          char(3) NOT NULL,
    commission_bp     int NOT NULL CHECK (commission_bp BETWEEN 0 AND 10000),
    unsold_fee_bp     int NOT NULL CHECK (unsold_fee_bp BETWEEN 0 AND 10000),
    return_shipping   bigint NOT NULL CHECK (return_shipping >= 0),
    relist_consent    boolean NOT NULL,
    relist_reserve_bp int NOT NULL CHECK (relist_reserve_bp BETWEEN 0 AND 9999),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- A stone handed in by its consignor: its description as taken in (auction.consignments.StoneIntake, with every
-- field of DOMAIN.md "A lot"), and the few columns the database checks. The house's custody starts at
-- `received_ms`, recorded by `received_by`.
CREATE TABLE consigned_stones (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    consignor_id  bigint NOT NULL REFERENCES consignors (id),
    currency      char(3) NOT NULL,
    description   jsonb NOT NULL,
    carat_points  int NOT NULL CHECK (carat_points > 0),
    low_estimate  bigint NOT NULL CHECK (low_estimate > 0),
    high_estimate bigint NOT NULL,
    reserve       bigint NOT NULL CHECK (reserve >= 0),
    received_ms   bigint NOT NULL,
    received_by   bigint REFERENCES accounts (id),
    CHECK (reserve <= low_estimate),
    CHECK (low_estimate <= high_estimate)
);
CREATE INDEX consigned_stones_consignor ON consigned_stones (consignor_id);

-- Photos of a stone, kept like vetting's documents: the bytes, their size and SHA-256. The media type is the one
-- the bytes' signature says, never the one the uploader claimed. The same photo twice is kept once.
CREATE TABLE stone_photos (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stone_id    bigint NOT NULL REFERENCES consigned_stones (id),
    filename    text NOT NULL,
    media_type  text NOT NULL CHECK (media_type IN ('image/jpeg', 'image/png', 'image/webp')),
    size        int NOT NULL CHECK (size > 0),
    sha256      bytea NOT NULL,
    content     bytea NOT NULL,
    uploaded_by bigint REFERENCES accounts (id),
    uploaded_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stone_id, sha256)
);

-- A sale as the house builds it. While `draft` it is edited freely and nobody outside the house sees it; published,
-- it is a `sales` row with its `lots` (same id), loaded into the engine, and the draft is kept as it was.
-- Ids are the operator's choice or the next of `sale_draft_ids`; a published sale keeps its draft's id.
CREATE SEQUENCE sale_draft_ids;
CREATE TABLE sale_drafts (
    id           bigint PRIMARY KEY,
    status       text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published')),
    terms        jsonb NOT NULL,  -- auction.sale_builder.SaleTerms
    created_by   bigint REFERENCES accounts (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_ms bigint,
    CHECK ((status = 'published') = (published_ms IS NOT NULL))
);

-- A draft's lots: a consigned stone, its number (the catalogue's order), its opening price and its title.
CREATE TABLE draft_lots (
    sale_id  bigint NOT NULL REFERENCES sale_drafts (id),
    lot_no   int NOT NULL CHECK (lot_no BETWEEN 1 AND 100000),
    stone_id bigint NOT NULL REFERENCES consigned_stones (id),
    title    text NOT NULL,
    opening  bigint NOT NULL CHECK (opening > 0),
    PRIMARY KEY (sale_id, lot_no),
    UNIQUE (sale_id, stone_id)
);
CREATE INDEX draft_lots_stone ON draft_lots (stone_id);

-- A published lot is the stone it was built from (NULL for lots made before the house built sales).
ALTER TABLE lots ADD COLUMN stone_id bigint REFERENCES consigned_stones (id);
CREATE INDEX lots_stone ON lots (stone_id);

-- A lot the house withdrew after publishing: the engine closed it without a result (LotWithdrawn); who and why.
CREATE TABLE lot_withdrawals (
    sale_id      bigint NOT NULL,
    lot_no       int NOT NULL,
    reason       text NOT NULL,
    withdrawn_by bigint REFERENCES accounts (id),
    at_ms        bigint NOT NULL,
    PRIMARY KEY (sale_id, lot_no),
    FOREIGN KEY (sale_id, lot_no) REFERENCES lots (sale_id, lot_no)
);

-- A consent to relist may now come from the consignment agreement (its standing consent), not only from the
-- consignor after the pass ('consignor') or the operator after a default ('default').
ALTER TABLE relist_consents DROP CONSTRAINT relist_consents_source_check;
ALTER TABLE relist_consents ADD CONSTRAINT relist_consents_source_check
    CHECK (source IN ('consignor', 'default', 'agreement'));
