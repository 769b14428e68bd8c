"""Timeouts and retry policies, named for what they protect."""

from datetime import timedelta

from temporalio.common import RetryPolicy

#: A tick's price is only worth reading within its minute: retry quickly, then give up
#: (FETCH_RATE_DEADLINE), so a rate is never stamped with a minute long after it was read.
FETCH_RATE_TIMEOUT = timedelta(seconds=15)
FETCH_RATE_DEADLINE = timedelta(seconds=50)
FETCH_RATE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
)

#: A scheduled tick that starts later than this after its slot is counted, logged and failed
#: (TickTooLate) instead of reading a price for a minute long gone.
LATE_TICK_AFTER = timedelta(seconds=60)
REPORT_TIMEOUT = timedelta(seconds=10)

#: A fetched rate must not be lost: keep trying until Postgres takes it (no attempt limit).
WRITE_RATE_TIMEOUT = timedelta(seconds=15)
WRITE_RATE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)

#: Placing: no attempt limit, since once the key is claimed an order may exist and only the
#: exchange's verdict ends the trade (429s, 5xx, any HTTP error, dropped connections and Postgres
#: are retried with backoff). Before the claim the activity itself gives up after
#: activities.trading.PRE_CLAIM_ATTEMPTS, and the typed errors that retrying cannot fix (bad
#: input, insufficient funds, a refused create, bad credentials) fail at once.
EXCHANGE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)
#: Once the order exists only the exchange can end the trade: keep asking, however long.
SETTLE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)
#: Each `await_settlement` call polls for up to a minute; after this many calls the trade
#: continues as a new run, which carries its order and goes straight back to waiting, so a long
#: wait keeps a small history.
SETTLE_ROUNDS_PER_RUN = 100
