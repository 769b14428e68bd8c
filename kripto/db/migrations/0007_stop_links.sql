-- Stop links from receipts work once: each used link's ID is stored here when it pauses trading.
CREATE TABLE used_stop_links (
    link_id     text        PRIMARY KEY,
    used_at     timestamptz NOT NULL DEFAULT now(),
    used_by     text        NOT NULL
);
