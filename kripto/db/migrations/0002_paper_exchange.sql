-- The paper exchange: balances per currency and the orders placed against them.
-- client_order_id is UNIQUE, so a retried or concurrent placement under the same key can
-- only ever insert one order (and move the balances once, in the same transaction).
CREATE TABLE paper_accounts (
    currency    text        PRIMARY KEY,
    id          uuid        NOT NULL UNIQUE,
    balance     numeric     NOT NULL CHECK (balance >= 0),
    hold        numeric     NOT NULL DEFAULT 0 CHECK (hold >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE paper_orders (
    order_id        uuid        PRIMARY KEY,
    client_order_id text        NOT NULL UNIQUE,
    side            text        NOT NULL CHECK (side IN ('buy', 'sell')),
    product_id      text        NOT NULL,
    funds           numeric     NOT NULL,
    filled_size     numeric     NOT NULL,
    executed_value  numeric     NOT NULL,
    fill_fees       numeric     NOT NULL,
    price           numeric     NOT NULL CHECK (price > 0),
    settled         boolean     NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
