"""The three strategies over the four synthetic regimes (and the mix), with the default
parameters and guards (as `kripto backtest --synthetic DAYS --seed SEED --regime R --strategy S`
runs them): the table in docs/strategies.md, from which the default strategy was chosen.

    .venv/bin/python -m benchmarks.strategy_table [DAYS] [SEED]
"""

from __future__ import annotations

import sys
from decimal import Decimal

from kripto.backtest.engine import run_backtest
from kripto.backtest.report import report
from kripto.backtest.synthetic import REGIMES, synthetic_prices
from kripto.composition import risk_from_settings, strategy_from_settings
from kripto.settings import Settings


def main(days: int, seed: int) -> None:
    print(f"{days} days of minutes, seed {seed}, £1000, fee 0.5%\n")
    print(
        "| regime | strategy | return | buy & hold | daily DCA | trades | fees | max drawdown |"
        " winning round trips |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for regime in (*REGIMES, "mix"):
        prices = synthetic_prices(days, seed, regime)  # type: ignore[arg-type]
        for name in ("ema_cross", "zscore", "rsi"):
            settings = Settings(strategy=name)  # the defaults, as `kripto backtest` uses them
            strategy, risk = strategy_from_settings(settings), risk_from_settings(settings)
            r = report(
                run_backtest(prices, strategy, risk, fee_rate=settings.taker_fee, gbp=Decimal(1000))
            )
            print(
                f"| {regime} | {name} | {r['totalReturn']} | {r['buyAndHoldReturn']} |"
                f" {r['dailyDcaReturn']} | {r['trades']} | £{r['feesPaid']} | {r['maxDrawdown']} |"
                f" {r['winningRoundTrips'] or 'n/a'} of {r['roundTrips']} |"
            )


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 30, int(sys.argv[2]) if len(sys.argv) > 2 else 1
    )
