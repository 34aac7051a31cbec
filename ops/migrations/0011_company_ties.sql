-- Companies tied to one another (issue 14, DOMAIN.md "Abuse"): a buyer company that shares a beneficial owner, a
-- director or a bank reference with a consignor's company can't bid on that consignor's lots
-- (auction/vetting/relations.py). Owners were in the application already; directors are named there now.
--
-- Each company's people (owners and directors) and its bank reference are kept, normalised, in company_marks by
-- a trigger, whoever writes the company: finding the companies tied to one is then an index lookup, which every
-- standing the engine is given makes.

ALTER TABLE companies ADD COLUMN directors jsonb NOT NULL DEFAULT '[]';  -- ["name", ...], as the application named them

-- A person's name as compared: case, and outer and repeated spaces, ignored ("J.  van Dijk" is "j. van dijk").
CREATE FUNCTION person_mark(name text) RETURNS text LANGUAGE sql IMMUTABLE AS
$$ SELECT lower(regexp_replace(btrim(name), '\s+', ' ', 'g')) $$;

-- A bank reference as compared: letters and digits only, in upper case (an IBAN with or without its spaces).
CREATE FUNCTION bank_mark(reference text) RETURNS text LANGUAGE sql IMMUTABLE AS
$$ SELECT upper(regexp_replace(reference, '[^[:alnum:]]', '', 'g')) $$;

CREATE TABLE company_marks (
    company_id bigint NOT NULL REFERENCES companies (id),
    kind       text NOT NULL CHECK (kind IN ('person', 'bank')),
    mark       text NOT NULL CHECK (mark <> ''),
    PRIMARY KEY (company_id, kind, mark)
);
CREATE INDEX company_marks_mark ON company_marks (kind, mark);

CREATE FUNCTION company_marks_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM company_marks WHERE company_id = NEW.id;
    INSERT INTO company_marks (company_id, kind, mark)
    SELECT DISTINCT NEW.id, marks.kind, marks.mark FROM (
        SELECT 'person' AS kind, person_mark(owner ->> 'name') AS mark FROM jsonb_array_elements(NEW.owners) owner
        UNION ALL
        SELECT 'person', person_mark(director #>> '{}') FROM jsonb_array_elements(NEW.directors) director
        UNION ALL
        SELECT 'bank', bank_mark(NEW.bank_reference)
    ) marks
    WHERE marks.mark IS NOT NULL AND marks.mark <> '';
    RETURN NULL;
END $$;

CREATE TRIGGER companies_marks AFTER INSERT OR UPDATE OF owners, directors, bank_reference ON companies
    FOR EACH ROW EXECUTE FUNCTION company_marks_refresh();

UPDATE companies SET bank_reference = bank_reference;  -- the companies already on file get their marks

-- The shill monitor reads how often a bidder won the lots they bid on in earlier sales: their bids and wins,
-- found by bidder without reading every sale's record.
CREATE INDEX lot_events_bidder ON lot_events (((data ->> 'bidder')::bigint)) WHERE type IN ('BidAccepted', 'LotSold');
