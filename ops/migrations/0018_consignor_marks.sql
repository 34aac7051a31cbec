-- A consignor's registration number and bank reference (issue 12, finding 16), so that vetting can tell a buyer
-- company that is a consignor's own (auction/vetting/consignor_overlap.py): a consignor who applied as a buyer
-- without signing in was never linked, and their company could bid on their own lots. Empty: not given.
ALTER TABLE consignors
    ADD COLUMN registration_number text NOT NULL DEFAULT '',
    ADD COLUMN bank_reference      text NOT NULL DEFAULT '';
