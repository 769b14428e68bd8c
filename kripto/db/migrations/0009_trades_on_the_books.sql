-- A trade is on the books from the moment its key is claimed: the claim writes its row, in the
-- same transaction, before the exchange has named its order. Until then the order ID is unknown.
ALTER TABLE trades ALTER COLUMN exchange_order_id DROP NOT NULL;
