"""The risk guards every decision and trade passes: see docs/strategies.md."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Self

from pydantic import Field, field_validator, model_validator

from kripto.money import fmt_gbp
from kripto.risk import RiskSettings
from kripto.settings.base import Section

#: The risk guards' defaults live in kripto.risk.RiskSettings alone; the settings take them.
_RISK = RiskSettings()

#: Coinbase's smallest BTC-GBP order (RiskSettings.exchange_min_gbp).
EXCHANGE_MIN_GBP = _RISK.exchange_min_gbp


class RiskSection(Section):
    """The risk guards every decision and trade passes: see docs/strategies.md. The defaults are
    kripto.risk.RiskSettings's own, so a backtest and the worker start from the same guards."""

    max_trade_gbp: Decimal = _RISK.max_trade_gbp
    trade_fraction: Decimal = _RISK.trade_fraction
    min_order_gbp: Decimal = _RISK.min_order_gbp
    daily_spend_limit_gbp: Decimal = _RISK.daily_spend_limit_gbp
    cooldown: timedelta = _RISK.cooldown
    stale_after: timedelta = _RISK.stale_after
    max_gap: timedelta = _RISK.max_gap
    #: A strategy's signal must expect a move of more than this many round-trip fees (at the
    #: current execution's fee) to be acted on; at least 1 (docs/strategies.md).
    min_edge: Decimal = _RISK.min_edge
    # Protections (kripto/protections.py), off unless set (0 is off too): fractions such as
    # 0.1 for 10%. Off by default: on the real sample they did not help the default strategy
    # out of sample (docs/strategies.md).
    stop_loss: Decimal | None = _RISK.protections.stop_loss
    trailing_stop: Decimal | None = _RISK.protections.trailing_stop
    max_drawdown: Decimal | None = _RISK.protections.max_drawdown
    drawdown_resume: Decimal | None = _RISK.protections.drawdown_resume
    stop_loss_limit: int | None = Field(_RISK.protections.stop_loss_limit, ge=0)
    stop_loss_window: timedelta = _RISK.protections.stop_loss_window
    stop_loss_pause: timedelta = _RISK.protections.stop_loss_pause

    @field_validator("min_edge")
    @classmethod
    def _min_edge(cls, value: Decimal) -> Decimal:
        if not value.is_finite() or value < 1:
            raise ValueError(
                "must be a multiple of the round-trip fee of at least 1, for example 2"
            )
        return value

    @field_validator("stop_loss", "trailing_stop", "max_drawdown", "drawdown_resume")
    @classmethod
    def _protection_fraction(cls, value: Decimal | None) -> Decimal | None:
        if value is not None and (not value.is_finite() or not Decimal(0) <= value < 1):
            raise ValueError("must be a fraction from 0 (off) to below 1, for example 0.1")
        return None if value == 0 else value

    @field_validator("stop_loss_limit")
    @classmethod
    def _limit_off(cls, value: int | None) -> int | None:
        return None if value == 0 else value

    @field_validator("max_trade_gbp", "min_order_gbp", "daily_spend_limit_gbp")
    @classmethod
    def _non_negative(cls, value: Decimal) -> Decimal:
        if not value.is_finite() or value < 0:
            raise ValueError("must be a non-negative amount")
        return value

    @field_validator("trade_fraction")
    @classmethod
    def _fraction(cls, value: Decimal) -> Decimal:
        if not value.is_finite() or not Decimal(0) < value <= 1:
            raise ValueError("must be a fraction above 0 and at most 1, for example 0.15")
        return value

    @model_validator(mode="after")
    def _max_trade(self) -> Self:
        """The one check of KRIPTO_MAX_TRADE_GBP: a limit that could never let an order
        through stops start-up, naming the settings."""
        minimum = max(self.min_order_gbp, EXCHANGE_MIN_GBP)
        if self.max_trade_gbp < minimum:
            raise ValueError(
                f"KRIPTO_MAX_TRADE_GBP ({self.max_trade_gbp}) must be at least the minimum order"
                f" ({fmt_gbp(minimum)}: KRIPTO_MIN_ORDER_GBP, never below the exchange's"
                f" {fmt_gbp(EXCHANGE_MIN_GBP)})"
            )
        return self
