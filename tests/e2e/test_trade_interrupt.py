"""Ctrl-C never hides a trade: `kripto trade` in a real terminal (a pty, so the terminal's own
^C sends SIGINT to it) says the key before it starts anything, and on Ctrl-C while the order
waits to settle (the fake Coinbase server holds it open) prints one line naming the key and the
commands that show it and wait for it again, with no traceback and no SDK warnings. The trade
runs on in the worker; `kripto trade status KEY` shows it, and `kripto trade` with the same key
attaches to it: one order, one trade row."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import pty
import re
import select
import socket
import subprocess
import sys
import termios
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from kripto.db import Database
from kripto.runtime.worker import run_worker
from kripto.settings import Settings
from tests.fakes.coinbase_fixtures import FakeCoinbaseProcess, start_fake_coinbase_process
from workflows.trade import TradeWorkflow

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture
def fake_exchange(tmp_path: Path) -> Iterator[FakeCoinbaseProcess]:
    fake = start_fake_coinbase_process(tmp_path)
    yield fake
    fake.stop()


def wait_for(check: object, what: str, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within:g}s: {what}")
        time.sleep(0.2)


class Terminal:
    """A command on a pty of its own, as its controlling terminal: what it prints, and keys
    typed at it (^C is turned into SIGINT by the terminal, not by this test)."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.fd, tty = pty.openpty()
        self.process = subprocess.Popen(
            argv,
            cwd=REPO,
            env=env,
            stdin=tty,
            stdout=tty,
            stderr=tty,
            start_new_session=True,  # a session of its own, whose controlling terminal is tty
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
        os.close(tty)
        self.output = b""

    def read_until(self, pattern: str, within: float = 30) -> str:
        deadline = time.monotonic() + within
        while not re.search(pattern, self.text):
            if time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} within {within:g}s in {self.text!r}")
            self._read()
        return self.text

    def type(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def wait(self, within: float = 30) -> int:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            self._read()
            code = self.process.poll()
            if code is not None:
                while self._read():
                    pass
                os.close(self.fd)
                return code
        raise AssertionError(f"still running after {within:g}s: {self.text!r}")

    def _read(self) -> bool:
        ready, _, _ = select.select([self.fd], [], [], 0.2)
        if not ready:
            return False
        try:
            chunk = os.read(self.fd, 4096)
        except OSError:  # the child has gone and closed the terminal
            return False
        self.output += chunk
        return bool(chunk)

    @property
    def text(self) -> str:
        return ANSI.sub("", self.output.decode(errors="replace")).replace("\r\n", "\n")


def kripto(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kripto", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_ctrl_c_names_the_trade_which_completes_and_is_attached_to_again(
    dev_server_env: WorkflowEnvironment,
    fake_exchange: FakeCoinbaseProcess,
    settings: Settings,
    db: Database,
    task_queue: str,
    tmp_path: Path,
) -> None:
    """The worker runs here, as `kripto worker` runs it (run_worker); the commands run in a
    thread, each a process of its own."""
    key_file = tmp_path / "coinbase.pem"
    key_file.write_text(fake_exchange.private_key_pem)
    settings = settings.model_copy(
        update={
            "exchange": "coinbase",
            "feed": "coinbase",
            "coinbase_url": fake_exchange.url,
            "coinbase_api_key_name": fake_exchange.key_name,
            "coinbase_api_private_key_file": key_file,
            "metrics_port": 0,
            "health_port": 0,
        }
    )
    client = dev_server_env.client
    stop = asyncio.Event()
    fake_exchange.hold_settlement(True)
    worker = asyncio.create_task(run_worker(client, settings, stop))
    try:
        address = client.service_client.config.target_host
        key = await asyncio.to_thread(
            interrupt_then_attach, address, fake_exchange, task_queue, tmp_path
        )
    finally:
        stop.set()
        await worker
    assert [o["client_order_id"] for o in fake_exchange.state()["orders"]] == [key]
    assert await db.pool.fetchval("SELECT count(*) FROM trades WHERE trade_id = $1", key) == 1


def interrupt_then_attach(
    address: str, fake_exchange: FakeCoinbaseProcess, task_queue: str, tmp_path: Path
) -> str:
    """The terminal's side of the test (blocking, so in a thread); returns the trade's key."""
    cli_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("KRIPTO_", "TEMPORAL_"))},
        "TEMPORAL_ADDRESS": address,
        "KRIPTO_TASK_QUEUE": task_queue,
        "KRIPTO_DEPLOYMENT_NAME": task_queue,
        "KRIPTO_DATA_DIR": str(tmp_path),
        "COLUMNS": "100",
    }
    key = str(uuid.uuid4())
    try:
        terminal = Terminal(
            [sys.executable, "-m", "kripto", "trade", "buy", "10.00", "--key", key], cli_env
        )
        # The key is on the screen before the trade starts, then the order is placed and waits.
        terminal.read_until(f"trade {key}: BUY £10.00 BTC-GBP\n")
        wait_for(lambda: fake_exchange.order_count() == 1, "the order placed")
        terminal.type(b"\x03")
        assert terminal.wait() == 130
        print(terminal.text)
        lines = [line.replace("^C", "") for line in terminal.text.splitlines()]
        assert [line for line in lines if line] == [
            f"trade {key}: BUY £10.00 BTC-GBP",
            f"stopped waiting: trade {key} may still complete; `kripto trade status {key}`"
            f" shows it (`kripto trade buy 10.00 --key {key}` waits again)",
        ]

        shown = kripto(cli_env, "trade", "status", key)
        print(shown.stdout)
        assert shown.returncode == 0, shown.stderr
        first, state, hint = shown.stdout.splitlines()
        assert first == f"trade {key}: BUY £10.00 BTC-GBP"
        assert re.fullmatch(r"status: running \(.+\)", state), state
        assert hint == f"to wait for it: kripto trade buy 10.00 --key {key}"

        # The same command again attaches to the running trade: no second order.
        again = subprocess.Popen(
            [sys.executable, "-m", "kripto", "trade", "buy", "10.00", "--key", key, "--json"],
            cwd=REPO,
            env=cli_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        fake_exchange.hold_settlement(False)
        out, err = again.communicate(timeout=60)
        assert again.returncode == 0, err
        order = json.loads(out)
        assert order["settled"] is True and order["clientOrderId"] == key
        assert err.splitlines()[0] == f"trade {key}: BUY £10.00 BTC-GBP"

        shown = kripto(cli_env, "trade", "status", key, "--json")
        print(shown.stdout)
        assert shown.returncode == 0, shown.stderr
        status = json.loads(shown.stdout)
        assert (status["status"], status["order"]["id"], status["error"]) == (
            "completed",
            order["id"],
            None,
        )
        assert status["request"]["amount"] == "10.00"
        unknown = kripto(cli_env, "trade", "status", "no-such-key")
        assert unknown.returncode == 2
        assert unknown.stderr.strip() == (
            "error: KEY: no trade 'no-such-key' in namespace 'default' (a finished trade is"
            " kept for the namespace's retention; `kripto trades` lists every recorded one)"
        )
    finally:
        fake_exchange.hold_settlement(False)
    return key


class Proxy:
    """A loopback TCP proxy to the dev server that can drop every connection at once and
    refuse new ones, as a lost network does."""

    def __init__(self, target: str) -> None:
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._pipe, "127.0.0.1", 0)
        return f"127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers += [writer, up_writer]

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))

    def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.transport.abort()


async def test_a_lost_connection_names_the_trade_in_one_line(
    dev_server_env: WorkflowEnvironment,
    fake_exchange: FakeCoinbaseProcess,
    settings: Settings,
    task_queue: str,
    tmp_path: Path,
) -> None:
    """Temporal stops answering while `kripto trade` waits: after the SDK's own retries, one
    line (exit 1), no traceback, no SDK warning; the trade completes in the worker."""
    key_file = tmp_path / "coinbase.pem"
    key_file.write_text(fake_exchange.private_key_pem)
    settings = settings.model_copy(
        update={
            "exchange": "coinbase",
            "coinbase_url": fake_exchange.url,
            "coinbase_api_key_name": fake_exchange.key_name,
            "coinbase_api_private_key_file": key_file,
            "metrics_port": 0,
            "health_port": 0,
        }
    )
    client = dev_server_env.client
    proxy = Proxy(client.service_client.config.target_host)
    address = await proxy.start()
    stop = asyncio.Event()
    fake_exchange.hold_settlement(True)
    worker = asyncio.create_task(run_worker(client, settings, stop))
    key = str(uuid.uuid4())
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "kripto",
            "trade",
            "buy",
            "10.00",
            "--key",
            key,
            cwd=REPO,
            env={
                **{
                    k: v
                    for k, v in os.environ.items()
                    if not k.startswith(("KRIPTO_", "TEMPORAL_"))
                },
                "TEMPORAL_ADDRESS": address,
                "KRIPTO_TASK_QUEUE": task_queue,
                "KRIPTO_DEPLOYMENT_NAME": task_queue,
                "KRIPTO_DATA_DIR": str(tmp_path),
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        async with asyncio.timeout(30):
            while fake_exchange.order_count() == 0:
                await asyncio.sleep(0.2)
        proxy.cut()
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
        assert (process.returncode, out) == (1, b""), err.decode()
        assert err.decode().splitlines() == [
            f"trade {key}: BUY £10.00 BTC-GBP",
            f"stopped waiting: trade {key} may still complete; `kripto trade status {key}`"
            f" shows it (`kripto trade buy 10.00 --key {key}` waits again)",
        ]
        fake_exchange.hold_settlement(False)
        order = await client.get_workflow_handle_for(TradeWorkflow.run, key).result()
        assert order.settled is True and order.client_order_id == key
    finally:
        fake_exchange.hold_settlement(False)
        stop.set()
        await worker


@pytest.mark.slow
def test_ctrl_c_before_the_trade_started_says_nothing_was_placed(tmp_path: Path) -> None:
    """A Ctrl-C at any moment before the start is asked for, from the command's modules still
    loading (the first half second: Python's import-time log says when typer is in, and the
    trading modules, temporalio among them, are not yet) to a connection to Temporal that never
    answers: one line saying no trade was started, exit 130, never a traceback."""
    silent = socket.socket()  # accepts connections (the backlog) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("KRIPTO_", "TEMPORAL_"))},
        "TEMPORAL_ADDRESS": f"127.0.0.1:{silent.getsockname()[1]}",
        "KRIPTO_DATA_DIR": str(tmp_path),
        "COLUMNS": "100",
    }
    try:
        for moment in ("loading", "connecting"):
            key = str(uuid.uuid4())
            # Loading: Python's import-time log says how far it has got.
            timed = ["-X", "importtime"] if moment == "loading" else []
            command = ["-m", "kripto", "trade", "buy", "10.00", "--key", key]
            terminal = Terminal([sys.executable, *timed, *command], env)
            if moment == "loading":
                terminal.read_until(r"\|\s+typer\n")
                assert "temporalio" not in terminal.text
            else:  # the key is on the screen, the start not asked for yet
                terminal.read_until(f"trade {key}: BUY £10.00 BTC-GBP\n")
            terminal.type(b"\x03")
            code = terminal.wait()
            shown = [
                line.replace("^C", "")
                for line in terminal.text.splitlines()
                if "import time:" not in line
            ]
            print(f"--- Ctrl-C while {moment} ---", *shown, sep="\n")
            assert "Traceback" not in terminal.text and "KeyboardInterrupt" not in terminal.text
            lines = [line for line in shown if line]
            assert lines[-1] == "no trade was started; nothing was placed"
            assert lines[:-1] == (
                [] if moment == "loading" else [f"trade {key}: BUY £10.00 BTC-GBP"]
            )
            assert code == 130
    finally:
        silent.close()
