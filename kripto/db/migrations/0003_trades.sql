-- The trade writer's table. The trade's idempotency key (its workflow ID) is the primary key,
-- so recording the same trade twice stores one row.
CREATE TABLE trades (
    trade_id          text        PRIMARY KEY,
    exchange_order_id text        NOT NULL,
    client_order_id   text        NOT NULL,
    side              text        NOT NULL CHECK (side IN ('buy', 'sell')),
    product_id        text        NOT NULL,
    funds             numeric     NOT NULL,
    filled_size       numeric     NOT NULL,
    executed_value    numeric     NOT NULL,
    fill_fees         numeric     NOT NULL,
    settled           boolean     NOT NULL,
    created_at        timestamptz NOT NULL,
    recorded_at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX trades_created_at ON trades (created_at DESC);
