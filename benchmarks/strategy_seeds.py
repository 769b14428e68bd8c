"""The three strategies over the four synthetic regimes and their mix, five seeds, 30 and 90
days each (50 backtests a strategy), with the default parameters and guards: the summary in
docs/strategies.md from which the default strategy was chosen.

    .venv/bin/python -m benchmarks.strategy_seeds
"""

from __future__ import annotations

import statistics
from decimal import Decimal

from kripto.backtest.engine import run_backtest
from kripto.backtest.synthetic import REGIMES, synthetic_prices
from kripto.composition import risk_from_settings, strategy_from_settings
from kripto.settings import Settings

STRATEGIES = ("ema_cross", "zscore", "rsi")
SEEDS = range(1, 6)
LENGTHS = (30, 90)


def main() -> None:
    returns: dict[tuple[str, str], list[float]] = {}
    for days in LENGTHS:
        for seed in SEEDS:
            for regime in (*REGIMES, "mix"):
                prices = synthetic_prices(days, seed, regime)  # type: ignore[arg-type]
                for name in STRATEGIES:
                    settings = Settings(strategy=name)
                    result = run_backtest(
                        prices,
                        strategy_from_settings(settings.strategy),
                        risk_from_settings(settings.risk, settings.strategy),
                        fee_rate=settings.exchange.taker_fee,
                        gbp=Decimal(1000),
                    )
                    returns.setdefault((name, regime), []).append(float(result.total_return))
    runs = len(SEEDS) * len(LENGTHS)
    print(
        f"total return, seeds {SEEDS.start}-{SEEDS.stop - 1} x {LENGTHS} days"
        f" ({runs} runs a cell): mean / worst\n"
    )
    print(f"| strategy | {' | '.join((*REGIMES, 'mix'))} | all runs: mean / worst / losing |")
    print(f"|---|{'---|' * (len(REGIMES) + 2)}")
    for name in STRATEGIES:
        cells = []
        every: list[float] = []
        for regime in (*REGIMES, "mix"):
            values = returns[(name, regime)]
            every += values
            cells.append(f"{statistics.mean(values):+.1%} / {min(values):+.1%}")
        losing = sum(v < 0 for v in every)
        summary = f"{statistics.mean(every):+.1%} / {min(every):+.1%} / {losing} of {len(every)}"
        print(f"| {name} | {' | '.join(cells)} | {summary} |")


if __name__ == "__main__":
    main()
