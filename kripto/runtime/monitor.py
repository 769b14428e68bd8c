"""What the worker watches while it runs: the gauges (sampled every 15 s from Postgres and the
schedules) and the answer to /healthz."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import Client
from temporalio.common import WorkerDeploymentVersion
from temporalio.worker import Worker

from kripto.db import Database
from kripto.db.monitoring import newest_rate_times, open_differences, ping, unsettled_trades
from kripto.ids import DEFAULT_TASK_QUEUE, schedule_id
from kripto.metrics import Metrics
from kripto.runtime.deployments import build_pollers, describe_deployment
from kripto.runtime.kill_switch import KillSwitch

log = logging.getLogger(__name__)

SAMPLE_EVERY = timedelta(seconds=15)
#: How long /healthz waits for Temporal or Postgres before calling it unreachable.
CHECK_TIMEOUT = 3.0


class Monitor:
    def __init__(
        self,
        client: Client,
        db: Database,
        metrics: Metrics,
        products: Sequence[str],
        worker: Worker,
        deployment: WorkerDeploymentVersion | None = None,
        task_queue: str = DEFAULT_TASK_QUEUE,
    ) -> None:
        """`deployment`: this worker's version, when it uses Worker Versioning."""
        self.client = client
        self.deployment = deployment
        self.db = db
        self.metrics = metrics
        self.products = list(products)
        self.worker = worker
        self.kill_switch = KillSwitch(client, task_queue=task_queue)

    async def _rate_ages(self, now: datetime) -> dict[str, float | None]:
        newest = await newest_rate_times(self.db, self.products)
        return {
            p: None if newest.get(p) is None else (now - newest[p]).total_seconds()  # type: ignore[operator]
            for p in self.products
        }

    async def sample(self) -> None:
        """Set every gauge once. A product with no rate yet has no age (the series is absent)."""
        now = datetime.now(UTC)
        for product, age in (await self._rate_ages(now)).items():
            if age is not None:
                self.metrics.newest_rate_age(product, age)
        unsettled = await unsettled_trades(self.db)
        oldest = (now - unsettled.oldest).total_seconds() if unsettled.oldest else 0.0
        self.metrics.unsettled_trades(unsettled.count, max(oldest, 0.0))
        # The products share their exchange's schedule: one describe for all of them.
        since: dict[str, datetime | None] = {}
        for product in self.products:
            sid = schedule_id(product, self.kill_switch.task_queue)
            if sid not in since:
                since[sid] = await self.kill_switch.engaged_since(product)
            self.metrics.kill_switch(product, since[sid])
        self.metrics.reconcile_differences(await open_differences(self.db))

    async def run(self, stop: asyncio.Event, every: timedelta = SAMPLE_EVERY) -> None:
        """Sample until `stop` is set. A failed sample (Postgres down) is one warning line; the
        gauges keep their last values and the next sample tries again."""
        while not stop.is_set():
            try:
                await self.sample()
            except Exception as exc:  # Postgres or Temporal unreachable for now
                log.warning("cannot sample the gauges: %s: %s", type(exc).__name__, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every.total_seconds())

    async def routing(self) -> tuple[bool, dict[str, Any]]:
        """Whether the deployment has a current build with workers polling: without one, every
        new tick and trade waits, whatever this worker's own state (a new build's worker polls
        happily while the build that takes the work has gone)."""
        if self.deployment is None:
            return True, {"versioning": False}
        name, task_queue = self.deployment.deployment_name, self.worker.task_queue
        body: dict[str, Any] = {"name": name, "build": self.deployment.build_id}
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                described = await describe_deployment(self.client, name)
                routing = described.worker_deployment_info.routing_config if described else None
                current = routing.current_deployment_version.build_id if routing else ""
                pollers = len(await build_pollers(self.client, name, current, task_queue))
        except Exception as exc:
            return False, {**body, "error": type(exc).__name__}
        body.update(current=current or None, currentPollers=pollers if current else 0)
        return bool(current) and pollers > 0, body

    async def health(self) -> tuple[bool, dict[str, Any]]:
        """Healthy: the worker is polling, Temporal and Postgres answer, and the deployment has a
        current build with workers polling (`routing`). The newest rate's age is reported, not
        judged: the "no rate for 5 minutes" alert judges it."""
        polling = self.worker.is_running and not self.worker.is_shutdown
        try:
            temporal = await self.client.service_client.check_health(
                timeout=timedelta(seconds=CHECK_TIMEOUT)
            )
            temporal_error = None
        except Exception as exc:
            temporal, temporal_error = False, type(exc).__name__
        try:
            await asyncio.wait_for(ping(self.db), timeout=CHECK_TIMEOUT)
            ages = await asyncio.wait_for(self._rate_ages(datetime.now(UTC)), CHECK_TIMEOUT)
            postgres, postgres_error = True, None
        except Exception as exc:
            postgres, postgres_error, ages = False, type(exc).__name__, {}
        body: dict[str, Any] = {
            "worker": {"polling": polling, "taskQueue": self.worker.task_queue},
            "temporal": {
                "reachable": temporal,
                **({"error": temporal_error} if temporal_error else {}),
            },
            "postgres": {
                "reachable": postgres,
                **({"error": postgres_error} if postgres_error else {}),
            },
            "newestRateAgeSeconds": {
                p: (round(a, 1) if a is not None else None) for p, a in ages.items()
            },
        }
        routed, body["deployment"] = await self.routing()
        return polling and temporal and postgres and routed, body
