-- One row per product per tick. The tick's scheduled time is the key, so a duplicate tick
-- (a retry, a replay, a second worker) stores nothing new.
CREATE TABLE rates (
    product_id  text        NOT NULL,
    date_time   timestamptz NOT NULL,
    rate        numeric     NOT NULL CHECK (rate > 0),
    source      text        NOT NULL CHECK (source IN ('coinbase', 'simulated')),
    stored_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (product_id, date_time)
);
