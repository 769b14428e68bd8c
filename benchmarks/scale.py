"""Many markets ticking every minute on the stack a user runs: the `kripto dev` dev server
(SQLite in a data folder kept across runs, with `kripto dev`'s settings), its embedded
Postgres, one `kripto worker` process, and the fake Coinbase server (tests/fakes) answering
the public prices and counting the requests.

One run from the next whole minute: one schedule and one `ExchangeTickWorkflow` a minute for
all `--markets`, prices in pages of PAGE_SIZE. (The baseline of earlier builds, a tick per
market, ran the retired RateTickWorkflow; its figures are in docs/scaling.md.)

It reports, per minute slot, the completion lag (the tick's close less its slot, the
minute's start), the
start lag, late ticks (failed TickTooLate) and skipped minutes (a slot with no tick at all),
the Coinbase price requests per minute, the history each minute writes per market (every
workflow of the tick, as the server keeps it), the worker's peak RSS and each process's CPU.
Every market has `--history-minutes` of rates before the run, so every decision reads real
arrays.

Targets (issue 17): 2,000 markets, completion p95 under 10 s, no late or skipped minute,
price requests a minute at most ceil(markets / PAGE_SIZE), worker RSS under 400 MB, history
under 1 KB per market per minute.

    .venv/bin/python -m benchmarks.scale [--markets 2000] [--minutes 5]
        [--history-minutes 1440]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import product as cartesian
from pathlib import Path
from typing import Any

import psutil
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from benchmarks.common import write_json
from kripto.devstack.postgres import EmbeddedPostgres
from kripto.devstack.stack import ensure_database
from kripto.devstack.temporal import TemporalDevServer
from kripto.feeds.coinbase import PAGE_SIZE
from kripto.ids import exchange_schedule_id
from kripto.runtime.deployments import make_current
from kripto.runtime.schedules import CATCHUP_SECONDS, ensure_schedules, set_paused
from kripto.runtime.worker import deployment_version
from kripto.settings import Settings
from kripto.temporal.search_attributes import ensure_search_attributes
from tests.fakes.coinbase_fixtures import new_ec_key
from tests.fakes.coinbase_server import FakeCoinbaseServer

TASK_QUEUE = "kripto-scale"


def markets(count: int, prefix: str = "") -> list[str]:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    names = ("".join(c) for c in cartesian(letters, repeat=3))
    return [f"{prefix}{name}-GBP" for name, _ in zip(names, range(count), strict=False)]


async def seed_history(database_url: str, products: list[str], minutes: int) -> float:
    """`minutes` of rates up to now for each market that lacks them (kept across runs)."""
    import asyncpg

    started = time.perf_counter()
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "INSERT INTO rates (product_id, date_time, rate, source)"
            " SELECT p, m, round((60000 + 3000 * sin(extract(epoch FROM m) / 20000.0 + i)"
            "   + 150 * sin(extract(epoch FROM m) / 700.0 * (1 + i % 7)))::numeric, 2), 'simulated'"
            " FROM unnest($1::text[]) WITH ORDINALITY AS t(p, i),"
            " LATERAL (SELECT coalesce(max(date_time), 'epoch') AS newest FROM rates"
            "   WHERE product_id = p) n,"
            " generate_series(date_trunc('minute', now()) - make_interval(mins => $2),"
            "   date_trunc('minute', now()) - interval '1 minute', interval '1 minute') AS m"
            " WHERE m > n.newest ON CONFLICT DO NOTHING",
            products,
            minutes,
        )
        await conn.execute("VACUUM (ANALYZE) rates")  # as autovacuum keeps it over a day
    finally:
        await conn.close()
    return time.perf_counter() - started


@dataclass
class Usage:
    """CPU seconds, peak RSS and peak PSS of a process and its children."""

    name: str
    root: psutil.Process
    cpu_start: float = 0.0
    rss_peak: int = 0
    pss_peak: int = 0

    def processes(self) -> list[psutil.Process]:
        try:
            return [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu(self) -> float:
        total = 0.0
        for p in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    def sample(self) -> None:
        rss = pss = 0
        for p in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                info = p.memory_full_info()
                rss += info.rss
                pss += info.pss
        self.rss_peak = max(self.rss_peak, rss)
        self.pss_peak = max(self.pss_peak, pss)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * (len(ordered) - 1)))] if ordered else 0.0


def stats(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(pct(values, 0.5), 2),
        "p95": round(pct(values, 0.95), 2),
        "max": round(max(values, default=0.0), 2),
    }


async def history_bytes(client: Client, workflow_id: str) -> int:
    with contextlib.suppress(Exception):
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        return sum(event.ByteSize() for event in history.events)
    return 0


@dataclass
class Stack:
    client: Client
    settings: Settings
    fake: FakeCoinbaseServer
    usages: list[Usage]
    worker_log: Path


async def run_window(
    stack: Stack,
    label: str,
    products: list[str],
    minutes: int,
    history_minutes: int,
) -> dict[str, Any]:
    client, fake = stack.client, stack.fake
    sized = stack.settings.model_copy(update={"products": products})
    seeded = await seed_history(sized.general.require_database_url(), products, history_minutes)
    created = time.perf_counter()
    await ensure_schedules(client, sized)
    create_seconds = time.perf_counter() - created
    await set_paused(client, sized, False, f"scale benchmark: {label}")
    now = datetime.now(UTC)
    window_start = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    window_end = window_start + timedelta(minutes=minutes)
    late_before = stack.worker_log.read_text().count("late tick:")
    await asyncio.sleep((window_start - datetime.now(UTC)).total_seconds())
    for u in stack.usages:
        u.cpu_start = u.cpu()
        u.rss_peak = u.pss_peak = 0
    while datetime.now(UTC) < window_end:
        for u in stack.usages:
            u.sample()
        await asyncio.sleep(2)
    cpu = {u.name: u.cpu() - u.cpu_start for u in stack.usages}
    # The window's requests (the schedules tick on until paused: the next minute's are not).
    since, until = window_start.timestamp(), window_end.timestamp()
    requests = fake.price_requests(since, until) + fake.spot_requests(since, until)
    kind = "ExchangeTickWorkflow"
    query = (
        f"WorkflowType = '{kind}' AND TaskQueue = '{TASK_QUEUE}'"
        f" AND StartTime >= '{(window_start - timedelta(seconds=5)).isoformat()}'"
    )
    expected = {("all", window_start + timedelta(minutes=k)) for k in range(minutes)}
    deadline = window_end + timedelta(seconds=CATCHUP_SECONDS + 10)
    while datetime.now(UTC) < deadline:
        started = {_slot(w.id) async for w in client.list_workflows(query)}
        if expected <= started:
            break
        await asyncio.sleep(5)
    await set_paused(client, sized, True, f"scale benchmark: {label} done")
    deadline_s = time.monotonic() + 180
    while time.monotonic() < deadline_s:
        running = [
            w async for w in client.list_workflows(f"{query} AND ExecutionStatus = 'Running'")
        ]
        if not running:
            break
        await asyncio.sleep(3)
    ticks = [w async for w in client.list_workflows(query)]
    completion: list[float] = []
    start_lag: list[float] = []
    failed = 0
    seen: set[tuple[str, datetime]] = set()
    completed_ids: list[str] = []
    for w in ticks:
        key = _slot(w.id)
        if key not in expected:
            continue
        seen.add(key)
        slot = key[1]  # :00 of the tick's minute
        start_lag.append((w.start_time - slot).total_seconds())
        if w.status is not None and w.status.name == "COMPLETED" and w.close_time is not None:
            completion.append((w.close_time - slot).total_seconds())
            completed_ids.append(w.id)
        else:
            failed += 1
    # History a minute writes per market: the tick and its children, sampled.
    sample = completed_ids[:5]
    sizes = []
    for tick_id in sample:
        stamp = tick_id.rsplit("-", 3)[-3:]
        at = "-".join(stamp)
        ids = [tick_id, f"store-rates-coinbase-{at}", f"decide-coinbase-{at}"]
        per_market = len(products)
        total = sum([await history_bytes(client, i) for i in ids])
        sizes.append(total / per_market)
    late_lines = stack.worker_log.read_text().count("late tick:") - late_before
    with contextlib.suppress(Exception):
        await client.get_schedule_handle(exchange_schedule_id("coinbase", TASK_QUEUE)).delete()
    return {
        "label": label,
        "design": "a tick per exchange",
        "markets": len(products),
        "minutes": minutes,
        "history_minutes_per_market": history_minutes,
        "seed_history_s": round(seeded, 1),
        "create_schedules_s": round(create_seconds, 2),
        "slots_expected": len(expected),
        "slots_ticked": len(seen),
        "ticks_completed": len(completion),
        "ticks_failed_or_late": failed,
        "late_ticks_logged_by_worker": late_lines,
        "skipped_minutes": len(expected) - len(seen),
        "completion_from_minute_start_s": stats(completion),
        "start_lag_s": stats(start_lag),
        "price_requests_per_minute": round(requests / minutes, 1),
        "price_requests_bound": math.ceil(len(products) / PAGE_SIZE),
        "history_bytes_per_market_minute": round(sum(sizes) / len(sizes)) if sizes else None,
        "cpu_s_per_min": {name: round(v / minutes, 1) for name, v in cpu.items()},
        "rss_peak_mb": {u.name: round(u.rss_peak / 2**20) for u in stack.usages},
        "pss_peak_mb": {u.name: round(u.pss_peak / 2**20) for u in stack.usages},
    }


def line(r: dict[str, Any]) -> str:
    c = r["completion_from_minute_start_s"]
    return (
        f"{r['label']}: {r['markets']} markets x {r['minutes']} min ({r['design']}):"
        f" completion p50 {c['p50']} s p95 {c['p95']} s max {c['max']} s"
        f" | slots {r['slots_ticked']}/{r['slots_expected']}, late {r['ticks_failed_or_late']},"
        f" skipped {r['skipped_minutes']}"
        f" | price requests/min {r['price_requests_per_minute']}"
        f" (bound {r['price_requests_bound']})"
        f" | history {r['history_bytes_per_market_minute']} B/market/min"
        f" | worker RSS {r['rss_peak_mb']['worker']} MB | CPU s/min {r['cpu_s_per_min']}"
    )


async def main(args: argparse.Namespace) -> int:
    data_dir: Path = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    postgres = EmbeddedPostgres(data_dir / "postgres")
    server_url = postgres.start()
    temporal = TemporalDevServer(data_dir, port=17833, ui_port=18833)
    _, public_pem = new_ec_key()
    fake = FakeCoinbaseServer(public_pem).start()
    fake.price_all = True
    worker: subprocess.Popen[bytes] | None = None
    results: list[dict[str, Any]] = []
    main_products = markets(args.markets)
    try:
        temporal.start()
        database_url = await ensure_database(server_url)
        from kripto.db.migrations import migrate

        await migrate(database_url)
        client = await Client.connect(temporal.address, data_converter=pydantic_data_converter)
        await ensure_search_attributes(client, client.namespace)
        settings = Settings(
            database_url=database_url,
            temporal_address=temporal.address,
            task_queue=TASK_QUEUE,
            feed="coinbase",
            coinbase_url=fake.url,
            data_dir=data_dir,
        )
        worker_log = data_dir / "worker.log"
        worker_log.touch()
        env = {
            **os.environ,
            "TEMPORAL_ADDRESS": temporal.address,
            "KRIPTO_DATABASE_URL": database_url,
            "KRIPTO_TASK_QUEUE": TASK_QUEUE,
            "KRIPTO_FEED": "coinbase",
            "KRIPTO_COINBASE_URL": fake.url,
            "KRIPTO_DATA_DIR": str(data_dir),
        }
        assert temporal.process is not None
        runs = [("exchange tick", main_products, args.minutes)]
        for label, products, minutes in runs:
            if not products:
                continue
            # A worker configured for this run's markets alone (as a user's would be: the
            # paper wallet, the gauges and the schedules all follow KRIPTO_PRODUCTS).
            with worker_log.open("ab") as log:
                worker = subprocess.Popen(  # noqa: ASYNC220 (one per run, before its window)
                    [sys.executable, "-m", "kripto", "worker"],
                    env={**env, "KRIPTO_PRODUCTS": ",".join(products)},
                    cwd=data_dir,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            usages = [
                Usage("worker", psutil.Process(worker.pid)),
                Usage("temporal", psutil.Process(temporal.process.pid)),
                Usage("postgres", psutil.Process(_postmaster(postgres))),
            ]
            # The data folder is kept across runs: route the ticks to this build, not to the
            # build of an earlier run (which no worker polls any more).
            await make_current(client, deployment_version(settings))
            stack = Stack(client, settings, fake, usages, worker_log)
            print(f"{label}: {len(products)} markets for {minutes} min ...", flush=True)
            result = await run_window(stack, label, products, minutes, args.history_minutes)
            print(line(result), flush=True)
            results.append(result)
            worker.terminate()
            worker.wait(30)
            worker = None
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(30)
        fake.close()
        temporal.stop()
        postgres.stop()
    targets = {
        "completion_p95_s_under": 10,
        "late_or_skipped": 0,
        "price_requests_per_minute_at_most": math.ceil(args.markets / PAGE_SIZE),
        "worker_rss_mb_under": 400,
        "history_bytes_per_market_minute_under": 1024,
    }
    print(f"targets: {targets}")
    write_json("scale", {"data_dir": str(data_dir), "runs": results, "targets": targets})
    return 0


def _slot(workflow_id: str) -> tuple[str, datetime]:
    """("all", slot) from `tick-coinbase-<slot>`."""
    stamp = "-".join(workflow_id.rsplit("-", 3)[-3:])
    return "all", datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _postmaster(postgres: EmbeddedPostgres) -> int:
    pid_file = postgres.pgdata / "postmaster.pid"
    return int(pid_file.read_text().splitlines()[0])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markets", type=int, default=2000)
    parser.add_argument("--minutes", type=int, default=5)
    parser.add_argument("--history-minutes", type=int, default=1440)
    parser.add_argument("--data-dir", type=Path, default=Path(".kripto/bench/scale-stack"))
    sys.exit(asyncio.run(main(parser.parse_args())))
