-- One decision per tick (its ID derives from the tick), with what it saw and why it chose.
CREATE TABLE decisions (
    decision_id  text        PRIMARY KEY,
    product_id   text        NOT NULL,
    tick_time    timestamptz NOT NULL,
    action       text        NOT NULL CHECK (action IN ('buy', 'sell', 'hold')),
    amount       numeric     NOT NULL CHECK (amount >= 0),
    strategy     text        NOT NULL,
    params       jsonb       NOT NULL,
    indicators   jsonb       NOT NULL,
    reason       text        NOT NULL,
    -- The trade a buy or sell started (its TradeWorkflow ID); NULL for a hold.
    trade_id     text        NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX decisions_by_time ON decisions (tick_time DESC);
CREATE INDEX decisions_by_product_time ON decisions (product_id, tick_time DESC);
