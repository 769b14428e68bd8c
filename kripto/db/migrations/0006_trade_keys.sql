-- What each trade key was first used for. A key is claimed just before its order is placed, so
-- a later request under the same key for a different trade (side, amount or product) is refused,
-- as with Stripe's idempotency keys, while an identical request gets the first order back.
CREATE TABLE trade_keys (
    trade_id    text        PRIMARY KEY,
    side        text        NOT NULL CHECK (side IN ('buy', 'sell')),
    amount      numeric     NOT NULL CHECK (amount > 0),
    product_id  text        NOT NULL,
    claimed_at  timestamptz NOT NULL DEFAULT now()
);
