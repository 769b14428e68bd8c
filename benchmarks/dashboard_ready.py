"""How soon the dashboard draws its chart with a week of minute rates (10,080) and 200 trades,
in headless Chromium: from navigation to the first chart draw (window.kriptoChart.firstDrawMs
set on the frame after the data is drawn), as the test driver sees it (from `goto` to the draw,
Playwright's round trips included) and as the page's own clock does (from its navigation start,
`performance.now()`). The chart data is downsampled to at most 1,500
points per series in SQL, so the week's page should be as quick as the day's.

Baseline in the same run: navigating to a tiny page of the same server (/healthz).

    .venv/bin/python -m benchmarks.dashboard_ready [RUNS]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from benchmarks.common import Timings, dev_stack
from kripto.dashboard.server import serve_dashboard
from kripto.db import connect
from kripto.settings import Settings
from tests.e2e.dashboard_browser import chromium, free_port, store_minute_rates

WEEK = 7 * 24 * 60
TRADES = 200


async def main(runs: int) -> None:
    async with dev_stack() as (env, url):
        settings = Settings(
            database_url=url,
            feed="simulated",
            data_dir=Path(tempfile.mkdtemp(prefix="kripto-bench-dash-")),
            dashboard_port=free_port(),
        )
        db = await connect(url)
        end = await store_minute_rates(db, WEEK)
        for i in range(TRADES):
            at = end - timedelta(minutes=WEEK * i // TRADES)
            trade_id = f"bench-{uuid.uuid4()}"
            await db.pool.execute(
                "INSERT INTO trades (trade_id, exchange_order_id, client_order_id, side,"
                " product_id, funds, filled_size, executed_value, fill_fees, settled, created_at)"
                " VALUES ($1, $1, $1, $2, 'BTC-GBP', 10, 0.0002, 10, 0.05, true, $3)",
                trade_id,
                "buy" if i % 2 else "sell",
                at,
            )
            await db.pool.execute(
                "INSERT INTO decisions (decision_id, product_id, tick_time, action, amount,"
                " strategy, params, indicators, reason, trade_id)"
                " VALUES ($1, 'BTC-GBP', $2, $3, 10, 'rsi', '{}', '{}', 'benchmark', $4)",
                f"decide-{trade_id}",
                at,
                "buy" if i % 2 else "sell",
                trade_id,
            )
        await db.close()
        stop = asyncio.Event()
        up = asyncio.Event()
        server = asyncio.create_task(serve_dashboard(settings, env.client, stop, up.set))
        await up.wait()
        base = settings.dashboard.dashboard_url
        results: dict[str, Timings] = {}
        drawn: dict[str, tuple[int, int]] = {}
        #: With -v: when each resource started and how long it took, in the page's own clock.
        timing_js = (
            "() => JSON.stringify(performance.getEntriesByType('resource').map("
            "e => [e.name.split('/').pop(), Math.round(e.startTime), Math.round(e.duration)]))"
        )
        async with chromium() as browser:

            async def load(name: str, path: str, ready: str | None) -> None:
                seconds: list[float] = []
                in_page: list[float] = []
                for _ in range(runs + 1):  # the first load warms caches and is not counted
                    page = await browser.new_page()
                    start = time.perf_counter()
                    await page.goto(base + path)
                    if ready:
                        await page.wait_for_function(ready, polling="raf")
                    seconds.append(time.perf_counter() - start)
                    if ready:
                        state = await page.evaluate("() => window.kriptoChart")
                        drawn[name] = (state["points"], state["markers"])
                        in_page.append(state["firstDrawMs"] / 1000)
                        if "-v" in sys.argv:
                            print(name, state["firstDrawMs"], await page.evaluate(timing_js))
                    await page.close()
                results[name] = Timings(name, seconds[1:])
                if ready:
                    label = f"  {name}: in-page first draw"
                    results[label] = Timings(label, in_page[1:])

            first_draw = "() => window.kriptoChart && window.kriptoChart.firstDrawMs !== null"
            await load("baseline: a tiny page (/healthz)", "/healthz", None)
            await load("its data alone (/api/state?span=week)", "/api/state?span=week", None)
            await load("dashboard, day span", "/?span=day", first_draw)
            await load("dashboard, week span", "/?span=week", first_draw)
        stop.set()
        await server
    baseline = results.pop("baseline: a tiny page (/healthz)")
    print(f"{runs} loads each; a week of minute rates ({WEEK}) and {TRADES} trades stored")
    print(baseline.line())
    for name, timing in results.items():
        extra = "   ({} points, {} markers drawn)".format(*drawn[name]) if name in drawn else ""
        print(f"{timing.line(baseline)}{extra}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 10))
