"""`kripto live check` against the fake Coinbase, moto's SES and the fake Telegram: every ✗ the
checklist can show, each from the state of the account that causes it, and no order placed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from kripto.cli.live import live_checks
from kripto.preflight import Check, exit_code
from kripto.settings import Settings
from tests.fakes.coinbase_fixtures import FakeCoinbase, new_ec_key
from tests.fakes.ses_fixtures import SES_SENDER
from tests.fakes.telegram_server import TOKEN, FakeTelegram

KRIPTO = str(Path(sys.executable).with_name("kripto"))


def live_settings(fake: FakeCoinbase, tmp_path: Path, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "exchange": "coinbase",
        "feed": "coinbase",
        "coinbase_url": fake.url,
        "coinbase_api_key_name": fake.key_name,
        "coinbase_api_private_key": SecretStr(fake.private_key_pem),
        "fee_tier": "0.004/0.005",
        "http_timeout": "5s",
    }
    return Settings(_env_file=None, **(values | extra))


async def checks_of(settings: Settings) -> dict[str, Check]:
    return {c.name: c for c in await live_checks(settings)}


def lines(checks: dict[str, Check]) -> list[str]:
    return [c.line for c in checks.values()]


async def test_a_ready_account_passes_every_check_and_places_no_order(
    fake_coinbase: FakeCoinbase, tmp_path: Path
) -> None:
    fake_coinbase.set_balance("BTC", "0.01")
    checks = await checks_of(live_settings(fake_coinbase, tmp_path))
    assert lines(checks)[:7] == [
        "✓ key: organizations/…/apiKeys/…fake (ES256) loads, and Coinbase accepted a signed"
        " request.",
        "✓ permissions: view and trade allowed; transfer is not.",
        "✓ portfolio: the key trades in portfolio 'Default' (DEFAULT, 7f3d5c2a); its balances"
        " are the ones below.",
        "✓ fee tier: Coinbase charges Advanced 1: 0.4% maker, 0.5% taker, as KRIPTO_FEE_TIER"
        " (0.004/0.005: 0.4% maker, 0.5% taker) says.",
        "✓ balances: £1,000.00, 0.01000000 BTC available.",
        "✓ BTC-GBP: trading normally; orders from £1.00 to £1,000,000.00, sizes in steps of"
        " 0.00000001: Kripto's £10.00 to £1,000.00 fits.",
        "✓ BTC-GBP preview: buy £10.00 quotes commission £0.05; sell 0.00126582 BTC quotes"
        " commission £0.05.",
    ]
    assert checks["clock"].status == "ok"
    assert checks["mailer"].line.startswith("✓ mailer: receipts are written as .eml files to")
    assert checks["telegram"].status == "skip"
    assert exit_code(list(checks.values())) == 0
    assert fake_coinbase.order_count() == 0


async def test_a_key_coinbase_refuses_fails_and_skips_what_needs_it(
    fake_coinbase: FakeCoinbase, tmp_path: Path
) -> None:
    other_private, _ = new_ec_key()  # a real key, but not the one the account knows
    settings = live_settings(
        fake_coinbase, tmp_path, coinbase_api_private_key=SecretStr(other_private)
    )
    checks = await checks_of(settings)
    assert checks["key"].line.startswith(
        "✗ key: organizations/…/apiKeys/…fake (ES256) loads, but a signed request failed:"
        " Coinbase: reading the key's permissions: Coinbase refused API key"
    )
    assert [checks[n].status for n in ("permissions", "portfolio", "balances")] == ["skip"] * 3
    assert other_private not in "".join(lines(checks))

    broken = live_settings(fake_coinbase, tmp_path, coinbase_api_private_key=SecretStr("nope"))
    assert (await checks_of(broken))["key"].line == (
        "✗ key: the Coinbase API private key is neither a PEM key nor a base64 Ed25519 key."
    )


async def test_each_account_problem_is_its_own_cross(
    fake_coinbase: FakeCoinbase, tmp_path: Path
) -> None:
    account = fake_coinbase.server.account
    account.permissions |= {"can_trade": False}
    fake_coinbase.server.fee_rate = Decimal("0.012")
    fake_coinbase.set_balance("GBP", "4.00")
    fake_coinbase.server.product_rules["BTC-GBP"] = {"cancel_only": True, "quote_min_size": "20"}
    fake_coinbase.server.clock_skew = 42.0
    checks = await checks_of(live_settings(fake_coinbase, tmp_path))
    assert checks["permissions"].line == (
        "✗ permissions: the key may not trade: Kripto needs view and trade; make a key with"
        " both in the Coinbase Developer Platform."
    )
    assert checks["fee tier"].line == (
        "✗ fee tier: Coinbase charges Advanced 1: 0.96% maker, 1.2% taker, more than"
        " KRIPTO_FEE_TIER (0.004/0.005: 0.4% maker, 0.5% taker): decisions would weigh a"
        " cheaper round trip than the real one; set KRIPTO_FEE_TIER=0.0096/0.012."
    )
    assert checks["balances"].line == (
        "✗ balances: £4.00, 0.00000000 BTC available: GBP is below the smallest order"
        " (£10.00), so nothing can be bought; add funds to the portfolio."
    )
    assert checks["BTC-GBP"].line == (
        "✗ BTC-GBP: it is cancel-only (no new orders); its smallest order is £20.00, above"
        " Kripto's smallest £10.00 (raise KRIPTO_MIN_ORDER_GBP) (orders from £20.00 to"
        " £1,000,000.00, sizes in steps of 0.00000001)."
    )
    assert checks["BTC-GBP preview"].line == (
        "✗ BTC-GBP preview: Coinbase would refuse the smallest buy: PREVIEW_INVALID_PRODUCT_ID,"
        " PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL, PREVIEW_INSUFFICIENT_FUND."
    )
    assert checks["clock"].line.startswith("✗ clock: this machine's clock is 4")
    assert checks["clock"].line.endswith(
        " s behind Coinbase's: more than 5 s (KRIPTO_MAX_CLOCK_SKEW), and Coinbase refuses a"
        " signed request whose time is off; turn on time sync (NTP)."
    )
    assert exit_code(list(checks.values())) == 1
    assert fake_coinbase.order_count() == 0


async def test_transfer_permission_warns_and_a_first_sell_is_expected_to_fail(
    fake_coinbase: FakeCoinbase, tmp_path: Path
) -> None:
    fake_coinbase.server.account.permissions |= {"can_transfer": True}
    checks = await checks_of(live_settings(fake_coinbase, tmp_path))
    assert checks["permissions"].line == (
        "! permissions: view and trade allowed, and transfer too: a trading bot's key should"
        " not be able to move money out; make a key with view and trade only."
    )
    assert checks["BTC-GBP preview"].line == (
        "! BTC-GBP preview: buy £10.00 quotes commission £0.05; the smallest sell would be"
        " refused for now: no BTC to sell yet (expected before the first buy)."
    )
    assert exit_code(list(checks.values())) == 0


async def test_the_portfolio_and_a_disabled_product(
    fake_coinbase: FakeCoinbase, tmp_path: Path
) -> None:
    account = fake_coinbase.server.account
    account.portfolios = [
        {"name": "Bots", "uuid": "0b0b0b0b-aaaa", "type": "CONSUMER", "deleted": False}
    ]
    fake_coinbase.server.product_rules["BTC-GBP"] = {"trading_disabled": True, "post_only": True}
    checks = await checks_of(live_settings(fake_coinbase, tmp_path))
    assert checks["portfolio"].line == (
        "✗ portfolio: the key's portfolio 7f3d5c2a is not among the account's portfolios: make"
        " the key in the portfolio Kripto should trade."
    )
    assert checks["BTC-GBP"].line.startswith(
        "✗ BTC-GBP: trading is disabled; it is post-only (a market order would be refused)"
    )


async def test_ses_identity_and_telegram(
    fake_coinbase: FakeCoinbase,
    tmp_path: Path,
    ses_verified: str,
    fake_telegram: FakeTelegram,
) -> None:
    ses = {
        "mailer": "ses",
        "ses_endpoint_url": ses_verified,
        "aws_access_key_id": SecretStr("testing"),
        "aws_secret_access_key": SecretStr("testing"),
    }
    phone = {
        "telegram_bot_token": SecretStr(TOKEN),
        "telegram_api_url": fake_telegram.url,
        "telegram_chat_ids": [1001],
    }
    good = await checks_of(
        live_settings(fake_coinbase, tmp_path, receipt_from=SES_SENDER, **ses, **phone)
    )
    assert good["mailer"].line == (
        "✓ mailer: SES in eu-west-2 may send from kripto@example.com; receipts go to"
        " trader@example.com."
    )
    assert good["telegram"].line == (
        "✓ telegram: bot @KriptoTestBot answers getMe; news goes to chat 1001."
    )

    fake_telegram.webhook_url = "https://hooks.example/kripto"
    bad = await checks_of(
        live_settings(
            fake_coinbase,
            tmp_path,
            receipt_from="nobody@unverified.example",
            **ses,
            **(phone | {"webhook_urls": SecretStr("slack:http://127.0.0.1:9/hook")}),
        )
    )
    assert bad["mailer"].line == (
        "✗ mailer: nobody@unverified.example (KRIPTO_RECEIPT_FROM) is not an SES identity in"
        " eu-west-2: verify it (or its domain) in SES before receipts can be sent."
    )
    assert bad["telegram"].line == (
        "✗ telegram: bot @KriptoTestBot has a webhook set, so Telegram refuses the bot's"
        " polling; remove it (deleteWebhook)."
    )
    assert bad["webhook 1"].line == (
        "✗ webhook 1: slack webhook at 127.0.0.1 cannot be reached (ConnectError)."
    )
    wrong_token = await checks_of(
        live_settings(
            fake_coinbase,
            tmp_path,
            **(phone | {"telegram_bot_token": SecretStr("1:wrong")}),
        )
    )
    assert wrong_token["telegram"].line == (
        "✗ telegram: Telegram getMe: HTTP 401: Unauthorized; check KRIPTO_TELEGRAM_BOT_TOKEN."
    )


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KRIPTO, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


@pytest.mark.slow
def test_the_command_prints_the_checklist_and_exits_by_what_it_found(
    fake_coinbase: FakeCoinbase, tmp_path: Path
) -> None:
    key_file = tmp_path / "key.pem"
    key_file.write_text(fake_coinbase.private_key_pem)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("KRIPTO_", "TEMPORAL_"))},
        "KRIPTO_DATA_DIR": str(tmp_path),
        "KRIPTO_EXCHANGE": "coinbase",
        "KRIPTO_COINBASE_URL": fake_coinbase.url,
        "KRIPTO_COINBASE_API_KEY_NAME": fake_coinbase.key_name,
        "KRIPTO_COINBASE_API_PRIVATE_KEY_FILE": str(key_file),
        "KRIPTO_FEE_TIER": "0.004/0.005",
    }
    fake_coinbase.set_balance("GBP", "4.00")
    fake_coinbase.server.clock_skew = -30.0
    done = run_cli(["live", "check"], env, tmp_path)
    assert (done.returncode, done.stderr) == (1, "")
    out = done.stdout.splitlines()
    assert [line[0] for line in out[:-1]] == ["✓", "✓", "✓", "✓", "✗", "✓", "✗", "✗", "✓", "-"]
    assert out[-1] == "not ready: 3 things to fix (✗)"
    as_json = run_cli(["live", "check", "--json"], env, tmp_path)
    assert as_json.returncode == 1
    data = json.loads(as_json.stdout)
    assert data["ready"] is False
    assert [c["check"] for c in data["checks"] if c["status"] == "fail"] == [
        "balances",
        "BTC-GBP preview",
        "clock",
    ]

    paper = run_cli(["live", "check"], env | {"KRIPTO_EXCHANGE": "paper"}, tmp_path)
    assert (paper.returncode, paper.stdout) == (2, "")
    assert paper.stderr == (
        "error: KRIPTO_EXCHANGE=paper: `kripto live check` checks the live exchange; set"
        " KRIPTO_EXCHANGE=coinbase and a CDP API key (docs/going-live.md)\n"
    )
    bad = run_cli(["live", "check"], env | {"KRIPTO_FEE_TIER": "cheap"}, tmp_path)
    assert (bad.returncode, bad.stdout) == (2, "")
    assert fake_coinbase.order_count() == 0


async def test_sizes_that_do_not_fit_a_deleted_portfolio_and_a_failing_read(
    fake_coinbase: FakeCoinbase, tmp_path: Path, fake_telegram: FakeTelegram
) -> None:
    server = fake_coinbase.server
    server.account.portfolios[0] = server.account.portfolios[0] | {"deleted": True}
    server.product_rules["BTC-GBP"] = {
        "quote_max_size": "500",
        "base_min_size": "0.002",
        "quote_increment": "0.05",
    }
    server.inject({"kind": "500", "path": "/transaction_summary"})
    settings = live_settings(
        fake_coinbase,
        tmp_path,
        telegram_bot_token=SecretStr(TOKEN),
        telegram_api_url=fake_telegram.url,
    )
    checks = await checks_of(settings)
    assert checks["portfolio"].line == "✗ portfolio: the key's portfolio 7f3d5c2a is deleted."
    assert checks["fee tier"].line == (
        "✗ fee tier: Coinbase: reading the fee tier: Coinbase failed (HTTP 500 Internal Server"
        " Error)."
    )
    assert checks["BTC-GBP"].line == (
        "✗ BTC-GBP: its largest order is £500.00, below KRIPTO_MAX_TRADE_GBP (£1,000.00); its"
        " smallest size 0.002 is worth more than £10.00, so a £10.00 sell would be refused;"
        " its price step 0.05 does not divide a penny (orders from £1.00 to £500.00, sizes in"
        " steps of 0.00000001)."
    )
    assert checks["telegram"].line == (
        "✗ telegram: bot @KriptoTestBot answers, but KRIPTO_TELEGRAM_CHAT_IDS is empty:"
        " nobody gets the news."
    )
    assert fake_coinbase.order_count() == 0
