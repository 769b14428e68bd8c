"""`kripto worker` as real processes, for the tests that stop them (SIGTERM) or kill them
(SIGKILL), and what a workflow's history says about which worker ran each activity."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from temporalio.api.enums.v1 import EventType, TimeoutType
from temporalio.api.failure.v1 import Failure
from temporalio.client import Client

REPO = Path(__file__).resolve().parents[2]
#: The two ways to run a worker, which must behave the same.
KRIPTO_WORKER = [str(Path(sys.executable).with_name("kripto")), "worker"]
PYTHON_WORKER_PY = [sys.executable, "worker.py"]
POLLING = re.compile(r"worker (\S+) polling task queue")


def worker_env(temporal_address: str, **settings: str) -> dict[str, str]:
    """This environment less any Kripto or Temporal settings, plus the given ones."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KRIPTO_", "TEMPORAL_"))}
    env["TEMPORAL_ADDRESS"] = temporal_address
    # Several workers run at once here: none serves metrics or /healthz unless a test asks.
    env.update({"KRIPTO_METRICS_PORT": "0", "KRIPTO_HEALTH_PORT": "0"})
    # Market orders, whose flow these tests follow; maker-first trades have their own tests
    # (tests/workflows/test_trade_maker_first.py) and rest up to a 2-minute window.
    env["KRIPTO_EXECUTION"] = "taker"
    env.update(settings)
    return env


@dataclass
class WorkerProcess:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    @property
    def identity(self) -> str | None:
        """The identity it polls with (and that histories record), once it is polling."""
        match = POLLING.search(self.output())
        return match.group(1) if match else None

    def signal(self, sig: signal.Signals) -> None:
        self.process.send_signal(sig)

    async def exit_code(self, within: float) -> int:
        """Wait for the process to end, polling, at most `within` seconds."""
        async with asyncio.timeout(within):
            while (code := self.process.poll()) is None:
                await asyncio.sleep(0.1)
        return code

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def start_worker(
    name: str, env: dict[str, str], folder: Path, command: list[str] = KRIPTO_WORKER
) -> WorkerProcess:
    log = folder / f"{name}.log"
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    return WorkerProcess(name=name, process=process, log=log)


async def wait_polling(workers: list[WorkerProcess]) -> None:
    """Until each worker says it is polling (or one of them has died), at most 30 s."""
    async with asyncio.timeout(30):
        while any(w.identity is None for w in workers):
            for w in workers:
                if w.process.poll() is not None:
                    raise AssertionError(f"{w.name} exited {w.process.returncode}:\n{w.output()}")
            await asyncio.sleep(0.1)


@dataclass(frozen=True)
class ActivityRun:
    """One activity as its history records it: the attempt that completed it, and which
    worker ran that attempt (the ActivityTaskStarted event is written when it closes)."""

    activity: str
    identity: str
    attempt: int
    #: Why the attempt before this one ended: an error type ("WorkerShutdown"), a timeout
    #: ("START_TO_CLOSE timeout"), or "" on a first attempt.
    last_failure: str


async def activity_runs(client: Client, workflow_id: str) -> list[ActivityRun]:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    scheduled: dict[int, str] = {}
    runs = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            scheduled[event.event_id] = attrs.activity_type.name
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started = event.activity_task_started_event_attributes
            runs.append(
                ActivityRun(
                    activity=scheduled[started.scheduled_event_id],
                    identity=started.identity,
                    attempt=started.attempt,
                    last_failure=describe_failure(started.last_failure),
                )
            )
    return runs


def describe_failure(failure: Failure) -> str:
    if failure.HasField("timeout_failure_info"):
        kind = TimeoutType.Name(failure.timeout_failure_info.timeout_type)
        return f"{kind.removeprefix('TIMEOUT_TYPE_')} timeout"
    if failure.HasField("application_failure_info"):
        return failure.application_failure_info.type or failure.message
    return failure.message
