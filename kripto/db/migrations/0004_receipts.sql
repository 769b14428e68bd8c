-- One receipt per trade, keyed by the trade's key: 'sending' before the provider is called,
-- 'sent' once it accepted the message. A 'sent' row is never sent again.
CREATE TABLE receipts (
    trade_id    text        PRIMARY KEY,
    status      text        NOT NULL CHECK (status IN ('sending', 'sent')),
    recipient   text        NOT NULL,
    message_id  text,
    attempts    integer     NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz
);
