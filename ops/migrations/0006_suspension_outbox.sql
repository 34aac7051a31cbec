-- A suspension settlement decides (two strikes in twelve months) must reach the engine: the company's standing
-- republished in every sale, its bids cancelled in every open lot. Both live in Redis, which the transaction
-- that records the strike can't write atomically with PostgreSQL. So that transaction writes this outbox row,
-- and settlement.suspensions.apply_suspensions works it after each sweep; a crash in between leaves the row
-- pending, and working it again is harmless (see settlement/suspensions.py).
CREATE TABLE suspension_outbox (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    company_id bigint NOT NULL,
    reason     text NOT NULL,
    at_ms      bigint NOT NULL,
    done_ms    bigint,          -- when its standing was published and its bids cancelled everywhere
    outcome    text CHECK (outcome IN ('applied', 'lifted')),  -- lifted: reinstated before it was applied
    lots       int NOT NULL DEFAULT 0,  -- open lots changed by the pass that completed it (a retried one: its last)
    CHECK ((done_ms IS NULL) = (outcome IS NULL))
);
CREATE INDEX suspension_outbox_pending ON suspension_outbox (id) WHERE done_ms IS NULL;

-- A decision on a company taken by the house's own rules rather than an operator: `decided_by` stays empty and
-- this names the system (e.g. 'settlement'). Never both.
ALTER TABLE company_decisions ADD COLUMN decided_by_system text;
ALTER TABLE company_decisions ADD CONSTRAINT company_decisions_one_decider
    CHECK (decided_by IS NULL OR decided_by_system IS NULL);
