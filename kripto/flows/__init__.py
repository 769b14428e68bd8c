"""Each workflow's inputs and results, one small module per flow (ticks, trade, wallet,
backfill, reconcile). Class names are kept as they were in kripto.models: payloads are
serialised by field, so moving a class changes no payload."""
