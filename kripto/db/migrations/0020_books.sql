-- Issue 25, the books' last holes.

-- When the books learned a trade settled: no earlier than its fill, and before any baseline a
-- reconciliation took after it (a baseline is taken only when nothing is unsettled). Expected
-- balances count a trade by this (its fill), not by when its order was created.
ALTER TABLE trades ADD COLUMN settled_at timestamptz;
UPDATE trades SET settled_at = recorded_at WHERE settled;

CREATE FUNCTION trades_settled_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.settled AND NEW.settled_at IS NULL THEN
        NEW.settled_at := coalesce(CASE WHEN TG_OP = 'UPDATE' THEN OLD.settled_at END, now());
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER trades_settled_at BEFORE INSERT OR UPDATE ON trades
    FOR EACH ROW EXECUTE FUNCTION trades_settled_at();

-- A trade row left unsettled past the reconcile grace is a difference of its own.
ALTER TABLE reconcile_differences DROP CONSTRAINT reconcile_differences_kind_check;
ALTER TABLE reconcile_differences ADD CONSTRAINT reconcile_differences_kind_check
    CHECK (kind IN ('missing_from_books', 'unknown_to_exchange', 'mismatch', 'balance',
                    'unsettled'));

-- Who took a currency's baseline, and why: the reconciler's first look, or a person's rebase
-- (`kripto reconcile --rebase --reason TEXT`) after a deposit or a withdrawal.
ALTER TABLE balance_baselines ADD COLUMN taken_by text NOT NULL DEFAULT 'reconciler';
ALTER TABLE balance_baselines ADD COLUMN reason text NOT NULL DEFAULT 'first look';

-- Every rebase, kept: the baseline it replaced and the one it took.
CREATE TABLE balance_rebases (
    id         bigserial   PRIMARY KEY,
    currency   text        NOT NULL,
    previous   numeric,
    balance    numeric     NOT NULL,
    taken_at   timestamptz NOT NULL,
    taken_by   text        NOT NULL,
    reason     text        NOT NULL
);

-- What the reconciler did to a trade row it did not write: completed it from the exchange's
-- settled order, or closed it (the row removed, its key kept claimed) because the exchange
-- ended its order with nothing filled.
CREATE TABLE reconcile_outcomes (
    trade_id  text        PRIMARY KEY,
    outcome   text        NOT NULL CHECK (outcome IN ('completed', 'closed_unfilled')),
    detail    text        NOT NULL,
    at        timestamptz NOT NULL DEFAULT now()
);

-- Trades a person abandoned (`kripto trade abandon KEY --reason TEXT`): the workflow ended,
-- the row left to the reconciler.
CREATE TABLE trade_abandons (
    trade_id      text        PRIMARY KEY,
    reason        text        NOT NULL,
    abandoned_by  text        NOT NULL,
    at            timestamptz NOT NULL DEFAULT now()
);
