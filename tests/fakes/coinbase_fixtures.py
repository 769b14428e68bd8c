"""Fixtures for the fake Coinbase Advanced Trade server: `fake_coinbase` (in a thread of the
test process) and `start_fake_coinbase_process` (its own process, for tests that kill workers).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.fakes.coinbase_server import FakeCoinbaseServer, Fault

KEY_NAME = "organizations/kripto-test/apiKeys/0f3c2b1a-fake"
REPO_ROOT = Path(__file__).resolve().parents[2]


def new_ec_key() -> tuple[str, str]:
    """A fresh EC P-256 key pair as (private PEM, public PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


@dataclass
class FakeCoinbase:
    """The fake server in this process, with the credentials that it accepts."""

    server: FakeCoinbaseServer
    key_name: str
    private_key_pem: str = field(repr=False)

    @property
    def url(self) -> str:
        return self.server.url

    def order_count(self) -> int:
        return self.server.order_count()

    def inject(self, *faults: Fault | dict[str, Any] | str) -> None:
        self.server.inject(*faults)

    def set_price(self, price: Decimal | str, product_id: str = "BTC-GBP") -> None:
        self.server.set_price(price, product_id)

    def set_balance(self, currency: str, available: Decimal | str) -> None:
        self.server.set_balance(currency, available)

    def balances(self) -> dict[str, dict[str, str]]:
        return self.server.balances()

    def state(self) -> dict[str, Any]:
        return self.server.state()


@pytest.fixture
def fake_coinbase() -> Iterator[FakeCoinbase]:
    private_pem, public_pem = new_ec_key()
    server = FakeCoinbaseServer(public_pem).start()
    try:
        yield FakeCoinbase(server=server, key_name=KEY_NAME, private_key_pem=private_pem)
    finally:
        server.close()


@dataclass
class FakeCoinbaseProcess:
    """The fake server as its own process, driven through its control endpoints."""

    process: subprocess.Popen[str]
    url: str
    key_name: str
    private_key_pem: str = field(repr=False)

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = httpx.get(f"{self.url}/_state", timeout=5).json()
        return result

    def order_count(self) -> int:
        return int(self.state()["order_count"])

    def inject(self, *faults: dict[str, Any] | str) -> None:
        items = [{"kind": f} if isinstance(f, str) else f for f in faults]
        httpx.post(f"{self.url}/_fault", json=items, timeout=5).raise_for_status()

    def set_price(self, price: Decimal | str) -> None:
        httpx.post(f"{self.url}/_config", json={"price": str(price)}, timeout=5).raise_for_status()

    def hold_settlement(self, held: bool) -> None:
        """Held: every order shows OPEN (unsettled) however often it is looked up. Released:
        every order settles at its next look-up."""
        settle_after = 1_000_000_000 if held else 0
        httpx.post(
            f"{self.url}/_config", json={"settle_after": settle_after}, timeout=5
        ).raise_for_status()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_fake_coinbase_process(folder: Path, *extra_args: str) -> FakeCoinbaseProcess:
    """Run `python -m tests.fakes.coinbase_server` on a free port with a fresh key."""
    private_pem, public_pem = new_ec_key()
    key_file = folder / "fake-coinbase-public.pem"
    key_file.write_text(public_pem)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fakes.coinbase_server",
            "--port",
            "0",
            "--public-key-file",
            str(key_file),
            *extra_args,
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("listening on "):
        process.kill()
        raise RuntimeError(f"the fake Coinbase server did not start: {line!r}")
    return FakeCoinbaseProcess(
        process=process,
        url=line.removeprefix("listening on "),
        key_name=KEY_NAME,
        private_key_pem=private_pem,
    )


@pytest.fixture
def fake_coinbase_process(tmp_path: Path) -> Iterator[FakeCoinbaseProcess]:
    fake = start_fake_coinbase_process(tmp_path)
    try:
        yield fake
    finally:
        fake.stop()
