-- Deposits recorded by their payment reference (issue 12, finding 3): the same wire recorded twice (a retried
-- request, a second officer) used to add up again. Each deposit is one row here, keyed by the company and the
-- bank's reference, so recording it again changes nothing; `registrations.deposit_received` stays the running
-- total, updated in the same transaction as the row. A reference is the company's across sales: one wire can't
-- pay two sales' deposits.
CREATE TABLE registration_deposits (
    company_id  bigint NOT NULL,
    reference   text NOT NULL CHECK (reference <> ''),
    sale_id     bigint NOT NULL,
    amount      bigint NOT NULL CHECK (amount > 0),
    recorded_by bigint NOT NULL REFERENCES accounts (id),
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (company_id, reference),
    FOREIGN KEY (sale_id, company_id) REFERENCES registrations (sale_id, company_id)
);
CREATE INDEX registration_deposits_sale ON registration_deposits (sale_id, company_id);
