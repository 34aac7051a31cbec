-- Initial schema. Money is bigint minor units of the sale's currency (never floats); carat weight is integer
-- points (1 ct = 100 points). Times the engine decides on are epoch milliseconds (bigint, *_ms); times we only
-- record for audit are timestamptz.

CREATE TABLE consignors (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name    text NOT NULL,
    company text NOT NULL
);

-- A later vetting issue extends bidder identity; the token itself is never stored, only its SHA-256.
CREATE TABLE bidders (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL,
    company      text NOT NULL,
    token_sha256 bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Sale ids are chosen by the caller (not an identity) so a sale can be named before it is stored.
CREATE TABLE sales (
    id           bigint PRIMARY KEY,
    name         text NOT NULL,
    currency     char(3) NOT NULL,
    format       text NOT NULL CHECK (format IN ('timed', 'live', 'tender')),
    starts_at_ms bigint NOT NULL,
    settings     jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE lots (
    sale_id                bigint REFERENCES sales (id),
    lot_no                 int NOT NULL,
    title                  text NOT NULL,
    consignor_id           bigint REFERENCES consignors (id),
    carat_points           int NOT NULL CHECK (carat_points > 0),
    colour                 text,
    fancy_colour           text,
    clarity                text,
    cut                    text,
    polish                 text,
    symmetry               text,
    fluorescence           text,
    shape                  text NOT NULL,
    measurements           text,
    lab                    text,
    report_number          text,
    report_override_reason text,
    low_estimate           bigint NOT NULL,
    high_estimate          bigint NOT NULL,
    reserve                bigint NOT NULL,
    opening_price          bigint NOT NULL,
    start_ms               bigint NOT NULL,
    end_ms                 bigint NOT NULL,
    details                jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (sale_id, lot_no),
    -- The trade's convention: a reserve above the low estimate would make the published estimate misleading.
    CHECK (reserve <= low_estimate),
    CHECK (low_estimate <= high_estimate)
);

CREATE TABLE registrations (
    sale_id   bigint REFERENCES sales (id),
    bidder_id bigint REFERENCES bidders (id),
    paddle    int NOT NULL,
    PRIMARY KEY (sale_id, bidder_id),
    UNIQUE (sale_id, paddle)
);

-- The record of every lot: one row per engine event, numbered by the engine. Writers replay from Redis after a
-- crash, so the same (sale, lot, seq) can arrive twice; they insert with ON CONFLICT DO NOTHING and the
-- primary key makes the repeat harmless. No foreign key to lots: the record must accept an event even if it
-- arrives before (or without) the catalogue row.
CREATE TABLE lot_events (
    sale_id     bigint NOT NULL,
    lot_no      int NOT NULL,
    seq         bigint NOT NULL,
    type        text NOT NULL,
    at_ms       bigint NOT NULL,
    data        jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sale_id, lot_no, seq)
);
