-- A buyer company's postal address (its registered office), as its invoices are addressed (issue 15: an invoice
-- names the buyer's company and its address). Asked for in the application from now on; a company that applied
-- before has none ('') until it is given.
ALTER TABLE companies ADD COLUMN address text NOT NULL DEFAULT '';
