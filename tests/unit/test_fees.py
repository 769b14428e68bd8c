"""Real fees: Coinbase Advanced's tiers, maker and taker; the paper exchange, the backtester and
the decider's fee guard all use the same (taker) figure."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from pydantic import ValidationError
from typer.testing import CliRunner

from kripto.cli import backtest as backtest_cli
from kripto.fees import fee_tier
from kripto.runtime.worker import decision_fee_rate, exchange_from_settings
from kripto.settings import Settings


def test_the_default_is_the_lowest_tier() -> None:
    settings = Settings(_env_file=None)
    assert (settings.exchange.fees.maker, settings.exchange.fees.taker) == (
        Decimal("0.006"),
        Decimal("0.012"),
    )
    assert settings.exchange.taker_fee == Decimal("0.012")
    assert settings.exchange.fees.describe() == "intro1: 0.6% maker, 1.2% taker"


def test_a_tier_by_name_by_pair_or_a_flat_rate() -> None:
    assert Settings(_env_file=None, fee_tier="advanced1").exchange.fees.rate("taker") == Decimal(
        "0.004"
    )
    pair = Settings(_env_file=None, fee_tier="0.001/0.002").exchange.fees
    assert (pair.maker, pair.taker) == (Decimal("0.001"), Decimal("0.002"))
    flat = Settings(_env_file=None, fee_tier="advanced1", fee_rate=Decimal("0.005"))
    assert (flat.exchange.fees.maker, flat.exchange.taker_fee) == (
        Decimal("0.005"),
        Decimal("0.005"),
    )
    with pytest.raises(ValidationError, match="must be one of intro1, intro2, advanced1"):
        Settings(_env_file=None, fee_tier="gold")
    with pytest.raises(ValueError, match=r"not '1\.5/2'"):
        fee_tier("1.5/2")


async def test_the_paper_exchange_and_the_fee_guard_pay_the_taker_rate(db: object) -> None:
    settings = Settings(_env_file=None)
    exchange = exchange_from_settings(settings, db)  # type: ignore[arg-type]
    assert exchange.fee_rate == Decimal("0.012")  # type: ignore[attr-defined]
    assert await decision_fee_rate(exchange, settings.exchange.taker_fee) == Decimal("0.012")


@pytest.mark.parametrize(("fee", "rate"), [(None, "0.012"), ("maker", "0.006"), ("taker", "0.012")])
def test_the_backtester_reports_fees_at_the_tier(
    fee: str | None, rate: str, monkeypatch: pytest.MonkeyPatch, sample_path: Path
) -> None:
    monkeypatch.delenv("KRIPTO_FEE_RATE", raising=False)
    monkeypatch.delenv("KRIPTO_FEE_TIER", raising=False)
    args = ["backtest", "--csv", str(sample_path), "--strategy", "zscore", "--json"]
    args += [] if fee is None else ["--fee", fee]
    app = typer.Typer()
    backtest_cli.register(app)
    app.command("noop")(lambda: None)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["feeRate"] == rate
    # Fees as a share of the starting money, as the report shows them.
    share = float(figures["feesShareOfStart"].removesuffix("%"))
    assert share == pytest.approx(float(figures["feesPaid"]) / 10, abs=0.006)
    assert Decimal(figures["feesPaid"]) > 0
