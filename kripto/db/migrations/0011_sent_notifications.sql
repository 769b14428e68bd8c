-- One row per notification event and channel: the idempotency record that makes a retried,
-- restarted or duplicated notification send nothing twice (kripto/notify/sender.py).
CREATE TABLE IF NOT EXISTS sent_notifications (
    event_key text NOT NULL,
    -- telegram:<chat ID>, or webhook:<style>:<hash of the URL> (the URL is a secret).
    channel text NOT NULL,
    kind text NOT NULL,
    -- sent: the channel took it; refused: it said no for good (unknown chat, 4xx), not retried.
    status text NOT NULL CHECK (status IN ('sent', 'refused')),
    message_id text NOT NULL DEFAULT '',
    detail text NOT NULL DEFAULT '',
    sent_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_key, channel)
);
CREATE INDEX IF NOT EXISTS sent_notifications_sent_at ON sent_notifications (sent_at);
