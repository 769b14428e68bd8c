-- Every fill of a trade's orders as the exchange reported it: price, size, fee and whether it
-- made or took liquidity. The receipt, `kripto trades` and the maker-share figures read these.
CREATE TABLE trade_fills (
    fill_id           text        PRIMARY KEY,
    client_order_id   text        NOT NULL REFERENCES trade_orders (client_order_id),
    trade_id          text        NOT NULL,
    exchange_order_id text        NOT NULL,
    price             numeric     NOT NULL CHECK (price > 0),
    size              numeric     NOT NULL CHECK (size > 0),
    fee               numeric     NOT NULL CHECK (fee >= 0),
    liquidity         text        NOT NULL CHECK (liquidity IN ('maker', 'taker')),
    filled_at         timestamptz NOT NULL
);

CREATE INDEX trade_fills_trade ON trade_fills (trade_id, filled_at);
