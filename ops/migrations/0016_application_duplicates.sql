-- Applications that name what another already holds (issue 12, finding 15; auction/vetting/duplicates.py). A
-- registration number no longer has to be unique: an impostor who applied first with a real company's number used
-- to block that company, and the refusal told a stranger the number was on file. Clashes are flagged instead, for
-- a vetting officer to resolve; a company can't be approved while another of its country with the same number (as
-- bank_mark compares it) holds an approval, or while a flag of its own is open.
ALTER TABLE companies DROP CONSTRAINT IF EXISTS companies_country_registration_number_key;
CREATE INDEX companies_registration ON companies (country, bank_mark(registration_number));

CREATE TABLE application_duplicates (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    company_id       bigint NOT NULL REFERENCES companies (id),  -- the application that clashed
    kind             text NOT NULL CHECK (kind IN ('registration_number', 'email')),
    other_company_id bigint REFERENCES companies (id),  -- who has the number, or whose account has the email
    other_account_id bigint REFERENCES accounts (id),
    email            text,  -- kind email: the representative's, who got no account, and their name
    name             text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    resolved_at      timestamptz,
    resolved_by      bigint REFERENCES accounts (id),
    resolution       text NOT NULL DEFAULT '',
    CHECK ((kind = 'email') = (email IS NOT NULL AND name IS NOT NULL)),
    CHECK ((resolved_at IS NULL) = (resolved_by IS NULL))
);
CREATE INDEX application_duplicates_company ON application_duplicates (company_id);
CREATE INDEX application_duplicates_other ON application_duplicates (other_company_id);
