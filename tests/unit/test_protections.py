"""Each protection firing in a backtest on the real sample, and in the live decider's code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from kripto.backtest.engine import BacktestResult, run_backtest
from kripto.decisions import decide
from kripto.models import Balance, Side, Wallet
from kripto.protections import Protections, ProtectionState
from kripto.risk import PastTrade, RiskSettings
from kripto.strategies import build
from kripto.strategies.ema_cross import EmaCross
from kripto.strategies.series import Spaced
from tests.unit.test_decide import RISING, rates

FEE = Decimal("0.012")
#: 2018: a falling year, where protections have work to do.
YEAR_2018 = slice(4_400, 4_400 + 365 * 24)


def backtest(series: Spaced, rules: Protections, strategy: str = "rsi") -> BacktestResult:
    return run_backtest(
        series.prices[YEAR_2018],
        build(strategy, {"window": "1d", "threshold": "1.5"} if strategy == "zscore" else {}),
        RiskSettings(daily_spend_limit_gbp=Decimal(2000), protections=rules),
        fee_rate=FEE,
        gbp=Decimal(10_000),
        start=series.start + timedelta(hours=YEAR_2018.start),
        step=60,
    )


def test_the_stop_loss_and_the_trailing_stop_sell_in_a_backtest(sample_series: Spaced) -> None:
    plain = backtest(sample_series, Protections())
    stopped = backtest(sample_series, Protections(stop_loss=Decimal("0.05")))
    trailed = backtest(sample_series, Protections(trailing_stop=Decimal("0.08")))
    assert plain.stop_exits == 0
    for result, kind in ((stopped, "stop-loss: price "), (trailed, "trailing stop: price ")):
        exits = [t for t in result.trades if t.protection is not None]
        assert exits and all(t.protection.startswith(kind) for t in exits)  # type: ignore[union-attr]
        assert all(t.fill.side is Side.SELL for t in exits)
        # A protective exit sells the whole position (to the penny's worth).
        for t in exits:
            after = sum(x.fill.btc_change for x in result.trades if x.index <= t.index)
            assert after * t.price < Decimal("0.01")
    assert stopped.max_drawdown < plain.max_drawdown


def test_the_drawdown_guard_stops_buying_in_a_backtest(sample_series: Spaced) -> None:
    guarded = backtest(sample_series, Protections(max_drawdown=Decimal("0.05")))
    assert guarded.held_by.get("drawdown guard", 0) > 0
    assert guarded.protections == "max drawdown 5%"


def test_the_stop_loss_guard_pauses_buying_after_stops_in_a_backtest(
    sample_series: Spaced,
) -> None:
    rules = Protections(stop_loss=Decimal("0.03"), stop_loss_limit=1)
    result = backtest(sample_series, rules, "zscore")  # it buys often
    assert result.held_by.get("stop-loss guard", 0) > 0
    stops = [t.time for t in result.trades if t.protection is not None]
    buys = [t.time for t in result.trades if t.fill.side is Side.BUY]
    assert stops
    for stop in stops:  # no buy within a day of any stop-loss
        assert not [b for b in buys if stop < b < stop + timedelta(days=1)]


NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def live(
    state: ProtectionState,
    rules: Protections,
    btc: str = "0.01",
    recent: list[PastTrade] | None = None,
) -> tuple[str, str, str]:
    wallet = Wallet(
        gbp=Balance(id="g", balance=Decimal(500), hold=Decimal(0), available=Decimal(500)),
        btc=Balance(id="b", balance=Decimal(btc), hold=Decimal(0), available=Decimal(btc)),
    )
    d = decide(
        decision_id="d",
        product_id="BTC-GBP",
        tick_time=NOW,
        rates=rates(RISING, NOW),  # an ema_cross buy at 57,000
        wallet=wallet,
        recent_trades=recent or [],
        strategy=EmaCross(2, 5),
        risk=RiskSettings(protections=rules),
        fee_rate=Decimal("0.005"),
        protection=state,
    )
    return d.action, d.reason, str(d.protection)


def test_each_protection_in_the_live_decider() -> None:
    stop = live(
        ProtectionState(entry_price=Decimal("70000")), Protections(stop_loss=Decimal("0.1"))
    )
    assert stop == (
        "sell",
        "sell: stop-loss: price 57000.00 is 18.6% below the entry 70000.00 (stop at 10%);"
        " sell £570.00",
        "stop-loss",
    )
    trail = live(
        ProtectionState(entry_price=Decimal("50000"), peak_price=Decimal("70000")),
        Protections(trailing_stop=Decimal("0.15")),
    )
    assert trail == (
        "sell",
        "sell: trailing stop: price 57000.00 is 18.6% below its high since entry 70000"
        " (trail 15%); sell £570.00",
        "trailing stop",
    )
    drawdown = live(
        ProtectionState(equity_peak=Decimal(2000)),
        Protections(max_drawdown=Decimal("0.25")),
        btc="0",
    )
    assert drawdown == (
        "hold",
        "hold: ema_cross said buy, but drawdown guard: the account is 75% below its peak"
        " (limit 25%); buying resumes below 12.5% or with `kripto protections resume`",
        "drawdown guard",
    )
    paused = live(
        ProtectionState(stop_losses=[NOW - timedelta(hours=2), NOW - timedelta(hours=1)]),
        Protections(stop_loss_limit=2),
        btc="0",
    )
    assert paused == (
        "hold",
        "hold: ema_cross said buy, but stop-loss guard: 2 stop-losses within 24h; paused until"
        " 2026-11-25 11:00 UTC",
        "stop-loss guard",
    )
    free = live(
        ProtectionState(stop_losses=[NOW - timedelta(days=2)]),
        Protections(stop_loss_limit=1),
        btc="0",
    )
    assert free[0] == "buy"


def test_a_protective_exit_waits_for_a_sell_already_under_way() -> None:
    """The wallet may not show a sell still settling: the position is not sold twice."""
    selling = [PastTrade(NOW - timedelta(minutes=2), Side.SELL, Decimal(570), "BTC-GBP")]
    state = ProtectionState(entry_price=Decimal("70000"))
    held = live(state, Protections(stop_loss=Decimal("0.1")), recent=selling)
    assert held == (
        "hold",
        "hold: stop-loss: price 57000.00 is 18.6% below the entry 70000.00 (stop at 10%), but a"
        " sell is under way or just done (cooldown)",
        "None",
    )


def test_a_protection_that_fires_is_news_once_and_a_guard_once_a_day() -> None:
    from activities.deciding import protection_news
    from kripto.models import Decision as Made

    at = datetime(2026, 12, 6, 14, 7, tzinfo=UTC)
    common = {
        "product_id": "BTC-GBP",
        "tick_time": at,
        "strategy": "zscore",
        "params": {},
        "indicators": {},
    }
    plain = Made(
        decision_id="d0", action="hold", amount=Decimal(0), reason="hold: RSI 50", **common
    )
    assert protection_news(plain) is None
    stop = Made(
        decision_id="d1",
        action="sell",
        amount=Decimal("59.70"),
        reason="sell: stop-loss: price 60000.00 is 40.3% below the entry",
        protection="stop-loss",
        **common,
    )
    event = protection_news(stop)
    assert event is not None
    assert (event.key, event.kind, event.title) == (
        "protection-d1",
        "protection",
        "stop-loss fired on BTC-GBP",
    )
    assert event.text == stop.reason
    guard = stop.model_copy(
        update={"decision_id": "d2", "action": "hold", "protection": "drawdown guard"}
    )
    held = protection_news(guard)
    assert held is not None and held.key == "protection-BTC-GBP-drawdown-guard-2026-12-06"
