"""How long the `decide` activity takes with a full week (10,080 rates) in Postgres: the lock,
the week, the trades, the wallet, the kill switch (asking the real dev server), the default
strategy, the guards and the record, called as the worker calls it.

Baseline in the same run: `SELECT 1` on the same pool. Also printed: the week read as arrays
(what decide does now) and as one `Rate` model per row (what it did before), for where the time
goes.

    .venv/bin/python -m benchmarks.decide_latency [RUNS]
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np

from activities.deciding import WEEK, DecideActivities, DecisionPolicy
from benchmarks.common import dev_stack, timed, write_json
from kripto.composition import risk_from_settings, strategy_from_settings
from kripto.db import connect
from kripto.db.decisions import DecisionRepository
from kripto.db.rates import RateRepository
from kripto.db.trades import TradeRepository
from kripto.exchanges.paper import PaperExchange
from kripto.ids import decide_id
from kripto.models import DecideMarketsInput, Prices, Rate
from kripto.runtime.kill_switch import KillSwitch
from kripto.runtime.schedules import ensure_schedules
from kripto.settings import Settings

PRODUCT = "BTC-GBP"
MINUTES = 7 * 24 * 60  # 10,080


async def main(runs: int) -> None:
    async with dev_stack() as (env, url):
        settings = Settings(database_url=url, task_queue="bench-idle", data_dir=Path("/tmp"))
        await ensure_schedules(env.client, settings)  # so the kill switch has a schedule to read
        db = await connect(url)
        base = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=2)
        walk = 60000 * np.exp(np.cumsum(np.random.default_rng(1).normal(0, 0.0008, MINUTES)))
        rows = [
            (PRODUCT, base - timedelta(minutes=MINUTES - 1 - i), Decimal(f"{p:.2f}"), "simulated")
            for i, p in enumerate(walk)
        ]
        await db.pool.copy_records_to_table(
            "rates", records=rows, columns=["product_id", "date_time", "rate", "source"]
        )
        fee = settings.exchange.taker_fee
        decider = DecideActivities(
            RateRepository(db),
            TradeRepository(db),
            DecisionRepository(db),
            PaperExchange(db, fee_rate=fee, initial_gbp=Decimal("1000.00")),
            DecisionPolicy(
                strategy_from_settings(settings.strategy),
                risk_from_settings(settings.risk, settings.strategy),
                fee,
            ),
            KillSwitch(env.client),
        )
        repo = RateRepository(db)

        def tick(i: int) -> Rate:
            # A new second each run, so each is a new decision (a retry would return early).
            at = base + timedelta(seconds=i + 1)
            return Rate(product_id=PRODUCT, rate=rows[-1][2], date_time=at, source="simulated")

        async def select_1(i: int) -> object:
            return await db.pool.fetchval("SELECT 1")

        async def arrays(i: int) -> object:
            return await repo.history(PRODUCT, base - WEEK, base)

        async def models(i: int) -> object:
            return await repo.since(PRODUCT, base - WEEK, base)

        async def decide(i: int) -> object:
            rate = tick(i)
            prices = Prices.of([rate], rate.date_time, rate.source)
            return await decider.decide_markets(DecideMarketsInput(prices=prices))

        for once in (select_1, arrays, models):
            await once(0)  # warm up the pool and the plans
        await decide(-1)
        baseline = await timed("baseline: SELECT 1 on the same pool", runs, select_1)
        read_arrays = await timed("the week as arrays (decide's read)", runs, arrays)
        read_models = await timed("the week as Rate models (the old read)", runs, models)
        decided = await timed("decide activity, a full week", runs, decide)
        await decide(runs)
        last = await DecisionRepository(db).get(decide_id(PRODUCT, tick(runs).date_time))
        assert last is not None
        await db.close()
    print(f"{runs} runs each, sequential; {MINUTES:,} rates; strategy {settings.strategy.strategy}")
    print(f"(last decision: {last.reason})")
    for t in (baseline, read_arrays, read_models, decided):
        print(f"{t.name:<40} p50 {t.p50 * 1000:7.2f} ms   p99 {t.p99 * 1000:7.2f} ms")
    print(f"target: decide p99 < 30 ms: {'met' if decided.p99 < 0.030 else 'MISSED'}")
    write_json(
        "decide_latency",
        {
            "rates": MINUTES,
            "strategy": settings.strategy.strategy,
            "baseline_select_1": baseline.summary(),
            "read_week_arrays": read_arrays.summary(),
            "read_week_models": read_models.summary(),
            "decide": decided.summary(),
        },
    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
