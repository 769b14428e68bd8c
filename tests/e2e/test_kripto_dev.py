"""`kripto dev` as a user runs it: a real process tree (embedded Postgres, the Temporal dev
server, a worker, the schedule) started, used, stopped with SIGTERM, and started again."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import psutil
import pytest

from tests.fakes.spot_server import SpotServer, is_gap

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("KRIPTO_", "TEMPORAL_"))}


def kripto(*args: str, cwd: Path, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kripto", *args],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class DevProcess:
    def __init__(self, cwd: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.log = cwd / f"dev-{time.monotonic_ns()}.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kripto", "dev", *args],
            cwd=cwd,
            env={**clean_env(), "COLUMNS": "200", **(env or {})},
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log.read_text()

    def wait_for(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"{text!r} not printed; output:\n{self.output()}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=60)


@pytest.fixture
def workdir(outside_tmp_path: Path) -> Iterator[Path]:
    """Outside /tmp/pytest-of-<user>: `kripto dev` keeps its Postgres in it (see the fixture)."""
    yield outside_tmp_path
    # Never leave a server behind, whatever the test did.
    for proc in psutil.process_iter(["cmdline"]):
        if any(str(outside_tmp_path) in part for part in proc.info["cmdline"] or []):
            proc.kill()


def stored_rates(cwd: Path) -> list[dict[str, str]]:
    result = kripto("rates", "--json", cwd=cwd)
    assert result.returncode == 0, result.stderr
    rates: list[dict[str, str]] = json.loads(result.stdout)
    return rates


def wait_for_rates(cwd: Path, count: int, timeout: float = 60) -> list[dict[str, str]]:
    deadline = time.monotonic() + timeout
    while True:
        rates = stored_rates(cwd)
        if len(rates) >= count or time.monotonic() > deadline:
            return rates
        time.sleep(1)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.slow
def test_kripto_dev_runs_stores_rates_stops_cleanly_and_keeps_data(workdir: Path) -> None:
    port, ui_port, dash_port, metrics_port, health_port = (free_port() for _ in range(5))
    args = (
        *("--port", str(port), "--ui-port", str(ui_port), "--every", "2s", "--feed", "simulated"),
        *("--dashboard-port", str(dash_port)),
        *("--metrics-port", str(metrics_port), "--health-port", str(health_port)),
    )
    dev = DevProcess(workdir, *args)
    dev.wait_for("Ctrl-C (or SIGTERM) stops everything")
    banner = dev.output()
    assert f"http://127.0.0.1:{ui_port}" in banner
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    assert metrics_url in banner
    assert "kripto-ticks-coinbase (created), every 2s" in banner
    assert "postgresql://" in banner
    # Where receipts go, and when the strategy (DCA, the default: one 1h bar, 60 minutes) can
    # decide.
    assert "Receipts    .eml files in " in banner
    # A week of history before the first tick (no Coinbase here: from the simulated feed), so
    # the first tick decides for a reason of the strategy's, not for want of history.
    assert "History     a week backfilled from the simulated feed (10,080 new minutes" in banner
    assert "Decisions   dca needs 60 minutes of rates" in banner
    # Every stored minute is counted, not just the 60 the strategy needs.
    stored = re.search(r"; ([0-9,]+) stored: it can decide from the first tick", banner)
    assert stored is not None and int(stored[1].replace(",", "")) >= 10_000, banner
    # `kripto rates` summarises the week and shows its newest 20 minutes, not 10,080 lines.
    table = kripto("rates", cwd=workdir)
    assert table.returncode == 0, table.stderr
    assert "Shown: the newest 20 (--all for every one)" in " ".join(table.stdout.split())
    assert len(table.stdout.splitlines()) < 35

    env_file = (workdir / ".kripto" / "dev.env").read_text()
    assert f"TEMPORAL_ADDRESS=127.0.0.1:{port}" in env_file
    assert "KRIPTO_DATABASE_URL=postgresql://" in env_file
    # only where the stack is: the user's own choices stay in .env, which wins anyway
    assert "KRIPTO_EXCHANGE" not in env_file
    assert f"KRIPTO_DASHBOARD_URL=http://127.0.0.1:{dash_port}" in env_file

    # The dashboard: its address and a login URL in the banner; the token stays in the data
    # folder (owner-only), never in dev.env.
    token_file = workdir / ".kripto" / "dashboard-token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    token = token_file.read_text().strip()
    assert token not in env_file
    assert f"Dashboard   http://127.0.0.1:{dash_port}" in banner
    # The token rides in the link's fragment (never sent to a server); sign-in is a POST.
    login = f"http://127.0.0.1:{dash_port}/login#token={token}"
    assert login in banner
    signed_in = httpx.post(f"http://127.0.0.1:{dash_port}/login", data={"token": token}, timeout=10)
    assert signed_in.status_code == 303
    assert "kripto_session" in signed_in.cookies
    assert f"KRIPTO_METRICS_URL={metrics_url}" in env_file
    assert f"KRIPTO_HEALTH_URL=http://127.0.0.1:{health_port}/healthz" in env_file

    rates = wait_for_rates(workdir, 10_080 + 2)
    scraped = httpx.get(metrics_url, timeout=10).text
    assert 'kripto_rates_fetched_total{product="BTC-GBP",source="simulated"}' in scraped
    assert "temporal_workflow_completed_total" in scraped
    health = httpx.get(f"http://127.0.0.1:{health_port}/healthz", timeout=10)
    assert health.status_code == 200 and health.json()["healthy"] is True
    dev.wait_for("tick BTC-GBP ")  # the worker's log lines reach the console
    first_tick = next(line for line in dev.output().splitlines() if "tick BTC-GBP " in line)
    assert "points needed" not in first_tick and "gap" not in first_tick, first_tick
    assert len(rates) >= 10_082, dev.output()
    assert {r["source"] for r in rates} == {"simulated"}
    assert all(isinstance(r["rate"], str) and r["dateTime"].endswith("Z") for r in rates)
    assert [r["dateTime"] for r in rates] == sorted(r["dateTime"] for r in rates)

    ui = httpx.get(f"http://127.0.0.1:{ui_port}/namespaces/default/workflows", timeout=10)
    assert ui.status_code == 200
    assert_browser_doors_closed(dev, ui_port)
    # Owner only: Temporal's history, Postgres and the secrets' files are in it. (Run as root,
    # others may pass through, for the embedded Postgres's own user, but not list it.)
    data_mode = (workdir / ".kripto").stat().st_mode & 0o777
    assert data_mode == (0o711 if os.geteuid() == 0 else 0o700)
    assert {p.name: p.stat().st_mode & 0o777 for p in (workdir / ".kripto").glob("temporal.db*")}[
        "temporal.db"
    ] == 0o600
    assert all(p.stat().st_mode & 0o077 == 0 for p in (workdir / ".kripto").glob("temporal.db*"))

    second = kripto("dev", *args, cwd=workdir)
    assert second.returncode == 2
    assert "already running" in second.stderr

    children = [p.pid for p in psutil.Process(dev.process.pid).children(recursive=True)]
    postmaster = int((workdir / ".kripto/postgres/postmaster.pid").read_text().split()[0])
    assert children, "the Temporal dev server should be a child process"
    assert dev.stop(signal.SIGTERM) == 0, dev.output()[-9000:]
    time.sleep(0.5)
    assert [pid for pid in [*children, postmaster] if alive(pid)] == []

    again = DevProcess(workdir, *args)
    again.wait_for("Ctrl-C (or SIGTERM) stops everything")
    assert "kripto-ticks-coinbase (unchanged)" in again.output()
    after = stored_rates(workdir)
    # What was stored before is still there. (Not necessarily first: the restart's cold start
    # fills any whole minute of the week that is missing, which may fall between the ticks.)
    # `kripto rates` shows the last week: a minute that aged out of it during the restart is
    # not looked for.
    kept = {tuple(sorted(r.items())) for r in after}
    window = min(r["dateTime"] for r in after)
    lost = [r for r in rates if r["dateTime"] >= window and tuple(sorted(r.items())) not in kept]
    assert lost == []
    assert again.stop(signal.SIGINT) == 0


def assert_browser_doors_closed(dev: DevProcess, ui_port: int) -> None:
    """The two attacks a web page could make on `kripto dev`'s Temporal (docs/security.md):
    a cross-site `text/plain` POST to the HTTP API starting a TradeWorkflow or pausing the
    schedule, and a DNS-rebound request to the Web UI (a foreign Host). Both are refused."""
    temporal = next(
        p
        for p in psutil.Process(dev.process.pid).children(recursive=True)
        if "start-dev" in (p.cmdline() or [])
    )
    cmdline = temporal.cmdline()
    http_port = int(cmdline[cmdline.index("--http-port") + 1])
    api = f"http://127.0.0.1:{http_port}/api/v1/namespaces/default"
    cross_site = {"Content-Type": "text/plain", "Origin": "http://evil.example"}
    trade = httpx.post(
        f"{api}/workflows/attack-trade-1",
        headers=cross_site,
        content=json.dumps(
            {
                "workflowType": {"name": "TradeWorkflow"},
                "taskQueue": {"name": "kripto"},
                "input": [{"tradeType": "buy", "amount": "30.00", "productId": "BTC-GBP"}],
            }
        ),
        timeout=10,
    )
    assert (trade.status_code, trade.json()) == (403, {"code": 7, "message": "Host not allowed"})
    pause = httpx.post(
        f"{api}/schedules/kripto-ticks-coinbase/patch",
        headers=cross_site,
        content=json.dumps({"patch": {"pause": "evil"}}),
        timeout=10,
    )
    assert pause.status_code == 403
    # The UI through its proxy: a rebound name gets a 400, a change from another site a 403.
    ui = f"http://127.0.0.1:{ui_port}"
    rebound = httpx.get(
        f"{ui}/namespaces/default/workflows",
        headers={"Host": f"evil.example:{ui_port}"},
        timeout=10,
    )
    assert (rebound.status_code, rebound.text) == (400, "Invalid host header")
    forged = httpx.post(
        f"{ui}/api/v1/namespaces/default/schedules/kripto-ticks-coinbase/patch",
        headers={"Origin": "http://evil.example", "Content-Type": "application/json"},
        content=json.dumps({"patch": {"unpause": "evil"}}),
        timeout=10,
    )
    assert forged.status_code == 403
    assert forged.text == "refused: a request from http://evil.example is not from the Temporal UI"


def test_kripto_dev_refuses_a_live_exchange_with_one_line(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "KRIPTO_EXCHANGE=coinbase\nKRIPTO_FEED=coinbase\n"
        "KRIPTO_COINBASE_API_KEY_NAME=organizations/o/apiKeys/k\n"
        "KRIPTO_COINBASE_API_PRIVATE_KEY=not-a-real-key\n"
    )
    result = kripto("dev", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: kripto dev trades on paper only: KRIPTO_EXCHANGE=coinbase is refused (its"
        " Temporal, dashboard and bot are for one machine; run `kripto worker` against your own"
        " Temporal to trade live)"
    ]
    assert not (tmp_path / ".kripto").exists()


@pytest.mark.slow
def test_bad_settings_stop_with_one_line_naming_the_setting(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("KRIPTO_PRODUCTS=bitcoin\n")
    result = kripto("config", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: KRIPTO_PRODUCTS: product 'bitcoin' must look like BASE-QUOTE in capitals,"
        " for example BTC-GBP"
    ]
    (tmp_path / ".env").write_text("KRIPTO_DATABASE_URL=mysql://nope\nKRIPTO_SCHEDULE_EVERY=-1m\n")
    result = kripto("rates", cwd=tmp_path)
    assert result.returncode == 2
    assert "KRIPTO_DATABASE_URL: must be a postgresql:// URL" in result.stderr
    assert "KRIPTO_SCHEDULE_EVERY" in result.stderr
    assert "Traceback" not in result.stderr
    (tmp_path / ".env").unlink()
    result = kripto("dev", "--every=-5s", cwd=tmp_path)
    assert result.returncode == 2
    assert "--every: must be a positive duration" in result.stderr


def test_a_bad_strategy_stops_every_command_before_anything_starts(tmp_path: Path) -> None:
    """A misspelt strategy is caught where it matters: `config` exits non-zero, `wallet` and
    `trade` refuse, and `kripto dev` says the one line and starts nothing."""
    (tmp_path / ".env").write_text("KRIPTO_STRATEGY=nonsense\n")
    line = (
        "error: KRIPTO_STRATEGY: unknown strategy 'nonsense'; choose one of dca, ema_cross, rsi,"
        " zscore"
    )
    for command in (("config",), ("wallet",), ("trade", "buy", "10.00"), ("dev",)):
        result = kripto(*command, cwd=tmp_path)
        assert result.returncode == 2, command
        assert result.stderr.strip().splitlines() == [line], command
        assert result.stdout == "", command
    assert not (tmp_path / ".kripto").exists()  # kripto dev made not even its data folder
    (tmp_path / ".env").write_text("KRIPTO_STRATEGY= RSI\n")  # names are case-insensitive
    result = kripto("config", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["settings"]["KRIPTO_STRATEGY"] == "rsi"


@pytest.mark.slow
def test_kripto_dev_backfills_a_week_from_coinbase_candles_when_coinbase_answers(
    workdir: Path,
) -> None:
    candles = SpotServer()
    port, ui_port, dash_port = (free_port() for _ in range(3))
    args = (
        *("--port", str(port), "--ui-port", str(ui_port), "--dashboard-port", str(dash_port)),
        *("--every", "2s", "--metrics-port", "0", "--health-port", "0"),
    )
    dev = DevProcess(workdir, *args, env={"KRIPTO_COINBASE_URL": candles.url})
    try:
        dev.wait_for("Ctrl-C (or SIGTERM) stops everything", timeout=120)
        banner = dev.output()
        assert "History     a week backfilled from Coinbase candles (" in banner
        assert "it can decide from the first tick" in banner
        rates = wait_for_rates(workdir, 1)
        backfilled = [r for r in rates if r["source"] == "coinbase-candles"]
        # 10,080 minutes less the fake's gaps (about one in 23), before the first tick.
        assert 9_500 < len(backfilled) < 10_080
        gaps = {r["dateTime"] for r in backfilled if is_gap(int(_seconds(r["dateTime"])))}
        assert gaps == set()
        dev.wait_for("tick BTC-GBP ")
        first_tick = next(line for line in dev.output().splitlines() if "tick BTC-GBP " in line)
        assert "points needed" not in first_tick and "gap" not in first_tick, first_tick
        assert dev.stop(signal.SIGTERM) == 0, dev.output()[-9000:]
    finally:
        dev.stop(signal.SIGKILL)
        candles.close()


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
