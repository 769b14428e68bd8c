"""The composition root's domain half: where the settings' sections (which know no strategy)
become the strategy and the risk guards. The worker, the CLI and the benchmarks build them
here, once, so a bad parameter stops start-up with an error naming the setting."""

from __future__ import annotations

import dataclasses
from typing import Any

from kripto import settings as settings_module
from kripto.protections import Protections
from kripto.risk import RiskSettings
from kripto.settings import LEGACY_STRATEGY_PARAMS, RiskSection, Settings, StrategySection
from kripto.settings import SettingsError as SettingsError
from kripto.strategies import Strategy, build, strategy_names


def load_settings(**overrides: Any) -> Settings:
    """The settings (kripto.settings.load_settings), with the strategy checked against its own
    declaration, which the settings do not know: every command loads them here, so a misspelt
    KRIPTO_STRATEGY stops `kripto config`, `wallet` and `dev` alike, before anything starts."""
    settings = settings_module.load_settings(**overrides)
    strategy_from_settings(settings.strategy)
    return settings


def strategy_from_settings(section: StrategySection) -> Strategy:
    """The configured strategy, checked against its declaration. A SettingsError (a
    ValueError) names the setting: `KRIPTO_STRATEGY_PARAMS: period must be …`, or the older
    name when the value came from one (`KRIPTO_RSI_PERIOD: …`)."""
    name = section.strategy
    if name not in strategy_names():
        raise SettingsError(
            f"KRIPTO_STRATEGY: unknown strategy {name!r}; choose one of"
            f" {', '.join(strategy_names())}"
        )
    try:
        return build(name, section.strategy_values())
    except ValueError as exc:
        raise SettingsError(f"{_setting_for(section, str(exc))}: {exc}") from None


def _setting_for(section: StrategySection, message: str) -> str:
    """Which setting a parameter's error is about: KRIPTO_STRATEGY_PARAMS, unless the value came
    from an older name alone."""
    parameter = message.split(" ", 1)[0]
    if parameter not in section.strategy_params:
        for field, (strategy, key) in LEGACY_STRATEGY_PARAMS.items():
            if (strategy, key) == (section.strategy, parameter) and getattr(section, field):
                return f"KRIPTO_{field.upper()}"
        if not section.strategy_params:
            return f"KRIPTO_STRATEGY={section.strategy}"
    return f"KRIPTO_STRATEGY_PARAMS ({section.strategy})"


def _same_names(kind: type[Any], section: RiskSection) -> dict[str, Any]:
    """The section's values for the fields the domain type shares with it, by name."""
    names = {f.name for f in dataclasses.fields(kind)}
    return {name: value for name, value in section if name in names}


def protections_from_settings(risk: RiskSection) -> Protections:
    return Protections(**_same_names(Protections, risk))


def risk_from_settings(risk: RiskSection, strategy: StrategySection) -> RiskSettings:
    """The guards from the risk section (checked there: KRIPTO_MAX_TRADE_GBP at least the
    minimum order) and the strategy's bar, built once at start-up."""
    return RiskSettings(
        **_same_names(RiskSettings, risk),
        protections=protections_from_settings(risk),
        bar_minutes=max(1, int(strategy.bar.total_seconds() // 60)),
    )
