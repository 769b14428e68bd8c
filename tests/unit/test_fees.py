"""The fee, decided in one place (kripto/fees.py): Coinbase Advanced's tiers, maker and taker;
the account's own rates where higher; the execution and its fallback. The paper exchange, the
backtester, the decider's fee guard and the dashboard's quote all ask it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from pydantic import ValidationError
from typer.testing import CliRunner

from kripto.cli import backtest as backtest_cli
from kripto.dashboard.data import DashboardData
from kripto.exchanges.coinbase import CoinbaseExchange
from kripto.execution import Execution, Liquidity, MakerFallback
from kripto.fees import (
    TIERS,
    FeeTier,
    decision_rate,
    fee_of,
    fee_rate,
    fee_tier,
    planned_rate,
    round_trip_rate,
    saved_against_taker,
    side_rate,
    with_account,
)
from kripto.fills import market_fill
from kripto.models import Side
from kripto.portfolio import Fill
from kripto.risk import Holdings, RiskSettings, size_trade
from kripto.runtime.worker import decision_fee_rate, exchange_from_settings
from kripto.settings import Settings
from tests.fakes.coinbase_fixtures import FakeCoinbase

D = Decimal
MAKER_FIRST, TAKER = Execution.MAKER_FIRST, Execution.TAKER
SKIP = MakerFallback.SKIP

#: Coinbase Advanced's published tiers, exactly: maker, taker, and the round trips the guards
#: weigh (taker, or maker-first with a taker fallback; maker-first whose remainder is skipped).
PUBLISHED = [
    ("intro1", "0.006", "0.012", "0.024", "0.012"),
    ("intro2", "0.004", "0.008", "0.016", "0.008"),
    ("advanced1", "0.0025", "0.004", "0.008", "0.0050"),
    ("advanced2", "0.00125", "0.0025", "0.0050", "0.00250"),
    ("advanced3", "0.00075", "0.0015", "0.0030", "0.00150"),
    ("vip1", "0.0006", "0.00125", "0.00250", "0.0012"),
]


@pytest.mark.parametrize(("name", "maker", "taker", "taker_trip", "maker_trip"), PUBLISHED)
def test_each_tier_in_exact_decimals(
    name: str, maker: str, taker: str, taker_trip: str, maker_trip: str
) -> None:
    tier = TIERS[name]
    assert fee_tier(name) is tier
    assert (fee_rate(tier, Liquidity.MAKER), fee_rate(tier, "taker")) == (D(maker), D(taker))
    assert (planned_rate(tier, MAKER_FIRST), planned_rate(tier, TAKER)) == (D(maker), D(taker))
    assert side_rate(tier, TAKER) == side_rate(tier, MAKER_FIRST) == D(taker)
    assert side_rate(tier, MAKER_FIRST, SKIP) == side_rate(tier, "maker_first", "skip") == D(maker)
    assert side_rate(tier, TAKER, SKIP) == D(taker)  # skip changes nothing under taker
    assert round_trip_rate(tier, TAKER) == round_trip_rate(tier, MAKER_FIRST) == D(taker_trip)
    assert round_trip_rate(tier, MAKER_FIRST, SKIP) == D(maker_trip)
    assert round_trip_rate(D(taker)) == D(taker_trip)  # a per-side rate already chosen
    assert [t.name for t in TIERS.values()] == [row[0] for row in PUBLISHED]


def test_a_fee_is_the_value_at_the_rate_exactly() -> None:
    assert fee_of(D("9.9502205952"), D("0.005")) == D("0.049751102976")  # the seed's trade
    assert fee_of(D("100.00"), D("0.006")) == D("0.6")
    assert fee_of(D("100.00"), D("0.012")) == D("1.2")
    # The fill arithmetic charges exactly that: a £150 buy at 100.00, maker and taker.
    maker = market_fill(Side.BUY, D("150.00"), D("100.00"), fee_rate(TIERS["intro1"], "maker"))
    assert (maker.executed_value, maker.fill_fees) == (D("149.1053670000"), D("0.894632202"))
    taker = market_fill(Side.BUY, D("150.00"), D("100.00"), fee_rate(TIERS["intro1"], "taker"))
    assert (taker.executed_value, taker.fill_fees) == (D("148.2213430000"), D("1.778656116"))
    assert saved_against_taker(maker.executed_value, maker.fill_fees, TIERS["intro1"]) == D(
        "0.894632202"
    )
    assert saved_against_taker(taker.executed_value, taker.fill_fees, TIERS["intro1"]) == 0


def test_the_accounts_rate_wins_where_it_is_higher_than_the_tier() -> None:
    intro2 = TIERS["intro2"]  # 0.4% maker, 0.8% taker
    higher = with_account(intro2, FeeTier("account", D("0.005"), D("0.009")))
    assert (higher.maker, higher.taker) == (D("0.005"), D("0.009"))
    mixed = with_account(intro2, FeeTier("account", D("0.0035"), D("0.01")))
    assert (mixed.maker, mixed.taker) == (D("0.004"), D("0.01"))
    assert with_account(intro2, FeeTier("account", D("0.001"), D("0.002"))) is intro2
    assert with_account(intro2, None) is intro2
    assert decision_rate(intro2, FeeTier("a", D("0.005"), D("0.009")), MAKER_FIRST) == D("0.009")
    assert decision_rate(intro2, FeeTier("a", D("0.005"), D("0.009")), MAKER_FIRST, SKIP) == D(
        "0.005"
    )
    assert decision_rate(intro2, None, TAKER) == D("0.008")


def test_the_risk_guard_weighs_the_round_trip_the_fee_module_gives() -> None:
    def edge_reason(edge: float, fee: Decimal) -> str | None:
        return size_trade(
            Side.BUY,
            price=D("100"),
            holdings=Holdings(gbp=D("1000"), btc=D(0)),
            recent_trades=[],
            now=datetime(2026, 1, 1, tzinfo=UTC),
            edge=edge,
            fee_rate=fee,
            risk=RiskSettings(),
        ).reason

    intro1 = TIERS["intro1"]
    skip = decision_rate(intro1, None, MAKER_FIRST, SKIP)
    assert edge_reason(0.0119, skip) == "expected edge 1.19% is below the round-trip fee 1.20%"
    assert edge_reason(0.0120, skip) is None
    fallback = decision_rate(intro1, None, MAKER_FIRST)
    assert edge_reason(0.02, fallback) == "expected edge 2.00% is below the round-trip fee 2.40%"


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


async def test_the_paper_exchange_and_the_fee_guard_ask_the_fee_module(db: object) -> None:
    settings = Settings(_env_file=None)
    exchange = exchange_from_settings(settings, db)  # type: ignore[arg-type]
    assert exchange.fees == TIERS["intro1"]  # type: ignore[attr-defined]
    assert exchange.fee_rate == Decimal("0.012")  # type: ignore[attr-defined]
    # Maker-first with the default taker fallback: any part may pay taker, so the guard
    # weighs taker; with the remainder skipped, only maker fills happen.
    assert await decision_fee_rate(exchange, settings.exchange, settings.execution) == Decimal(
        "0.012"
    )
    skip = Settings(_env_file=None, maker_fallback="skip")
    assert await decision_fee_rate(exchange, skip.exchange, skip.execution) == Decimal("0.006")
    taker = Settings(_env_file=None, execution="taker", maker_fallback="skip")
    assert await decision_fee_rate(exchange, taker.exchange, taker.execution) == Decimal("0.012")


async def test_live_the_accounts_own_rates_win_where_higher(fake_coinbase: FakeCoinbase) -> None:
    """The fake Coinbase's account pays 1.5% taker and 1.2% maker (its transaction summary):
    above intro1's 1.2% and 0.6%, so decisions weigh the account's."""
    fake_coinbase.server.fee_rate = Decimal("0.015")
    exchange = CoinbaseExchange(
        base_url=fake_coinbase.url,
        key_name=fake_coinbase.key_name,
        private_key_pem=fake_coinbase.private_key_pem,
        timeout=2.0,
    )
    try:
        account = await exchange.account_fees()
        assert (account.maker, account.taker) == (Decimal("0.0120"), Decimal("0.015"))
        settings = Settings(_env_file=None)
        assert await decision_fee_rate(exchange, settings.exchange, settings.execution) == Decimal(
            "0.015"
        )
        skip = Settings(_env_file=None, maker_fallback="skip")
        assert await decision_fee_rate(exchange, skip.exchange, skip.execution) == Decimal("0.0120")
        cheap = Settings(_env_file=None, fee_tier="0.02/0.03")  # a tier above the account's
        assert await decision_fee_rate(exchange, cheap.exchange, cheap.execution) == Decimal("0.03")
    finally:
        await exchange.close()


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
    figures = json.loads(result.stdout)
    assert figures["feeRate"] == rate
    # Fees as a share of the starting money, as the report shows them.
    share = float(figures["feesShareOfStart"].removesuffix("%"))
    assert share == pytest.approx(float(figures["feesPaid"]) / 10, abs=0.006)
    assert Decimal(figures["feesPaid"]) > 0


def test_the_dashboard_shows_the_fees_saved_against_all_taker() -> None:
    """Fees paid and fees saved (kripto/dashboard/data.py): a maker buy of £100.00 paid 0.6%,
    a taker sell of £50.00 paid 1.2%; against 1.2% on both, £0.60 was saved."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    fills = [
        Fill(at, Side.BUY, D("0.002"), D("100.00"), D("0.60")),
        Fill(at, Side.SELL, D("0.001"), D("50.00"), D("0.60")),
    ]
    shown = DashboardData(None, "BTC-GBP", D("1000"), TIERS["intro1"]).money(fills, D("50000"))  # type: ignore[arg-type]
    assert (shown["fees"], shown["feesSaved"]) == ("1.20", "0.60")
    assert DashboardData(None, "BTC-GBP", D("1000")).money(fills, None)["feesSaved"] is None  # type: ignore[arg-type]
