-- History comes from more than the live feed: Coinbase's public one-minute candles (a backfill)
-- and CSV imports. Each stored rate still says where it came from.
ALTER TABLE rates DROP CONSTRAINT IF EXISTS rates_source_check;
ALTER TABLE rates ADD CONSTRAINT rates_source_check
    CHECK (source IN ('coinbase', 'simulated', 'coinbase-candles', 'csv'));
