"""Many markets ticking every minute on the stack a user runs: the `kripto dev` dev server
(SQLite in a data folder kept across runs, with `kripto dev`'s settings), its embedded
Postgres, and one `kripto worker` process. Each market has a week of rates, so every decision
reads a full week, as it would after a week of running.

For each size it creates the schedules (timed), lets them tick for `--duration` seconds from
the next whole minute, waits for every slot's tick (or the catch-up window), pauses them, waits
for the ticks in flight, and reports, per tick,
the completion lag (its close time less its slot, the second it was scheduled for), the start
lag, ticks that started late (failed TickTooLate, counted by the worker), ticks the server
skipped (expected slots with no tick at all), and each process's memory (PSS) and CPU.

Baseline: none outside the run; the figures are against the targets in the issue (500
markets, p95 completion under 20 s, none skipped).

    .venv/bin/python -m benchmarks.scale [--markets 100,200,500] [--duration 180]
        [--data-dir .kripto/bench/scale-stack]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import product as cartesian
from pathlib import Path

import psutil
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from benchmarks.common import write_json
from kripto.devstack.postgres import EmbeddedPostgres
from kripto.devstack.stack import ensure_database
from kripto.devstack.temporal import TemporalDevServer
from kripto.settings import Settings
from kripto.temporal.schedules import CATCHUP_SECONDS, ensure_schedules, set_paused, tick_offset
from kripto.temporal.search_attributes import ensure_search_attributes
from workflows.ids import schedule_id

TASK_QUEUE = "kripto-scale"
WEEK_MINUTES = 7 * 24 * 60


def markets(count: int) -> list[str]:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    names = ("".join(c) for c in cartesian(letters, repeat=3))
    return [f"{name}-GBP" for name, _ in zip(names, range(count), strict=False)]


async def seed_week(database_url: str, products: list[str]) -> float:
    """A week of minutes up to now for each market that lacks it (kept across runs)."""
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
            " generate_series(date_trunc('minute', now()) - interval '7 days',"
            "   date_trunc('minute', now()) - interval '1 minute', interval '1 minute') AS m"
            " WHERE m > n.newest ON CONFLICT DO NOTHING",
            products,
        )
        await conn.execute("ANALYZE rates")
    finally:
        await conn.close()
    return time.perf_counter() - started


@dataclass
class Usage:
    """CPU seconds and peak memory (PSS, summed) of a process and its children (Postgres is
    many processes)."""

    name: str
    root: psutil.Process
    cpu_start: float = 0.0
    rss_peak: int = 0

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
        rss = 0
        for p in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                # PSS: shared memory (Postgres's shared buffers) counted once across processes.
                rss += p.memory_full_info().pss
        self.rss_peak = max(self.rss_peak, rss)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


async def run_size(
    client: Client,
    settings: Settings,
    count: int,
    duration: float,
    usages: list[Usage],
    worker_log: Path,
) -> dict[str, object]:
    products = markets(count)
    sized = settings.model_copy(update={"products": products})
    seeded = await seed_week(settings.require_database_url(), products)
    created = time.perf_counter()
    await ensure_schedules(client, sized)
    create_seconds = time.perf_counter() - created
    await set_paused(client, sized, False, "scale benchmark")
    # The window: from the next whole minute, `duration` seconds.
    now = datetime.now(UTC)
    window_start = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    window_end = window_start + timedelta(seconds=duration)
    late_lines_before = worker_log.read_text().count("late tick:")
    await asyncio.sleep((window_start - datetime.now(UTC)).total_seconds())
    for u in usages:
        u.cpu_start = u.cpu()
        u.rss_peak = 0
    while datetime.now(UTC) < window_end:
        for u in usages:
            u.sample()
        await asyncio.sleep(2)
    cpu = {u.name: u.cpu() - u.cpu_start for u in usages}
    query = (
        f"WorkflowType = 'RateTickWorkflow' AND TaskQueue = '{TASK_QUEUE}'"
        f" AND StartTime >= '{window_start.isoformat()}'"
    )
    expected_slots = {
        (p.split("-")[0], window_start + timedelta(seconds=tick_offset(p), minutes=k))
        for p in products
        for k in range(int(duration // 60) + 1)
        if window_start + timedelta(seconds=tick_offset(p), minutes=k) < window_end
    }
    # A server that fell behind still starts a slot's tick within its catch-up window (the
    # worker then counts it late): wait for every slot of the window to have its tick, or for
    # the catch-up window to pass (what is still missing then was skipped by the server).
    deadline = window_end + timedelta(seconds=CATCHUP_SECONDS + 10)
    while datetime.now(UTC) < deadline:
        started = {_slot(w.id) async for w in client.list_workflows(query)}
        if expected_slots <= started:
            break
        await asyncio.sleep(5)
    await set_paused(client, sized, True, "scale benchmark done")
    # Ticks started in the window may still be running.
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
    for w in ticks:
        product, slot = _slot(w.id)
        if not window_start <= slot < window_end:
            continue
        seen.add((product, slot))
        start_lag.append((w.start_time - slot).total_seconds())
        if w.status is not None and w.status.name == "COMPLETED" and w.close_time is not None:
            completion.append((w.close_time - slot).total_seconds())
        else:
            failed += 1
    expected = len(expected_slots)
    late_lines = worker_log.read_text().count("late tick:") - late_lines_before
    skipped = max(0, expected - len(seen))
    await asyncio.gather(
        *(client.get_schedule_handle(schedule_id(p)).delete() for p in products),
        return_exceptions=True,
    )
    result = {
        "markets": count,
        "duration_s": duration,
        "seed_week_s": round(seeded, 1),
        "create_schedules_s": round(create_seconds, 2),
        "ticks_expected": expected,
        "ticks_seen": len(seen),
        "ticks_completed": len(completion),
        "ticks_failed_or_late": failed,
        "late_ticks_logged_by_worker": late_lines,
        "skipped_by_server": skipped,
        "completion_lag_s": {
            "p50": round(pct(completion, 0.5), 2),
            "p95": round(pct(completion, 0.95), 2),
            "max": round(max(completion, default=0.0), 2),
        },
        "start_lag_s": {
            "p50": round(pct(start_lag, 0.5), 2),
            "p95": round(pct(start_lag, 0.95), 2),
            "max": round(max(start_lag, default=0.0), 2),
        },
        "cpu_s_per_min": {name: round(v / duration * 60, 1) for name, v in cpu.items()},
        "pss_peak_mb": {u.name: round(u.rss_peak / 2**20) for u in usages},
    }
    return result


def line(r: dict[str, object]) -> str:
    c = r["completion_lag_s"]
    s = r["start_lag_s"]
    return (
        f"{r['markets']:>4} markets: completion lag p50 {c['p50']:5.1f} s  p95 {c['p95']:5.1f} s"  # type: ignore[index]
        f"  max {c['max']:5.1f} s | start lag p95 {s['p95']:5.1f} s"  # type: ignore[index]
        f" | ticks {r['ticks_seen']}/{r['ticks_expected']}, late {r['ticks_failed_or_late']},"
        f" skipped {r['skipped_by_server']} | CPU s/min {r['cpu_s_per_min']}"
        f" | PSS MB {r['pss_peak_mb']} | schedules created in {r['create_schedules_s']} s"
    )


async def main(sizes: list[int], duration: float, data_dir: Path) -> None:
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    postgres = EmbeddedPostgres(data_dir / "postgres")
    server_url = postgres.start()
    temporal = TemporalDevServer(data_dir, port=17833, ui_port=18833)
    worker: subprocess.Popen[bytes] | None = None
    results: list[dict[str, object]] = []
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
            feed="simulated",
            data_dir=data_dir,
        )
        worker_log = data_dir / "worker.log"
        worker_log.touch()
        env = {
            **os.environ,
            "TEMPORAL_ADDRESS": temporal.address,
            "KRIPTO_DATABASE_URL": database_url,
            "KRIPTO_TASK_QUEUE": TASK_QUEUE,
            "KRIPTO_FEED": "simulated",
            "KRIPTO_DATA_DIR": str(data_dir),
            "KRIPTO_PRODUCTS": ",".join(markets(max(sizes))),
        }
        with worker_log.open("ab") as log:
            worker = subprocess.Popen(  # noqa: ASYNC220 (started once, before the runs)
                [sys.executable, "-m", "kripto", "worker"],
                env=env,
                cwd=data_dir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        assert temporal.process is not None
        usages = [
            Usage("worker", psutil.Process(worker.pid)),
            Usage("temporal", psutil.Process(temporal.process.pid)),
            Usage("postgres", psutil.Process(_postmaster(postgres))),
        ]
        for count in sizes:
            print(f"{count} markets for {duration:.0f} s ...", flush=True)
            result = await run_size(client, settings, count, duration, usages, worker_log)
            print(line(result), flush=True)
            results.append(result)
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(30)
        temporal.stop()
        postgres.stop()
    print("target: 500 markets, p95 completion lag < 20 s, none skipped")
    write_json("scale", {"data_dir": str(data_dir), "runs": results})


def _slot(workflow_id: str) -> tuple[str, datetime]:
    """(market base, slot) from `rate-tick-<BASE>-GBP-<slot>`."""
    base_and_quote, _, stamp = workflow_id.removeprefix("rate-tick-").rpartition("-GBP-")
    slot = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return base_and_quote, slot


def _postmaster(postgres: EmbeddedPostgres) -> int:
    pid_file = postgres.pgdata / "postmaster.pid"
    return int(pid_file.read_text().splitlines()[0])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markets", default="100,200,500", help="sizes, comma-separated")
    parser.add_argument("--duration", type=float, default=180.0, help="seconds per size")
    parser.add_argument("--data-dir", type=Path, default=Path(".kripto/bench/scale-stack"))
    args = parser.parse_args()
    sizes = [int(s) for s in args.markets.split(",")]
    asyncio.run(main(sizes, args.duration, args.data_dir))
