-- Login attempts in flight (issue 12, finding 5): an attempt takes a slot on its account's and its address's
-- rows before its password is checked, so however many guesses arrive at once no more are checked than the
-- throttle allows (auction/identity.py). `slot_at`: when a slot was last taken; slots older than a minute were
-- lost with their process and no longer count.
ALTER TABLE login_throttle
    ADD COLUMN in_flight int NOT NULL DEFAULT 0 CHECK (in_flight >= 0),
    ADD COLUMN slot_at   timestamptz;

-- Emails in one spelling (finding 13): trimmed, NFKC, lower-cased character by character, NFKC again, which is
-- auction.identity.normalise_email; accounts are found by equality on it. PostgreSQL lower-cases non-ASCII
-- letters only in a UTF-8 database, so a database that can't is refused here rather than half converted.
DO $$
BEGIN
    IF lower('Ä') <> 'ä' AND EXISTS (SELECT 1 FROM accounts WHERE email ~ '[^\x01-\x7e]') THEN
        RAISE EXCEPTION 'accounts hold non-ASCII emails and this database''s collation does not lower-case them';
    END IF;
END $$;

DROP INDEX accounts_email;  -- unique on lower(email): two rows may meet there on their way to one spelling

-- Two accounts whose emails become one spelling: the older keeps it; a newer one is disabled and its email
-- marked (`duplicate-<id>:<email>`), for an admin to resolve, instead of failing the migration.
WITH spelled AS (
    SELECT id, normalize(lower(normalize(btrim(email), NFKC)), NFKC) AS norm
    FROM accounts
), ranked AS (
    SELECT id, norm, row_number() OVER (PARTITION BY norm ORDER BY id) AS nth FROM spelled
)
UPDATE accounts a
SET email    = CASE WHEN r.nth = 1 THEN r.norm ELSE 'duplicate-' || a.id || ':' || r.norm END,
    disabled = a.disabled OR r.nth > 1
FROM ranked r
WHERE a.id = r.id AND (a.email <> r.norm OR r.nth > 1);

CREATE UNIQUE INDEX accounts_email ON accounts (email);
