"""What the benchmarks share: a real dev server, a throwaway embedded Postgres, and timing."""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from kripto.devstack.binaries import find_binary
from kripto.devstack.postgres import EmbeddedPostgres
from kripto.devstack.temporal import THROUGHPUT_ARGS
from kripto.temporal.search_attributes import ensure_search_attributes

#: `kripto dev`'s server settings that apply to an in-memory server (not the SQLite pragmas).
IN_MEMORY_ARGS = [
    value
    for flag, value in zip(THROUGHPUT_ARGS[::2], THROUGHPUT_ARGS[1::2], strict=True)
    for value in (flag, value)
    if flag == "--dynamic-config-value"
]


@dataclass
class Timings:
    name: str
    seconds: list[float]

    @property
    def p50(self) -> float:
        return statistics.median(self.seconds)

    @property
    def p95(self) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]

    @property
    def p99(self) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]

    def summary(self) -> dict[str, float]:
        """Milliseconds, for the JSON a benchmark writes."""
        return {
            "runs": len(self.seconds),
            "p50_ms": round(self.p50 * 1000, 3),
            "p95_ms": round(self.p95 * 1000, 3),
            "p99_ms": round(self.p99 * 1000, 3),
            "max_ms": round(max(self.seconds) * 1000, 3),
        }

    def line(self, baseline: Timings | None = None) -> str:
        text = f"{self.name:<40} p50 {self.p50 * 1000:7.1f} ms   p95 {self.p95 * 1000:7.1f} ms"
        if baseline is not None:
            text += f"   {self.p50 / baseline.p50:5.2f}x the baseline"
        return text


def write_json(name: str, data: dict[str, object]) -> Path:
    """Every benchmark's figures as JSON in KRIPTO_BENCH_DIR (default .kripto/bench/NAME.json),
    so a run can be compared with the next one."""
    folder = Path(os.environ.get("KRIPTO_BENCH_DIR", ".kripto/bench"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps({"benchmark": name, "at": time.time(), **data}, indent=2) + "\n")
    print(f"figures written to {path}")
    return path


async def timed(name: str, runs: int, once: Callable[[int], Awaitable[object]]) -> Timings:
    seconds = []
    for i in range(runs):
        start = time.perf_counter()
        await once(i)
        seconds.append(time.perf_counter() - start)
    return Timings(name, seconds)


@asynccontextmanager
async def dev_stack() -> AsyncIterator[tuple[WorkflowEnvironment, str]]:
    folder = Path(tempfile.mkdtemp(prefix="kripto-bench-"))
    pg = EmbeddedPostgres(folder / "pg")
    url = pg.start()
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=find_binary("temporal"),
        dev_server_log_level="error",
        # The settings `kripto dev` runs its server with (those that apply in memory).
        dev_server_extra_args=IN_MEMORY_ARGS,
    )
    await ensure_search_attributes(env.client, env.client.namespace)
    try:
        yield env, url
    finally:
        await env.shutdown()
        pg.stop()
