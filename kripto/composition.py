"""The composition root: where the settings (a leaf that knows no strategy) become the
strategy and the risk guards. The worker, the CLI and the benchmarks build them here, once, so
a bad parameter stops start-up with an error naming the setting."""

from __future__ import annotations

from typing import Any

from kripto import settings as settings_module
from kripto.money import fmt_gbp
from kripto.protections import Protections
from kripto.risk import RiskSettings
from kripto.settings import LEGACY_STRATEGY_PARAMS, Settings, SettingsError
from kripto.strategies import Strategy, build, strategy_names


def load_settings(**overrides: Any) -> Settings:
    """The settings (kripto.settings.load_settings), with the strategy checked against its own
    declaration, which the settings do not know: every command loads them here, so a misspelt
    KRIPTO_STRATEGY stops `kripto config`, `wallet` and `dev` alike, before anything starts."""
    settings = settings_module.load_settings(**overrides)
    strategy_from_settings(settings)
    return settings


def strategy_from_settings(settings: Settings) -> Strategy:
    """The configured strategy, checked against its declaration. A SettingsError (a
    ValueError) names the setting: `KRIPTO_STRATEGY_PARAMS: period must be …`, or the older
    name when the value came from one (`KRIPTO_RSI_PERIOD: …`)."""
    name = settings.strategy
    if name not in strategy_names():
        raise SettingsError(
            f"KRIPTO_STRATEGY: unknown strategy {name!r}; choose one of"
            f" {', '.join(strategy_names())}"
        )
    values = settings.strategy_values()
    try:
        return build(name, values)
    except ValueError as exc:
        raise SettingsError(f"{_setting_for(settings, str(exc))}: {exc}") from None


def _setting_for(settings: Settings, message: str) -> str:
    """Which setting a parameter's error is about: KRIPTO_STRATEGY_PARAMS, unless the value came
    from an older name alone."""
    parameter = message.split(" ", 1)[0]
    if parameter not in settings.strategy_params:
        for field, (strategy, key) in LEGACY_STRATEGY_PARAMS.items():
            if (strategy, key) == (settings.strategy, parameter) and getattr(settings, field):
                return f"KRIPTO_{field.upper()}"
        if not settings.strategy_params:
            return f"KRIPTO_STRATEGY={settings.strategy}"
    return f"KRIPTO_STRATEGY_PARAMS ({settings.strategy})"


def protections_from_settings(settings: Settings) -> Protections:
    return Protections(
        stop_loss=settings.stop_loss,
        trailing_stop=settings.trailing_stop,
        max_drawdown=settings.max_drawdown,
        drawdown_resume=settings.drawdown_resume,
        stop_loss_limit=settings.stop_loss_limit,
        stop_loss_window=settings.stop_loss_window,
        stop_loss_pause=settings.stop_loss_pause,
    )


def risk_from_settings(settings: Settings) -> RiskSettings:
    """The guards from the settings, built once at start-up; limits that could never let an order
    through are refused here, naming the settings."""
    risk = RiskSettings(
        trade_fraction=settings.trade_fraction,
        min_order_gbp=settings.min_order_gbp,
        max_trade_gbp=settings.max_trade_gbp,
        daily_spend_limit_gbp=settings.daily_spend_limit_gbp,
        cooldown=settings.cooldown,
        stale_after=settings.stale_after,
        max_gap=settings.max_gap,
        protections=protections_from_settings(settings),
        bar_minutes=max(1, int(settings.bar.total_seconds() // 60)),
    )
    if risk.max_trade_gbp < risk.minimum:
        raise SettingsError(
            f"KRIPTO_MAX_TRADE_GBP ({settings.max_trade_gbp}) must be at least the minimum order"
            f" ({fmt_gbp(risk.minimum)}: KRIPTO_MIN_ORDER_GBP, never below the exchange's"
            f" {fmt_gbp(risk.exchange_min_gbp)})"
        )
    return risk
