-- Identity and vetting: buyer companies and their applications, accounts with roles, sessions and API tokens,
-- login throttling, documents, decisions, per-sale registrations with paddle/limit/deposit, and the audit log.
-- The engine's bidder is the buyer COMPANY (companies.id): two representatives of one company are one bidder.

CREATE TABLE companies (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    legal_name          text NOT NULL,
    registration_number text NOT NULL,
    country             char(2) NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    trade_licence       text NOT NULL,
    bourse_membership   text,
    owners              jsonb NOT NULL DEFAULT '[]',  -- [{"name", "share_bp"}]: everyone above 25 %
    bank_reference      text NOT NULL,
    kp_declaration      boolean NOT NULL CHECK (kp_declaration),
    aml_declaration     boolean NOT NULL CHECK (aml_declaration),
    -- pending -> approved | rejected | more_requested; approved <-> suspended (vetting.py's transition table)
    status              text NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'more_requested', 'approved', 'rejected', 'suspended')),
    approved_until      timestamptz,  -- approval lapses after 12 months; checked by the engine on every bid
    created_at          timestamptz NOT NULL DEFAULT now(),
    legacy_bidder_id    bigint,  -- only while this migration converts the old `bidders`; dropped below
    UNIQUE (country, registration_number)
);

-- A consignor who also belongs to a buyer company: that company can't bid on the consignor's lots.
CREATE TABLE consignor_links (
    consignor_id bigint NOT NULL REFERENCES consignors (id),
    company_id   bigint NOT NULL REFERENCES companies (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consignor_id, company_id)
);
CREATE INDEX consignor_links_company ON consignor_links (company_id);

CREATE TABLE accounts (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         text NOT NULL,
    name          text NOT NULL,
    password_hash text,  -- argon2id; NULL: the account can't log in with a password (API tokens only)
    role          text NOT NULL CHECK (role IN ('buyer', 'consignor', 'vetting_officer', 'auctioneer',
                                                'settlement_officer', 'admin')),
    company_id    bigint REFERENCES companies (id),
    consignor_id  bigint REFERENCES consignors (id),
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((role = 'buyer') = (company_id IS NOT NULL)),
    CHECK ((role = 'consignor') = (consignor_id IS NOT NULL))
);
CREATE UNIQUE INDEX accounts_email ON accounts (lower(email));
CREATE INDEX accounts_company ON accounts (company_id) WHERE company_id IS NOT NULL;

-- Browser sessions and API tokens alike: only the SHA-256 of the secret is kept.
CREATE TABLE auth_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id   bigint NOT NULL REFERENCES accounts (id),
    kind         text NOT NULL CHECK (kind IN ('session', 'api')),
    name         text NOT NULL DEFAULT '',
    token_sha256 bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz
);
CREATE INDEX auth_tokens_account ON auth_tokens (account_id);

-- Failed logins per key ("account:<email>" or "ip:<address>"): past a threshold, a lockout that doubles.
CREATE TABLE login_throttle (
    key             text PRIMARY KEY,
    failures        int NOT NULL DEFAULT 0,
    last_failure_at timestamptz NOT NULL DEFAULT now(),
    locked_until    timestamptz
);

CREATE TABLE company_documents (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    company_id   bigint NOT NULL REFERENCES companies (id),
    kind         text NOT NULL,
    filename     text NOT NULL,
    content_type text NOT NULL,
    size         int NOT NULL CHECK (size >= 0),
    sha256       bytea NOT NULL,
    content      bytea NOT NULL,
    uploaded_by  bigint REFERENCES accounts (id),
    uploaded_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (size = length(content))
);
CREATE INDEX company_documents_company ON company_documents (company_id);

-- Every decision on a company, for ever: who, what, why, and the status it led to.
CREATE TABLE company_decisions (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    company_id     bigint NOT NULL REFERENCES companies (id),
    decision       text NOT NULL CHECK (decision IN ('approve', 'reject', 'request_more', 'suspend', 'reinstate')),
    reason         text NOT NULL CHECK (length(reason) > 0),
    status_after   text NOT NULL,
    approved_until timestamptz,
    decided_by     bigint REFERENCES accounts (id),
    decided_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX company_decisions_company ON company_decisions (company_id);

-- Every operator action: who (and in which role), what, on what, why, when.
CREATE TABLE audit_log (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id bigint REFERENCES accounts (id),
    role       text NOT NULL,
    action     text NOT NULL,
    target     text NOT NULL,
    reason     text NOT NULL DEFAULT '',
    details    jsonb NOT NULL DEFAULT '{}',
    at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_at ON audit_log (at);

-- Registrations now belong to a company (the engine's bidder), are asked for, then approved with a paddle,
-- a limit and a deposit requirement. Paddles stay unique in a sale (NULL until approved).
ALTER TABLE registrations
    ADD COLUMN company_id       bigint REFERENCES companies (id),
    ADD COLUMN status           text NOT NULL DEFAULT 'approved'
                                CHECK (status IN ('requested', 'approved', 'refused')),
    ADD COLUMN bid_limit        bigint CHECK (bid_limit > 0),  -- minor units, all-in (premium included)
    ADD COLUMN deposit_required bigint NOT NULL DEFAULT 0 CHECK (deposit_required >= 0),
    ADD COLUMN deposit_received bigint NOT NULL DEFAULT 0 CHECK (deposit_received >= 0),
    ADD COLUMN requested_by     bigint REFERENCES accounts (id),
    ADD COLUMN requested_at     timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN decided_by       bigint REFERENCES accounts (id),
    ADD COLUMN decided_at       timestamptz,
    ADD COLUMN reason           text NOT NULL DEFAULT '';
ALTER TABLE registrations ALTER COLUMN paddle DROP NOT NULL;
ALTER TABLE registrations ADD CONSTRAINT registrations_paddle_when_approved
    CHECK (status <> 'approved' OR (paddle IS NOT NULL AND paddle > 0));

-- Convert the old bidders: each becomes a company of its own, NOT approved (they were never vetted), with a
-- buyer account that can't log in and its old token kept as an API token for a year.
INSERT INTO companies (legal_name, registration_number, country, trade_licence, bank_reference, kp_declaration,
                       aml_declaration, status, legacy_bidder_id)
SELECT company, 'legacy-' || id, 'ZZ', '', '', true, true, 'pending', id FROM bidders;
INSERT INTO accounts (email, name, role, company_id)
SELECT 'legacy-bidder-' || b.id || '@invalid', b.name, 'buyer', c.id
FROM bidders b JOIN companies c ON c.legacy_bidder_id = b.id;
INSERT INTO auth_tokens (account_id, kind, name, token_sha256, expires_at)
SELECT a.id, 'api', 'legacy', b.token_sha256, now() + interval '365 days'
FROM bidders b JOIN companies c ON c.legacy_bidder_id = b.id JOIN accounts a ON a.company_id = c.id;
UPDATE registrations r SET company_id = c.id FROM companies c WHERE c.legacy_bidder_id = r.bidder_id;

ALTER TABLE registrations DROP CONSTRAINT registrations_pkey;
ALTER TABLE registrations DROP COLUMN bidder_id;
ALTER TABLE registrations ALTER COLUMN company_id SET NOT NULL;
ALTER TABLE registrations ADD PRIMARY KEY (sale_id, company_id);
ALTER TABLE companies DROP COLUMN legacy_bidder_id;
DROP TABLE bidders;
ALTER TABLE registrations ALTER COLUMN status SET DEFAULT 'requested';
