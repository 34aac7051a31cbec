-- Sealed-bid tenders (issue 16; auction/tender/): what the house keeps so that no one, itself included, reads a
-- bid before the close. Never the tender's private key: only its public half, and each officer's share of the
-- private key sealed to that officer's own key. Never an amount before the reveal: a bid's amount is in the
-- record sealed to the tender's key (TenderBidSubmitted), and a buyer's copy here sealed to the buyer's key.

-- An operator's officer key: the public half of an X25519 key pair whose private half only the officer holds
-- (their browser, or the file `auction tender keygen` wrote). A tender's shares are sealed to these. A new key
-- replaces the old for tenders made from then on; shares already sealed keep the key they were sealed to.
CREATE TABLE tender_officer_keys (
    account_id    bigint PRIMARY KEY REFERENCES accounts (id),
    public_key    bytea NOT NULL CHECK (length(public_key) = 32),
    registered_at timestamptz NOT NULL DEFAULT now()
);

-- A tender sale's key: the public half bids are sealed to, and how many of its officers' shares rebuild the
-- private half. `revealed_at` once its officers revealed it, and by whom (the officers whose shares opened it).
CREATE TABLE tenders (
    sale_id     bigint PRIMARY KEY REFERENCES sales (id),
    public_key  bytea NOT NULL CHECK (length(public_key) = 32),
    threshold   int NOT NULL CHECK (threshold >= 2),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revealed_at timestamptz,
    revealed_by bigint[]
);

-- Share x of a tender's private key, sealed to officer `officer_id`'s key (`officer_key`, as it was when the
-- share was sealed): only that officer can open it. `share_check` is the SHA-256 of the share's text, to
-- recognise a share given back (and whose it is) before k are in; it rebuilds nothing.
CREATE TABLE tender_shares (
    sale_id      bigint NOT NULL REFERENCES tenders (sale_id),
    x            int NOT NULL CHECK (x BETWEEN 1 AND 255),
    officer_id   bigint NOT NULL REFERENCES accounts (id),
    officer_key  bytea NOT NULL CHECK (length(officer_key) = 32),
    sealed_share text NOT NULL,
    share_check  text NOT NULL,
    PRIMARY KEY (sale_id, x),
    UNIQUE (sale_id, officer_id)
);

-- A buyer's copy of one of their tender bids, sealed to a key only the buyer's client holds (`buyer_key`), so the
-- buyer can read their own bids before the close and the house can't. One per bid (the buyer's client id).
CREATE TABLE tender_bid_copies (
    sale_id      bigint NOT NULL REFERENCES sales (id),
    lot_no       int NOT NULL,
    company_id   bigint NOT NULL REFERENCES companies (id),
    client_id    text NOT NULL,
    commitment   text NOT NULL,
    buyer_key    bytea NOT NULL CHECK (length(buyer_key) = 32),
    sealed       text NOT NULL,
    submitted_ms bigint NOT NULL,
    PRIMARY KEY (sale_id, company_id, client_id)
);
CREATE INDEX tender_bid_copies_lot ON tender_bid_copies (sale_id, lot_no);
