-- How a trade was executed (market, or maker-first) and what happened that a person should
-- read: a remainder skipped, a stale quote held, maker orders refused for clock skew.
ALTER TABLE trades ADD COLUMN execution text NOT NULL DEFAULT 'taker'
    CHECK (execution IN ('taker', 'maker_first'));
ALTER TABLE trades ADD COLUMN outcome text;
