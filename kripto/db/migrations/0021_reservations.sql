-- Issue 25: a decision that starts a trade reserves its amount in the same statement that
-- records it (the decisions row, with its trade_id, is the reservation), so the next decision,
-- the daily limit and the cooldown count it at once, before the trade has claimed its key.
-- The reservation ends when the key is claimed (the trade's row counts from then on), or when
-- the trade fails before placing (this column), and in any case after an hour (a trade that
-- never started).
ALTER TABLE decisions ADD COLUMN reservation_ended_at timestamptz;
UPDATE decisions SET reservation_ended_at = now() WHERE trade_id IS NOT NULL;
CREATE INDEX decisions_open_reservations ON decisions (created_at)
    WHERE trade_id IS NOT NULL AND reservation_ended_at IS NULL;
CREATE INDEX decisions_by_trade ON decisions (trade_id) WHERE trade_id IS NOT NULL;
