-- When a live rate was read: a tick's rate stands for its minute (date_time, the start of
-- it), and was fetched some seconds into it. Rates from candles or a CSV have none.
ALTER TABLE rates ADD COLUMN IF NOT EXISTS fetched_at timestamptz;
