-- Protections (kripto/protections.py). The protection that caused a decision, if any: the
-- stop-loss guard counts a market's recent stop-loss exits from here.
ALTER TABLE decisions ADD COLUMN protection text NULL;
CREATE INDEX decisions_by_protection ON decisions (product_id, tick_time DESC)
    WHERE protection IS NOT NULL;

-- The drawdown guard's state per quote currency: the account's peak value, and whether buying
-- is held until it recovers (or someone resumes: `kripto protections resume`).
CREATE TABLE protection_state (
    scope        text        PRIMARY KEY,
    equity_peak  numeric     NULL,
    halted       boolean     NOT NULL DEFAULT false,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
