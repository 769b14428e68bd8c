"""Settings, read once at start-up into one typed object that is passed down.

Sources, strongest first: environment variables (`KRIPTO_…`, plus the conventional
`TEMPORAL_ADDRESS` and `TEMPORAL_NAMESPACE`), `<data dir>/dev.env` written by `kripto dev`,
then `.env` in the working folder.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from kripto.models import check_product

DEFAULT_DATA_DIR = Path(".kripto")
_DURATION = re.compile(r"^\s*(-?\d+)\s*(ms|s|m|h|d)\s*$")
_UNITS = {"ms": "milliseconds", "s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(value: object) -> timedelta:
    """Accept `5s`, `1m`, `2h`, a number of seconds, or a timedelta."""
    if isinstance(value, timedelta):
        result = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        result = timedelta(seconds=value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        result = timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        result = timedelta(seconds=int(value))
    else:
        raise ValueError(f"{value!r} is not a duration such as 5s, 1m or 2h")
    if result <= timedelta(0):
        raise ValueError("must be a positive duration")
    return result


def _check_database_url(value: str | None) -> str | None:
    if value is None:
        return None
    if not re.match(r"^postgres(ql)?://", value):
        raise ValueError("must be a postgresql:// URL, for example postgresql://user@host:5432/db")
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KRIPTO_",
        extra="ignore",
        populate_by_name=True,
        validate_default=True,
    )

    # Where things are.
    data_dir: Path = DEFAULT_DATA_DIR
    temporal_address: str = Field(
        "localhost:7233",
        validation_alias=AliasChoices("KRIPTO_TEMPORAL_ADDRESS", "TEMPORAL_ADDRESS"),
    )
    temporal_namespace: str = Field(
        "default",
        validation_alias=AliasChoices("KRIPTO_TEMPORAL_NAMESPACE", "TEMPORAL_NAMESPACE"),
    )
    task_queue: str = "kripto"
    database_url: str | None = None
    #: How long a stopping worker (SIGTERM, Ctrl-C) lets its running activities finish before
    #: it cancels them and hands them back to Temporal for another worker.
    shutdown_grace: timedelta = timedelta(seconds=30)

    # The rate pipeline.
    products: Annotated[list[str], NoDecode] = ["BTC-GBP"]
    schedule_cron: str = "* * * * *"
    #: When set, the schedule runs at this interval instead of the cron (demos and tests).
    schedule_every: timedelta | None = None
    feed: Literal["coinbase", "simulated"] = "coinbase"
    feed_seed: int = 42
    coinbase_url: str = "https://api.coinbase.com"
    http_timeout: timedelta = timedelta(seconds=10)

    # Trading.
    exchange: Literal["paper", "coinbase"] = "paper"
    paper_gbp: Decimal = Decimal("1000.00")
    fee_rate: Decimal = Decimal("0.005")
    max_trade_gbp: Decimal = Decimal("1000.00")
    coinbase_api_key_name: str | None = None
    coinbase_api_private_key: SecretStr | None = None
    coinbase_api_private_key_file: Path | None = None

    # Strategy and risk guards: see docs/strategies.md; checked by _strategy_and_risk.
    strategy: Literal["ema_cross", "zscore", "rsi"] = "rsi"
    ema_short_minutes: int = 360
    ema_long_minutes: int = 1440
    zscore_window: int = 1440
    zscore_threshold: float = 2.0
    rsi_period: int = 240
    rsi_low: float = 40.0
    rsi_high: float = 60.0
    trade_fraction: Decimal = Decimal("0.15")
    min_order_gbp: Decimal = Decimal("10.00")
    daily_spend_limit_gbp: Decimal = Decimal("250.00")
    cooldown: timedelta = timedelta(minutes=30)
    stale_after: timedelta = timedelta(minutes=5)
    max_gap: timedelta = timedelta(minutes=60)

    @model_validator(mode="after")
    def _strategy_and_risk(self) -> Settings:
        """Build the strategy and the guards once, so bad parameters stop start-up."""
        from kripto.risk import risk_from_settings
        from kripto.strategies import strategy_from_settings

        try:
            strategy_from_settings(self)
        except ValueError as exc:
            raise ValueError(f"KRIPTO_STRATEGY={self.strategy}: {exc}") from None
        risk_from_settings(self)  # its ValueError names the settings
        return self

    # Receipts.
    mailer: Literal["outbox", "ses"] = "outbox"
    receipt_to: str = "trader@example.com"
    receipt_from: str = "kripto@example.com"
    ses_region: str = "eu-west-2"
    ses_endpoint_url: str | None = None
    aws_access_key_id: SecretStr | None = None
    aws_secret_access_key: SecretStr | None = None

    @field_validator("products", mode="before")
    @classmethod
    def _split_products(cls, value: object) -> object:
        if isinstance(value, str):
            value = [p.strip() for p in value.split(",") if p.strip()]
        if isinstance(value, list) and not value:
            raise ValueError("name at least one product, for example BTC-GBP")
        return value

    @field_validator("products")
    @classmethod
    def _check_products(cls, value: list[str]) -> list[str]:
        return [check_product(p) for p in value]

    @field_validator(
        "schedule_every",
        "http_timeout",
        "cooldown",
        "stale_after",
        "max_gap",
        "shutdown_grace",
        mode="before",
    )
    @classmethod
    def _durations(cls, value: object) -> object:
        return None if value is None or value == "" else parse_duration(value)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        return _check_database_url(value)

    @field_validator("paper_gbp", "max_trade_gbp", "min_order_gbp", "daily_spend_limit_gbp")
    @classmethod
    def _non_negative(cls, value: Decimal) -> Decimal:
        if not value.is_finite() or value < 0:
            raise ValueError("must be a non-negative amount")
        return value

    @field_validator("fee_rate")
    @classmethod
    def _fee(cls, value: Decimal) -> Decimal:
        if not value.is_finite() or not Decimal(0) <= value < 1:
            raise ValueError("must be a fraction between 0 and 1, for example 0.005")
        return value

    @field_validator("trade_fraction")
    @classmethod
    def _fraction(cls, value: Decimal) -> Decimal:
        if not value.is_finite() or not Decimal(0) < value <= 1:
            raise ValueError("must be a fraction above 0 and at most 1, for example 0.15")
        return value

    @model_validator(mode="after")
    def _live_needs_real_parts(self) -> Settings:
        if self.exchange == "coinbase":
            if self.feed == "simulated":
                raise ValueError(
                    "KRIPTO_FEED=simulated is for paper trading only, not KRIPTO_EXCHANGE=coinbase"
                )
            if not self.coinbase_api_key_name:
                raise ValueError(
                    "KRIPTO_EXCHANGE=coinbase (live trading) needs KRIPTO_COINBASE_API_KEY_NAME"
                    " and a private key"
                )
        return self

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    def coinbase_private_key_pem(self) -> str:
        """The Advanced Trade private key, from the setting or the file it names."""
        if self.coinbase_api_private_key is not None:
            return self.coinbase_api_private_key.get_secret_value()
        if self.coinbase_api_private_key_file is not None:
            try:
                return self.coinbase_api_private_key_file.read_text()
            except OSError as exc:
                raise SettingsError(
                    f"KRIPTO_COINBASE_API_PRIVATE_KEY_FILE: cannot read it ({exc.strerror})"
                ) from None
        raise SettingsError(
            "KRIPTO_COINBASE_API_PRIVATE_KEY: live trading needs the API key's private key"
            " (or KRIPTO_COINBASE_API_PRIVATE_KEY_FILE)"
        )

    def require_database_url(self) -> str:
        if not self.database_url:
            raise SettingsError(
                "KRIPTO_DATABASE_URL is not set: start `kripto dev` first, or point it at Postgres"
            )
        return self.database_url

    def masked(self) -> dict[str, str]:
        """Every setting as text, secrets shown as `********`."""
        out: dict[str, str] = {}
        for name, value in self:
            if isinstance(value, SecretStr):
                out[name] = "********"
            elif name == "database_url" and value:
                out[name] = re.sub(r"//([^:@/]+):([^@/]+)@", r"//\1:********@", str(value))
            else:
                out[name] = "" if value is None else str(value)
        return out


class SettingsError(Exception):
    """Settings that cannot work. Its message names the setting; the CLI prints just that."""


def env_files(data_dir: Path | None = None) -> tuple[Path, ...]:
    """`.env`, then the dev stack's `dev.env` (later files win)."""
    data = data_dir or Path(os.environ.get("KRIPTO_DATA_DIR", str(DEFAULT_DATA_DIR)))
    return (Path(".env"), data / "dev.env")


def load_settings(**overrides: Any) -> Settings:
    """Read the settings once. Bad settings raise SettingsError with one readable line.
    `overrides` (command-line flags) win over every other source."""
    try:
        return Settings(_env_file=env_files(), **overrides)
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc, prefix="KRIPTO_")) from None


def describe_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """One line per problem, naming the field: `KRIPTO_PRODUCTS: product 'x' must …`."""
    lines = []
    for err in exc.errors():
        msg = err["msg"].removeprefix("Value error, ")
        if not err["loc"]:  # a rule across settings names them itself
            lines.append(msg)
            continue
        field = ".".join(str(p) for p in err["loc"])
        lines.append(f"{prefix}{field.upper() if prefix else field}: {msg}")
    return "; ".join(lines)
