-- A /buy or /sell waiting for its Confirm (kripto/notify/bot.py): the button carries only the
-- row's opaque ID; the trade, the person who may confirm it and its expiry live here.
CREATE TABLE IF NOT EXISTS telegram_confirmations (
    id text PRIMARY KEY,
    -- The Telegram user who asked: only they may press Confirm.
    user_id bigint NOT NULL,
    chat_id bigint NOT NULL,
    side text NOT NULL CHECK (side IN ('buy', 'sell')),
    amount numeric NOT NULL,
    product_id text NOT NULL,
    -- The /buy or /sell's update: the trade's key, so Confirm pressed twice is one trade.
    asked_update bigint NOT NULL,
    expires_at timestamptz NOT NULL,
    -- Set by Cancel: the button no longer trades.
    cancelled_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS telegram_confirmations_expires_at
    ON telegram_confirmations (expires_at);
