-- The clerk: the auctioneer's clerk at a live sale's console (takes floor and phone bids, answers online bids,
-- takes back the newest bid). An operator role beside the auctioneer; auction/identity.py's Role names it too.
ALTER TABLE accounts DROP CONSTRAINT accounts_role_check;
ALTER TABLE accounts ADD CONSTRAINT accounts_role_check
    CHECK (role IN ('buyer', 'consignor', 'vetting_officer', 'auctioneer', 'clerk', 'settlement_officer', 'admin'));
