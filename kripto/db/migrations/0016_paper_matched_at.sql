-- How far in time the paper exchange has looked at a resting order's book: the next look
-- replays the price from here (the simulated feed can), so a move through the order between
-- two looks still fills it, even when the next look comes after its end time.
ALTER TABLE paper_orders ADD COLUMN matched_at timestamptz;
