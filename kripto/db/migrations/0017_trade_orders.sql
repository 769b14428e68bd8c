-- Every order a trade sends, one row each, written before the order is sent. The first order of
-- a trade goes under the trade's key as its client order ID; later ones (a re-quote, the taker
-- remainder) under `<key>-2`, `<key>-3`... A row whose order was sent (`sent_at`) names an order
-- that may exist on the exchange, whether or not its ID is known yet: the reconciler attributes
-- any order under these IDs to its trade, and no code releases the trade's claim while one does.
CREATE TABLE trade_orders (
    client_order_id   text        PRIMARY KEY,
    trade_id          text        NOT NULL,
    seq               integer     NOT NULL CHECK (seq >= 1),
    -- market: today's market order; maker: post-only limit GTD; taker: IOC limit (or market)
    -- for a maker trade's remainder.
    kind              text        NOT NULL CHECK (kind IN ('market', 'maker', 'taker')),
    side              text        NOT NULL CHECK (side IN ('buy', 'sell')),
    product_id        text        NOT NULL,
    limit_price       numeric,
    -- The base size asked (a limit order, a market sell), or the quote funds (a market buy).
    size              numeric,
    funds             numeric,
    end_time          timestamptz,
    exchange_order_id text,
    status            text        NOT NULL DEFAULT 'recorded' CHECK (
        status IN ('recorded', 'open', 'filled', 'cancelled', 'expired', 'crossed', 'refused')
    ),
    reason            text,
    filled_size       numeric     NOT NULL DEFAULT 0,
    executed_value    numeric     NOT NULL DEFAULT 0,
    fill_fees         numeric     NOT NULL DEFAULT 0,
    recorded_at       timestamptz NOT NULL DEFAULT now(),
    sent_at           timestamptz,
    ended_at          timestamptz,
    UNIQUE (trade_id, seq)
);

CREATE INDEX trade_orders_exchange_id ON trade_orders (exchange_order_id);
