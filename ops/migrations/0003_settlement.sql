-- Settlement: the double-entry ledger, invoices, payments, consignor payouts, deposits, strikes, defaults,
-- second-chance offers and passed lots. Money is bigint minor units of the sale's currency. Times that rules
-- decide on are epoch milliseconds (*_ms), passed in by the caller (the settlement clock is an input).

-- Accounts, one per (code, currency). Codes: buyer:<company>, consignor:<id>, deposits:<company>, cash,
-- house:premium, house:commission, house:fees, house:interest, house:shipping, house:insurance, house:forfeits,
-- tax:payable, insurance:receivable, claims:payable. `balance` is a cache of the sum of the account's entries,
-- kept in the same transaction as every posting and checked by `auction settlement reconcile`.
-- Sign convention: debit positive, credit negative; every transaction's entries sum to zero.
CREATE TABLE ledger_accounts (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code     text NOT NULL,
    currency char(3) NOT NULL,
    balance  bigint NOT NULL DEFAULT 0,
    UNIQUE (code, currency)
);

-- idem_key makes every posting idempotent: the same business fact ("lot-sold:<sale>:<lot>") can be posted once.
CREATE TABLE ledger_transactions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idem_key    text NOT NULL UNIQUE,
    kind        text NOT NULL,
    currency    char(3) NOT NULL,
    sale_id     bigint,
    lot_no      int,
    at_ms       bigint NOT NULL,
    memo        text NOT NULL DEFAULT '',
    recorded_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ledger_entries (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    txn_id     bigint NOT NULL REFERENCES ledger_transactions (id),
    account_id bigint NOT NULL REFERENCES ledger_accounts (id),
    amount     bigint NOT NULL CHECK (amount <> 0)
);
CREATE INDEX ledger_entries_txn ON ledger_entries (txn_id);
CREATE INDEX ledger_entries_account ON ledger_entries (account_id);

-- The database refuses an unbalanced transaction at commit, whatever code wrote it: a deferred constraint
-- trigger checks, for every transaction touched, that it has at least two entries and that they sum to zero.
CREATE FUNCTION ledger_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    total bigint;
    n     int;
BEGIN
    SELECT coalesce(sum(amount), 0), count(*) INTO total, n FROM ledger_entries WHERE txn_id = NEW.txn_id;
    IF total <> 0 OR n < 2 THEN
        RAISE EXCEPTION 'ledger transaction % is unbalanced: % entries summing to %', NEW.txn_id, n, total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER ledger_entries_balanced AFTER INSERT ON ledger_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_balanced();

-- The ledger is append-only: a mistake is corrected by a reversing transaction, never by an edit.
CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger entries are append-only' USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();

-- Per-sale settlement terms (settlement.rules.SettlementTerms as JSON); a sale without a row uses the defaults.
CREATE TABLE settlement_terms (
    sale_id bigint PRIMARY KEY REFERENCES sales (id),
    terms   jsonb NOT NULL
);

-- One invoice per buyer (company) per sale. Lines are added as the buyer's lots close.
CREATE TABLE invoices (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sale_id         bigint NOT NULL REFERENCES sales (id),
    buyer_id        bigint NOT NULL,
    currency        char(3) NOT NULL,
    issued_ms       bigint NOT NULL,
    due_ms          bigint NOT NULL,
    status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'paid', 'defaulted')),
    paid_ms         bigint,
    interest_posted bigint NOT NULL DEFAULT 0 CHECK (interest_posted >= 0),
    reminders_sent  int NOT NULL DEFAULT 0,
    UNIQUE (sale_id, buyer_id)
);

CREATE TABLE invoice_lines (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    invoice_id     bigint NOT NULL REFERENCES invoices (id),
    sale_id        bigint NOT NULL,
    lot_no         int NOT NULL,
    source         text NOT NULL CHECK (source IN ('hammer', 'second_chance', 'reaward', 'post_sale')),
    hammer         bigint NOT NULL CHECK (hammer > 0),
    premium        bigint NOT NULL CHECK (premium >= 0),
    shipping       bigint NOT NULL CHECK (shipping >= 0),
    insurance      bigint NOT NULL CHECK (insurance >= 0),
    tax            bigint NOT NULL CHECK (tax >= 0),
    total          bigint NOT NULL,
    consignor_id   bigint NOT NULL,
    commission     bigint NOT NULL CHECK (commission >= 0),
    consignor_fees bigint NOT NULL CHECK (consignor_fees >= 0),
    consignor_net  bigint NOT NULL,
    at_ms          bigint NOT NULL,
    status         text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'voided')),
    txn_id         bigint NOT NULL UNIQUE REFERENCES ledger_transactions (id),
    void_txn_id    bigint UNIQUE REFERENCES ledger_transactions (id),
    CHECK (total = hammer + premium + shipping + insurance + tax),
    CHECK (consignor_net = hammer - commission - consignor_fees),
    CHECK ((status = 'voided') = (void_txn_id IS NOT NULL))
);
-- A lot is billed to at most one buyer at a time: a replayed close can never bill it twice.
CREATE UNIQUE INDEX invoice_lines_one_active ON invoice_lines (sale_id, lot_no) WHERE status = 'active';

CREATE TABLE payments (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    invoice_id  bigint NOT NULL REFERENCES invoices (id),
    amount      bigint NOT NULL CHECK (amount > 0),
    received_ms bigint NOT NULL,
    reference   text NOT NULL UNIQUE,
    txn_id      bigint NOT NULL UNIQUE REFERENCES ledger_transactions (id)
);

CREATE TABLE reminders (
    invoice_id bigint NOT NULL REFERENCES invoices (id),
    n          int NOT NULL,
    at_ms      bigint NOT NULL,
    PRIMARY KEY (invoice_id, n)
);

CREATE TABLE payouts (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    consignor_id bigint NOT NULL,
    sale_id      bigint NOT NULL,
    currency     char(3) NOT NULL,
    amount       bigint NOT NULL CHECK (amount > 0),
    at_ms        bigint NOT NULL,
    txn_id       bigint NOT NULL UNIQUE REFERENCES ledger_transactions (id)
);

CREATE TABLE payout_lines (
    line_id   bigint PRIMARY KEY REFERENCES invoice_lines (id),
    payout_id bigint NOT NULL REFERENCES payouts (id)
);

-- Deposits held for a buyer company: taken (cash in), applied to a loss (forfeit) or refunded (cash out).
CREATE TABLE deposits (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    buyer_id bigint NOT NULL,
    currency char(3) NOT NULL,
    kind     text NOT NULL CHECK (kind IN ('taken', 'forfeited', 'refunded')),
    amount   bigint NOT NULL CHECK (amount > 0),
    at_ms    bigint NOT NULL,
    txn_id   bigint NOT NULL UNIQUE REFERENCES ledger_transactions (id)
);

-- Strikes against a buyer company (non-payment). Suspension goes through settlement.buyers.suspend_buyer.
CREATE TABLE strikes (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    buyer_id bigint NOT NULL,
    sale_id  bigint NOT NULL,
    reason   text NOT NULL,
    at_ms    bigint NOT NULL,
    UNIQUE (buyer_id, sale_id, reason)
);

CREATE TABLE buyer_suspensions (
    buyer_id bigint PRIMARY KEY,
    reason   text NOT NULL,
    at_ms    bigint NOT NULL
);

-- A lot whose buyer defaulted, and what the operator chose to do with it.
CREATE TABLE lot_defaults (
    sale_id     bigint NOT NULL,
    lot_no      int NOT NULL,
    line_id     bigint NOT NULL UNIQUE REFERENCES invoice_lines (id),
    defaulter   bigint NOT NULL,
    at_ms       bigint NOT NULL,
    resolution  text NOT NULL DEFAULT 'pending'
        CHECK (resolution IN ('pending', 'second_chance', 'second_chance_sold', 'reawarded', 'relist', 'cancelled',
                              'unsold')),
    resolved_ms bigint,
    PRIMARY KEY (sale_id, lot_no, line_id)
);

CREATE TABLE second_chance_offers (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sale_id    bigint NOT NULL,
    lot_no     int NOT NULL,
    line_id    bigint NOT NULL REFERENCES invoice_lines (id),  -- the defaulted line the offer replaces
    rank       int NOT NULL,
    buyer_id   bigint NOT NULL,
    amount     bigint NOT NULL CHECK (amount > 0),
    offered_ms bigint NOT NULL,
    expires_ms bigint NOT NULL,
    status     text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'accepted', 'declined', 'expired')),
    UNIQUE (line_id, rank)
);

-- Lots that closed without a sale, and what became of them.
CREATE TABLE passed_lots (
    sale_id     bigint NOT NULL,
    lot_no      int NOT NULL,
    highest_bid bigint NOT NULL,
    at_ms       bigint NOT NULL,
    window_ms   bigint NOT NULL,  -- the post-sale window ends here
    status      text NOT NULL DEFAULT 'post_sale'
        CHECK (status IN ('post_sale', 'sold', 'relist', 'returning', 'returned')),
    PRIMARY KEY (sale_id, lot_no)
);
