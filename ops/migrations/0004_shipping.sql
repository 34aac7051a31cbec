-- Shipping, custody and insurance claims: every movement of a stone is a shipment of one or more insured
-- parcels with a tracking history; taking a stone out of its setting is a custody record with the consignor's
-- consent and photos before and after; a claim against a shipment or custody moves through its states, every
-- change kept. Money is bigint minor units; times the rules decide on are epoch milliseconds (*_ms), passed in.
-- The state names and which may follow which are settlement/shipping_rules.py; the CHECKs below only list them.

-- A shipment: to a buyer after payment, back to a consignor, to or from a lab. `party_id` is the buyer company
-- (to_buyer), the consignor (to_consignor) or the lab (to_lab, from_lab). idem_key makes creation idempotent.
CREATE TABLE shipments (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idem_key       text NOT NULL UNIQUE,
    purpose        text NOT NULL CHECK (purpose IN ('to_buyer', 'to_consignor', 'to_lab', 'from_lab')),
    sale_id        bigint NOT NULL,
    lot_no         int NOT NULL,
    party_id       bigint NOT NULL,
    carrier        text NOT NULL,
    declared_value bigint NOT NULL CHECK (declared_value > 0),
    currency       char(3) NOT NULL,
    created_ms     bigint NOT NULL,
    scheduled_ms   bigint NOT NULL,  -- the scheduled delivery: a missing parcel is counted from here
    FOREIGN KEY (sale_id, lot_no) REFERENCES lots (sale_id, lot_no)
);
CREATE INDEX shipments_lot ON shipments (sale_id, lot_no);

-- The parcels of a shipment (one unless its declared value is above the per-parcel cap), each with its own
-- tracking number and state. `state` is a cache of the last parcel_events row, written in the same transaction.
CREATE TABLE parcels (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    shipment_id    bigint NOT NULL REFERENCES shipments (id),
    parcel_no      int NOT NULL CHECK (parcel_no >= 1),
    declared_value bigint NOT NULL CHECK (declared_value > 0),
    carrier        text NOT NULL,
    tracking_no    text NOT NULL,
    state          text NOT NULL DEFAULT 'created'
        CHECK (state IN ('created', 'collected', 'in_transit', 'delivered_signed', 'exception', 'lost')),
    UNIQUE (shipment_id, parcel_no),
    UNIQUE (carrier, tracking_no)
);

-- A parcel's full tracking history. The same update twice (state and time) is recorded once.
CREATE TABLE parcel_events (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    parcel_id bigint NOT NULL REFERENCES parcels (id),
    state     text NOT NULL,
    at_ms     bigint NOT NULL,
    note      text NOT NULL DEFAULT '',
    UNIQUE (parcel_id, state, at_ms)
);

-- Taking a stone out of its setting, in the house's custody: consent, photos, and its insured value.
CREATE TABLE setting_removals (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idem_key       text NOT NULL UNIQUE,
    sale_id        bigint NOT NULL,
    lot_no         int NOT NULL,
    consignor_id   bigint NOT NULL,
    declared_value bigint NOT NULL CHECK (declared_value > 0),
    currency       char(3) NOT NULL,
    reason         text NOT NULL,
    status         text NOT NULL DEFAULT 'requested'
        CHECK (status IN ('requested', 'consented', 'started', 'completed')),
    requested_ms   bigint NOT NULL,
    consented_by   text,
    consent_ms     bigint,
    started_ms     bigint,
    completed_ms   bigint,
    FOREIGN KEY (sale_id, lot_no) REFERENCES lots (sale_id, lot_no),
    CHECK ((status = 'requested') = (consent_ms IS NULL)),
    CHECK (status NOT IN ('started', 'completed') OR started_ms IS NOT NULL),
    CHECK ((status = 'completed') = (completed_ms IS NOT NULL))
);

-- Photos are kept like vetting documents: media type, size, SHA-256, and the bytes or a path to them.
CREATE TABLE removal_photos (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    removal_id bigint NOT NULL REFERENCES setting_removals (id),
    stage      text NOT NULL CHECK (stage IN ('before', 'after')),
    media_type text NOT NULL,
    size       bigint NOT NULL CHECK (size > 0),
    sha256     bytea NOT NULL,
    content    bytea,
    path       text,
    at_ms      bigint NOT NULL,
    CHECK ((content IS NULL) <> (path IS NULL)),
    UNIQUE (removal_id, stage, sha256)
);

-- An insurance claim against a shipment (optionally one parcel of it) or against custody (a setting removal).
-- `declared_value` is what was insured for what the claim is about (the cap on approval); `payee` is the ledger
-- account of whoever bore the loss, fixed when the claim is filed.
CREATE TABLE claims (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idem_key       text NOT NULL UNIQUE,
    kind           text NOT NULL CHECK (kind IN ('loss', 'theft', 'damage')),
    shipment_id    bigint REFERENCES shipments (id),
    parcel_no      int,
    removal_id     bigint REFERENCES setting_removals (id),
    sale_id        bigint NOT NULL,
    lot_no         int NOT NULL,
    currency       char(3) NOT NULL,
    declared_value bigint NOT NULL CHECK (declared_value > 0),
    payee          text NOT NULL,
    status         text NOT NULL DEFAULT 'filed'
        CHECK (status IN ('filed', 'documents_requested', 'under_review', 'approved', 'paid', 'denied')),
    filed_ms       bigint NOT NULL,
    description    text NOT NULL DEFAULT '',
    approved_amount bigint CHECK (approved_amount > 0 AND approved_amount <= declared_value),
    denial_reason  text,
    approve_txn_id bigint UNIQUE REFERENCES ledger_transactions (id),
    insurer_txn_id bigint UNIQUE REFERENCES ledger_transactions (id),
    payout_txn_id  bigint UNIQUE REFERENCES ledger_transactions (id),
    remit_txn_id   bigint UNIQUE REFERENCES ledger_transactions (id),
    CHECK ((shipment_id IS NULL) <> (removal_id IS NULL)),
    CHECK (parcel_no IS NULL OR shipment_id IS NOT NULL),
    CHECK ((status IN ('approved', 'paid')) = (approve_txn_id IS NOT NULL AND approved_amount IS NOT NULL)),
    CHECK ((status = 'paid') = (insurer_txn_id IS NOT NULL AND payout_txn_id IS NOT NULL
                                AND remit_txn_id IS NOT NULL)),
    CHECK ((status = 'denied') = (denial_reason IS NOT NULL))
);
CREATE INDEX claims_shipment ON claims (shipment_id);
CREATE INDEX claims_removal ON claims (removal_id);

-- Every state change of a claim, with its time and note (the first row is the filing).
CREATE TABLE claim_events (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    claim_id bigint NOT NULL REFERENCES claims (id),
    status   text NOT NULL,
    at_ms    bigint NOT NULL,
    note     text NOT NULL DEFAULT ''
);
CREATE INDEX claim_events_claim ON claim_events (claim_id);

-- Evidence attached to a claim: proof of value (invoice, appraisal, grading report), photos, a police report.
CREATE TABLE claim_evidence (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    claim_id   bigint NOT NULL REFERENCES claims (id),
    kind       text NOT NULL
        CHECK (kind IN ('invoice', 'appraisal', 'grading_report', 'photo', 'police_report', 'other')),
    media_type text NOT NULL,
    size       bigint NOT NULL CHECK (size > 0),
    sha256     bytea NOT NULL,
    content    bytea,
    path       text,
    at_ms      bigint NOT NULL,
    CHECK ((content IS NULL) <> (path IS NULL)),
    UNIQUE (claim_id, kind, sha256)
);
