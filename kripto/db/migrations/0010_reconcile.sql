-- The reconciler (kripto/reconcile.py). `found_by` says who put a trade on the books: its own
-- TradeWorkflow ('trade'), or the reconciler, which found the order on the exchange and not on
-- the books ('reconciler').
ALTER TABLE trades ADD COLUMN found_by text NOT NULL DEFAULT 'trade'
    CHECK (found_by IN ('trade', 'reconciler'));

-- Every difference a reconciliation found, one row per (kind, subject: a trade key or a
-- currency). Nothing on the books is ever deleted for a difference: it is flagged here, and
-- marked resolved when a later run no longer sees it.
CREATE TABLE reconcile_differences (
    kind           text        NOT NULL
        CHECK (kind IN ('missing_from_books', 'unknown_to_exchange', 'mismatch', 'balance')),
    subject        text        NOT NULL,
    detail         text        NOT NULL,
    books          numeric,
    exchange       numeric,
    first_seen_at  timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now(),
    resolved_at    timestamptz,
    PRIMARY KEY (kind, subject)
);

-- What the wallet held per currency when the reconciler first looked: the books' expected
-- balance is this plus every settled trade created after `taken_at`.
CREATE TABLE balance_baselines (
    currency  text        PRIMARY KEY,
    balance   numeric     NOT NULL,
    taken_at  timestamptz NOT NULL
);
