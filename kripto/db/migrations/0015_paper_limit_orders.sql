-- The paper exchange's limit orders (issue 23, maker-first): a post-only order rests on the
-- book until the price trades through its limit, it is cancelled, or its end time passes; an
-- IOC order fills what it can at once. Each fill is its own row, with its liquidity. Orders
-- placed before this migration were market orders that filled at once: they keep the
-- defaults (market, filled) and get their one fill below.
ALTER TABLE paper_orders
    ADD COLUMN order_type  text        NOT NULL DEFAULT 'market'
        CHECK (order_type IN ('market', 'limit_gtd', 'limit_ioc')),
    ADD COLUMN status      text        NOT NULL DEFAULT 'filled'
        CHECK (status IN ('open', 'filled', 'cancelled', 'expired', 'failed')),
    ADD COLUMN post_only   boolean     NOT NULL DEFAULT false,
    ADD COLUMN limit_price numeric     CHECK (limit_price > 0),
    ADD COLUMN end_time    timestamptz,
    ADD COLUMN base_size   numeric     CHECK (base_size > 0),
    -- What a resting order still holds: GBP for a buy, coins for a sell.
    ADD COLUMN held        numeric     NOT NULL DEFAULT 0 CHECK (held >= 0),
    ADD COLUMN note        text;

CREATE INDEX paper_orders_open ON paper_orders (product_id) WHERE status = 'open';

CREATE TABLE paper_fills (
    trade_id   uuid        PRIMARY KEY,
    order_id   uuid        NOT NULL REFERENCES paper_orders (order_id) ON DELETE CASCADE,
    product_id text        NOT NULL,
    side       text        NOT NULL CHECK (side IN ('buy', 'sell')),
    price      numeric     NOT NULL CHECK (price > 0),
    size       numeric     NOT NULL CHECK (size > 0),
    fee        numeric     NOT NULL CHECK (fee >= 0),
    liquidity  text        NOT NULL CHECK (liquidity IN ('maker', 'taker')),
    time       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX paper_fills_order ON paper_fills (order_id, time);

INSERT INTO paper_fills (trade_id, order_id, product_id, side, price, size, fee, liquidity, time)
SELECT order_id, order_id, product_id, side, price, filled_size, fill_fees, 'taker', created_at
FROM paper_orders
WHERE filled_size > 0;
