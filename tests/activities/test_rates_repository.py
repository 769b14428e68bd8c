import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg

from kripto.db import Database
from kripto.db.migrations import migrate, migration_files
from kripto.db.rates import RateRepository
from kripto.models import Rate, RateSource

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def rate(minute: int, price: str, source: RateSource = "coinbase") -> Rate:
    return Rate(rate=Decimal(price), date_time=T0 + timedelta(minutes=minute), source=source)


async def test_insert_is_idempotent_per_product_and_time(db: Database) -> None:
    repo = RateRepository(db)
    assert await repo.insert(rate(0, "8012.92")) is True
    assert await repo.insert(rate(0, "9999.99")) is False
    assert await repo.count("BTC-GBP") == 1
    [stored] = await repo.since("BTC-GBP", T0)
    assert stored.rate == Decimal("8012.92")


async def test_since_returns_oldest_first_with_exact_decimals(db: Database) -> None:
    repo = RateRepository(db)
    for minute, price in [(2, "8000.03"), (0, "8000.01"), (1, "8000.02")]:
        await repo.insert(rate(minute, price, "simulated"))
    rows = await repo.since("BTC-GBP", T0)
    assert [r.rate for r in rows] == [Decimal("8000.01"), Decimal("8000.02"), Decimal("8000.03")]
    assert [r.date_time for r in rows] == [T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)]
    assert {r.source for r in rows} == {"simulated"}
    assert (await repo.latest("BTC-GBP")) == rows[-1]


async def test_migrations_apply_once(database_url: str, db: Database) -> None:
    assert await migrate(database_url) == []
    versions = await db.pool.fetch("SELECT version FROM schema_migrations ORDER BY version")
    assert versions[0]["version"] == "0001_rates"


async def test_workers_starting_at_once_apply_each_migration_once(database_url: str) -> None:
    results = await asyncio.gather(*(migrate(database_url) for _ in range(5)))
    applied = [version for result in results for version in result]
    assert sorted(applied) == [version for version, _ in migration_files()]
    conn = await asyncpg.connect(database_url)
    try:
        count = await conn.fetchval("SELECT count(*) FROM schema_migrations")
    finally:
        await conn.close()
    assert count == len(migration_files())


async def test_history_reads_the_same_prices_as_rates_oldest_first_with_the_newest_decimal(
    db: Database,
) -> None:
    """The decider's arrays hold exactly the floats of the stored Decimals, and the newest
    rate stays a Decimal for the money arithmetic."""
    repo = RateRepository(db)
    prices = ["8000.01", "61234.567891", "0.1", "7999.99", "65432.1"]
    for minute, price in reversed(list(enumerate(prices))):
        await repo.insert(rate(minute * 2, price))
    await repo.insert(rate(20, "1.00"))  # after the end: left out
    end = T0 + timedelta(minutes=8)
    history = await repo.history("BTC-GBP", T0, end)
    assert history.prices.tolist() == [float(Decimal(p)) for p in prices]
    times = [(T0 + timedelta(minutes=2 * i)).timestamp() for i in range(5)]
    assert history.seconds.tolist() == times
    assert (history.newest_time, history.newest_rate) == (end, Decimal("65432.1"))
    assert len(await repo.history("ETH-GBP", T0, end)) == 0
    assert (await repo.history("ETH-GBP", T0, end)).newest_rate is None


async def test_histories_read_many_markets_in_one_query_as_history_reads_each(
    db: Database,
) -> None:
    """The exchange tick's read: the same arrays and newest Decimal per product as `history`,
    an empty history for a product with none, in the order asked."""
    repo = RateRepository(db)
    await repo.insert_many(
        [
            Rate(
                product_id=product,
                rate=Decimal(price) + minute,
                date_time=T0 + timedelta(minutes=minute),
                source="simulated",
            )
            for minute in (3, 1, 0, 2)
            for product, price in (("BTC-GBP", "60000.01"), ("ETH-GBP", "2000.5"))
        ]
    )
    end = T0 + timedelta(minutes=2)
    products = ["ETH-GBP", "SOL-GBP", "BTC-GBP"]
    many = await repo.histories(products, T0, end)
    assert list(many) == products
    for product in products:
        one = await repo.history(product, T0, end)
        assert many[product].prices.tolist() == one.prices.tolist()
        assert many[product].seconds.tolist() == one.seconds.tolist()
        assert (many[product].newest_time, many[product].newest_rate) == (
            one.newest_time,
            one.newest_rate,
        )
    assert many["BTC-GBP"].newest_rate == Decimal("60002.01")
    assert many["ETH-GBP"].prices.tolist() == [2000.5, 2001.5, 2002.5]
    assert len(many["SOL-GBP"]) == 0 and many["SOL-GBP"].newest_rate is None
    indexes = await db.pool.fetch("SELECT indexname FROM pg_indexes WHERE tablename = 'rates'")
    assert "rates_history" in {r["indexname"] for r in indexes}


async def test_a_live_rate_keeps_its_minute_and_when_it_was_read(db: Database) -> None:
    """A tick's rate stands for the start of its minute and was read seconds into it: both are
    kept, the age (/healthz, the metric) counts from the read, and candles have no read time."""
    from kripto.db.monitoring import newest_rate_time, newest_rate_times

    repo = RateRepository(db)
    read = T0 + timedelta(seconds=23)
    live = Rate(rate=Decimal("70000.00"), date_time=T0, source="coinbase", fetched_at=read)
    assert await repo.insert(live)
    assert await repo.since("BTC-GBP", T0) == [live]
    assert live.seed_shape() == {
        "rate": "70000.00",
        "dateTime": "2026-11-24T12:00:00Z",
        "source": "coinbase",
        "fetchedAt": "2026-11-24T12:00:23Z",
    }
    assert await newest_rate_time(db, "BTC-GBP") == read
    candle = Rate(
        rate=Decimal("70001.00"), date_time=T0 + timedelta(minutes=1), source="coinbase-candles"
    )
    await repo.insert_many([candle])
    assert "fetchedAt" not in candle.seed_shape()
    assert await newest_rate_times(db, ["BTC-GBP", "ETH-GBP"]) == {
        "BTC-GBP": T0 + timedelta(minutes=1),  # a candle's age counts from its minute
        "ETH-GBP": None,
    }
