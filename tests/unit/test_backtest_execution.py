"""The backtester's maker-first model (issue 23): a maker order fills only when a later close
trades through its limit within the maker window; otherwise the remainder pays taker at the
window's end (or is skipped); no fill ever comes before its decision; and the report's
execution figures. docs/backtesting.md describes the model and the optimism it leaves."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from kripto.backtest.engine import Costs, OrderFiller, run_backtest
from kripto.backtest.report import report, summary
from kripto.cli import backtest as backtest_cli
from kripto.composition import risk_from_settings, strategy_from_settings
from kripto.execution import Execution, Liquidity, MakerFallback
from kripto.fees import TIERS
from kripto.fills import market_fill
from kripto.models import Side
from kripto.risk import RiskSettings
from kripto.settings import Settings
from kripto.strategies.series import Spaced
from kripto.strategies.zscore import ZScore
from tests.unit.test_cli_startup import _help

ROOT = Path(__file__).resolve().parents[2]
INTRO1 = TIERS["intro1"]
MAKER = Costs(INTRO1, Execution.MAKER_FIRST, timedelta(minutes=2))
A = Decimal("150.00")


def filled(closes: list[float], side: Side = Side.BUY, costs: Costs = MAKER, step: int = 1):  # type: ignore[no-untyped-def]
    return OrderFiller(np.array(closes), costs, step)(side, A, 0)


def test_a_maker_buy_fills_at_its_limit_when_a_later_close_within_the_window_is_below_it() -> None:
    order = filled([100.0, 100.5, 99.9, 90.0])
    assert order is not None
    assert (order.index, order.price, order.liquidity) == (2, Decimal("100.0"), Liquidity.MAKER)
    assert order.fill == market_fill(Side.BUY, A, Decimal("100.0"), Decimal("0.006"))
    assert order.fill.fill_fees == Decimal("0.894632202")  # £149.105367 of BTC at 0.6%


def test_a_close_at_the_limit_is_no_trade_through_and_a_close_after_the_window_is_too_late() -> (
    None
):
    # 100.0 only touches the limit; 99.0 comes three minutes after the decision: the window
    # ended at 100.5, where the remainder is bought at the taker rate.
    order = filled([100.0, 100.0, 100.5, 99.0])
    assert order is not None
    assert (order.index, order.price, order.liquidity) == (2, Decimal("100.5"), Liquidity.TAKER)
    assert order.fill == market_fill(Side.BUY, A, Decimal("100.5"), Decimal("0.012"))


def test_a_maker_sell_fills_only_above_its_limit() -> None:
    order = filled([100.0, 99.0, 100.01], Side.SELL)
    assert order is not None
    assert (order.index, order.liquidity) == (2, Liquidity.MAKER)
    assert order.fill.fill_fees == Decimal("0.9")  # 150.00 at 0.6%


def test_the_taker_remainder_of_a_sell_sells_the_decided_coins_never_more() -> None:
    # Decided at 100.00 (1.5 BTC for £150); the price falls: the remainder sells 1.5 BTC at
    # 98.00, not £150 worth (which would be more coins than the decision sold).
    order = filled([100.0, 99.0, 98.0], Side.SELL)
    assert order is not None
    assert (order.index, order.price, order.liquidity) == (2, Decimal("98.0"), Liquidity.TAKER)
    assert order.fill.filled_size == Decimal("1.5")
    assert order.fill.executed_value == Decimal("147.00")
    assert order.fill.fill_fees == Decimal("1.764")  # at 1.2%


def test_the_taker_remainder_is_at_the_windows_end_whatever_the_slippage_cap() -> None:
    """The IOC's cap is from the touch at the window's end; close-only data show that touch as
    the close then, so the remainder fills there (docs/backtesting.md)."""
    order = filled([100.0, 101.0, 110.0])  # 10% above the limit: far beyond a 0.5% cap
    assert order is not None
    assert (order.index, order.price, order.liquidity) == (2, Decimal("110.0"), Liquidity.TAKER)


def test_on_hourly_closes_a_two_minute_window_ends_on_the_line_to_the_next_close() -> None:
    hourly = Costs(INTRO1, Execution.MAKER_FIRST, timedelta(minutes=2))
    down = filled([100.0, 97.0], costs=hourly, step=60)
    assert down is not None
    assert (down.index, down.price, down.liquidity) == (1, Decimal("100.0"), Liquidity.MAKER)
    # Up 3.00 in the hour: two minutes in, the line is at 100.10, where the taker buys.
    up = filled([100.0, 103.0], costs=hourly, step=60)
    assert up is not None
    assert (up.index, up.price, up.liquidity) == (1, Decimal("100.1"), Liquidity.TAKER)


def test_skip_drops_what_the_window_left_and_taker_is_at_the_decisions_close() -> None:
    skip = Costs(INTRO1, Execution.MAKER_FIRST, timedelta(minutes=2), MakerFallback.SKIP)
    assert filled([100.0, 100.5, 101.0], costs=skip) is None
    taker = filled([100.0, 90.0], costs=Costs(INTRO1, Execution.TAKER))
    assert taker is not None
    assert (taker.index, taker.price, taker.liquidity) == (0, Decimal("100.0"), Liquidity.TAKER)
    # At the data's end no later close can fill it: the remainder is taken at the last one.
    last = filled([100.0])
    assert last is not None and (last.index, last.liquidity) == (0, Liquidity.TAKER)


def test_a_skipped_order_has_worked_until_its_windows_end() -> None:
    """No other decision is made while it could still fill (it counts for the cooldown too)."""
    closes = np.array([100.0] * 10)
    assert OrderFiller(closes, MAKER, 1).window_end(3) == 5  # two minutes on minutes
    assert OrderFiller(closes, MAKER, 60).window_end(3) == 4  # the next hourly close
    assert OrderFiller(closes, MAKER, 1).window_end(9) == 9  # the data's end


@pytest.fixture(scope="module")
def defaults() -> tuple[Settings, RiskSettings]:
    """The z-score strategy (the default before issue 24) at its defaults, the default guards,
    and the min-edge gate at 1 (the fee alone): the runs docs/fees.md gives."""
    settings = Settings(_env_file=None, strategy="zscore", min_edge=Decimal(1))
    return settings, risk_from_settings(settings.risk, settings.strategy)


def _run(series: Spaced, prices: np.ndarray, costs: Costs, risk: RiskSettings, settings: Settings):  # type: ignore[no-untyped-def]
    return run_backtest(
        prices,
        strategy_from_settings(settings.strategy),
        risk,
        costs=costs,
        gbp=Decimal(1000),
        start=series.start,
        step=series.step_minutes,
    )


def test_no_lookahead_shifting_the_series_one_bar_moves_no_fill_earlier(
    sample_series: Spaced, defaults: tuple[Settings, RiskSettings]
) -> None:
    """The sample a bar later (its first close repeated in front): every decision and every
    fill comes exactly one bar later, none earlier, and each fill is booked after its
    decision."""
    settings, risk = defaults
    prices = sample_series.prices[:6000]
    before = _run(sample_series, prices, MAKER, risk, settings)
    after = _run(sample_series, np.concatenate([prices[:1], prices]), MAKER, risk, settings)
    assert len(before.trades) > 50
    assert before.maker_fills and before.maker_fills < len(before.trades)
    assert len(after.trades) == len(before.trades)
    for old, new in zip(before.trades, after.trades, strict=True):
        assert new.index >= old.index + 1 and new.decided >= old.decided + 1
        assert (new.index, new.decided) == (old.index + 1, old.decided + 1)
        assert (new.fill, new.liquidity) == (old.fill, old.liquidity)
        assert old.index > old.decided  # a fill is never on its decision's bar


def test_on_the_sample_maker_first_pays_at_most_half_the_all_taker_fees(
    sample_series: Spaced, defaults: tuple[Settings, RiskSettings]
) -> None:
    """Issue 23's measure, on the real sample with the default strategy and guards: fees as a
    share of the start under maker-first whose unfilled remainder is skipped are at most half
    of the all-taker run's; with the default taker fallback they are lower than all-taker's."""
    settings, risk = defaults
    prices = sample_series.prices
    taker = _run(sample_series, prices, Costs(INTRO1, Execution.TAKER), risk, settings)
    skip = Costs(INTRO1, Execution.MAKER_FIRST, timedelta(minutes=2), MakerFallback.SKIP)
    skipped = _run(sample_series, prices, skip, risk, settings)
    fallback = _run(sample_series, prices, MAKER, risk, settings)
    assert skipped.fees_share <= taker.fees_share / 2
    assert skipped.maker_share == 1 and skipped.skipped > 0
    assert fallback.fees_share < taker.fees_share
    assert taker.maker_share == 0 and taker.fees_saved == 0
    # docs/fees.md gives these figures, as `kripto backtest --sample` prints them.
    docs = (ROOT / "docs" / "fees.md").read_text()
    for result in (taker, fallback, skipped):
        r = report(result)
        row = f"| +{r['totalReturn']} | £{r['feesPaid']} | {r['feesShareOfStart']} |"
        assert f"{row} {r['makerShare']} |" in docs, row
    for result, share in ((fallback, "78%"), (skipped, "46%")):
        assert f"{result.fees_share / taker.fees_share:.0%}" == share
        assert f"({share})" in docs or f"{share} of the" in docs
    assert fallback.fees_saved == sum(
        (t.fill.executed_value * INTRO1.taker - t.fill.fill_fees for t in fallback.trades),
        Decimal(0),
    )


def test_the_report_gives_the_maker_share_and_the_fees_saved(
    defaults: tuple[Settings, RiskSettings],
) -> None:
    settings, _ = defaults
    # Calm around 100, a fall the buy rests into, then a rise the sell rests into.
    calm = [100.0, 101.0] * 15
    closes = np.array(calm + [90.0, 89.0, 88.0] + [88.0] * 30 + [112.0, 113.0, 114.0] + calm)
    risk = RiskSettings(daily_spend_limit_gbp=Decimal(100000))
    result = run_backtest(closes, ZScore(10, 1.0), risk, costs=MAKER, gbp=Decimal(1000))
    figures = report(result)
    makers = [t for t in result.trades if t.liquidity is Liquidity.MAKER]
    assert makers, result.trades
    maker_value = sum((t.fill.executed_value for t in makers), Decimal(0))
    total_value = sum((t.fill.executed_value for t in result.trades), Decimal(0))
    assert figures["execution"] == "maker_first"
    assert figures["makerShare"] == f"{maker_value / total_value * 100:.2f}%"
    assert (figures["makerFills"], figures["takerFills"]) == (
        len(makers),
        len(result.trades) - len(makers),
    )
    saved = sum((t.fill.executed_value * Decimal("0.006") for t in makers), Decimal(0))
    assert figures["feesSaved"] == str(saved.quantize(Decimal("0.01")))
    assert (figures["makerFeeRate"], figures["takerFeeRate"]) == ("0.006", "0.012")
    assert (figures["makerWindow"], figures["makerFallback"]) == ("2m", "taker")
    assert all(isinstance(figures[k], str) for k in ("feesPaid", "feesSaved", "makerShare"))
    shown = " ".join(str(cell) for row in summary(result).columns[1].cells for cell in [row])
    takers = len(result.trades) - len(makers)
    assert (
        f"maker share {figures['makerShare']}, {len(makers)} of {len(result.trades)} fills at"
        f" maker (0.6%), {takers} at taker (1.2%)"
    ) in shown
    assert settings.execution.execution is Execution.MAKER_FIRST


def _app() -> typer.Typer:
    app = typer.Typer()
    backtest_cli.register(app)
    app.command("noop")(lambda: None)
    return app


@pytest.mark.parametrize("execution", [None, "maker_first", "taker"])
def test_the_command_takes_the_execution_and_reports_it(
    execution: str | None, monkeypatch: pytest.MonkeyPatch, sample_path: Path
) -> None:
    for name in ("FEE_RATE", "FEE_TIER", "EXECUTION", "MAKER_FALLBACK", "MAKER_WINDOW"):
        monkeypatch.delenv(f"KRIPTO_{name}", raising=False)
    args = ["backtest", "--csv", str(sample_path), "--json"]
    args += [] if execution is None else ["--execution", execution]
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["execution"] == (execution or "maker_first")
    if figures["execution"] == "taker":
        assert (figures["makerShare"], figures["feesSaved"]) == ("0.00%", "0.00")
    else:
        assert Decimal(figures["feesSaved"]) > 0
        assert 0 < float(figures["makerShare"].removesuffix("%")) < 100
    text = CliRunner().invoke(_app(), [a for a in args if a != "--json"])
    assert text.exit_code == 0, text.output
    shown = " ".join(text.output.replace("│", " ").split())  # the table's cells, unwrapped
    saved = Decimal(figures["feesSaved"])
    assert f"£{figures['feesPaid']}" in shown
    assert f"(£{saved:,} saved against all-taker)" in shown
    if execution == "taker":
        assert "taker: every fill at the taker rate 1.2%" in shown
    else:
        assert (
            f"maker_first (2m window, taker fallback): maker share {figures['makerShare']}" in shown
        )


def test_a_bad_execution_is_one_line_naming_the_option() -> None:
    result = CliRunner().invoke(_app(), ["backtest", "--synthetic", "2", "--execution", "fast"])
    assert result.exit_code == 2
    assert "--execution must be maker_first or taker, not 'fast'" in result.output


def test_the_help_names_the_default_the_command_uses() -> None:
    shown = " ".join(_help("backtest").replace("│", " ").split())
    assert (
        "maker_first or taker (docs/backtesting.md) [default: KRIPTO_EXECUTION, maker_first]"
        in shown
    )
    assert Settings(_env_file=None).execution.execution is Execution.MAKER_FIRST
    assert "[default: KRIPTO_FEE_TIER's maker and taker rates, 0.006/0.012, each fill" in shown
    fees = Settings(_env_file=None).exchange.fees
    assert (fees.maker, fees.taker) == (Decimal("0.006"), Decimal("0.012"))
