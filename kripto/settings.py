"""Settings, read once at start-up into one typed object that is passed down.

Sources, strongest first: environment variables (`KRIPTO_…`, plus the conventional
`TEMPORAL_ADDRESS` and `TEMPORAL_NAMESPACE`), the user's `.env` in the working folder, then
`<data dir>/dev.env` written by `kripto dev`. The user's own settings always win over what a
tool wrote for them: `dev.env` only fills in what the user left unset (where the dev stack's
Postgres and Temporal are). `.env.example` documents every setting.
"""

from __future__ import annotations

import json
import os
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from dotenv import dotenv_values
from pydantic import (
    AliasChoices,
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from kripto.errors import SettingsError
from kripto.execution import Execution, MakerFallback, StaleQuote
from kripto.fees import FeeTier, fee_tier, flat
from kripto.models import check_product
from kripto.money import fmt_gbp as fmt
from kripto.risk import RiskSettings

#: The risk guards' defaults live in kripto.risk.RiskSettings alone; the settings take them.
_RISK = RiskSettings()

#: Coinbase's smallest BTC-GBP order (RiskSettings.exchange_min_gbp).
EXCHANGE_MIN_GBP = _RISK.exchange_min_gbp

#: Older setting → (strategy, parameter). Only for names existing .env files already use; a new
#: strategy's parameters live in KRIPTO_STRATEGY_PARAMS alone.
LEGACY_STRATEGY_PARAMS: dict[str, tuple[str, str]] = {
    "ema_short_minutes": ("ema_cross", "short"),
    "ema_long_minutes": ("ema_cross", "long"),
    "zscore_window": ("zscore", "window"),
    "zscore_threshold": ("zscore", "threshold"),
    "rsi_period": ("rsi", "period"),
    "rsi_low": ("rsi", "low"),
    "rsi_high": ("rsi", "high"),
}

DEFAULT_DATA_DIR = Path(".kripto")
DASHBOARD_TOKEN_FILE = "dashboard-token"
STOP_LINK_SECRET_FILE = "stop-link-secret"
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


def _check_version_name(value: str | None, *, allow_dot: bool) -> str:
    """Deployment names and build IDs travel in Temporal's `<deployment>.<build>` and
    `<deployment>:<build>` strings, so they must be short, printable and unambiguous."""
    if not value:
        raise ValueError("must not be empty")
    if any(c.isspace() for c in value) or not value.isprintable():
        raise ValueError(f"{value!r} must not contain spaces or control characters")
    if len(value) > 100:
        raise ValueError(f"must be at most 100 characters, not {len(value)}")
    if not allow_dot and "." in value:
        raise ValueError(f"{value!r} must not contain '.', which ends the name in Temporal")
    return value


class GeneralSection(BaseModel):
    """Where Kripto keeps its state and which markets it follows."""

    # Where things are.
    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str | None = None
    #: The markets Kripto follows, comma-separated.
    products: Annotated[list[str], NoDecode] = ["BTC-GBP"]


class TemporalSection(BaseModel):
    """The Temporal cluster, the worker's task queue and versioning, and the rate schedule."""

    temporal_address: str = Field(
        "localhost:7233",
        validation_alias=AliasChoices("KRIPTO_TEMPORAL_ADDRESS", "TEMPORAL_ADDRESS"),
    )
    temporal_namespace: str = Field(
        "default",
        validation_alias=AliasChoices("KRIPTO_TEMPORAL_NAMESPACE", "TEMPORAL_NAMESPACE"),
    )
    task_queue: str = "kripto"
    #: How long a stopping worker (SIGTERM, Ctrl-C) lets its running activities finish before
    #: it cancels them and hands them back to Temporal for another worker.
    shutdown_grace: timedelta = timedelta(seconds=30)

    # A secured Temporal cluster (self-hosted with TLS, or Temporal Cloud). Any of these turns
    # TLS on; without a CA file the server's certificate is checked against the system's roots.
    temporal_tls: bool = False
    temporal_tls_ca_file: Path | None = None
    temporal_tls_cert_file: Path | None = None
    temporal_tls_key_file: Path | None = None
    temporal_tls_server_name: str | None = None
    #: Temporal Cloud API key; sent as a bearer token, so it always goes over TLS.
    temporal_api_key: SecretStr | None = None

    # Worker Versioning: see "Deploying a change" in the README.
    deployment_name: str = "kripto"
    #: Unset: derived from the code (kripto.build_id), so each build has its own ID.
    build_id: str | None = None
    #: Off only for servers without Worker Deployments (the time-skipping test server).
    worker_versioning: bool = True

    # The rate schedule.
    schedule_cron: str = "* * * * *"
    #: When set, the schedule runs at this interval instead of the cron (demos and tests).
    schedule_every: timedelta | None = None
    #: The Temporal Web UI, for links from the dashboard to each trade's workflow.
    temporal_ui_url: str = "http://localhost:8233"


class MetricsSection(BaseModel):
    """How the worker is seen: Prometheus metrics, /healthz and its logs."""

    # Seeing it: see "Monitoring" in the README. Port 0 turns a server off.
    #: Where the worker serves Prometheus metrics (the Temporal SDK's and Kripto's, one endpoint)
    #: and /healthz. Loopback unless told otherwise; the compose worker listens on its network.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(9464, ge=0, le=65535)
    health_port: int = Field(9465, ge=0, le=65535)
    #: How often the worker reads its gauges (newest rate's age, unsettled trades, kill switch).
    metrics_sample_every: timedelta = timedelta(seconds=15)
    #: `text` for people (one line per event), `json` for a log collector (one object per line).
    log_format: Literal["text", "json"] = "text"


class ExchangeSection(BaseModel):
    """Where rates and candles come from, and the exchange orders go to."""

    # The rate feed and backfills.
    feed: Literal["coinbase", "simulated"] = "coinbase"
    feed_seed: int = 42
    coinbase_url: str = "https://api.coinbase.com"
    http_timeout: timedelta = timedelta(seconds=10)
    #: Backfills keep to Coinbase's public rate limit (10 requests/s) from the client side.
    backfill_requests_per_second: float = Field(5.0, gt=0)
    #: One-minute candles asked for per request; Coinbase gives at most 350.
    backfill_page_minutes: int = Field(300, ge=1, le=10_000)

    # Trading.
    exchange: Literal["paper", "coinbase"] = "paper"
    paper_gbp: Decimal = Decimal("1000.00")
    #: Coinbase Advanced's fee tier (kripto/fees.py): a name (`intro1`, the lowest: 0.60% maker,
    #: 1.20% taker) or `MAKER/TAKER` fractions. Market orders pay the taker rate.
    fee_tier: str = "intro1"
    #: One flat rate for both sides instead of the tier (the seed's sample arithmetic used 0.005).
    fee_rate: Decimal | None = None
    #: How often a placed order's state is read until it settles.
    settle_poll: timedelta = timedelta(seconds=2)

    # Reconciliation: see "Reconciliation" in the README.
    #: How often the reconciler compares the exchange with the books (a Temporal Schedule).
    reconcile_every: timedelta = timedelta(minutes=10)
    #: How far back a run looks when not told (`kripto reconcile --since`).
    reconcile_lookback: timedelta = timedelta(days=1)
    #: A trade younger than this may still be on its way (claimed, placing, settling): the
    #: reconciler leaves it to its own workflow.
    reconcile_grace: timedelta = timedelta(minutes=10)
    coinbase_api_key_name: str | None = None
    coinbase_api_private_key: SecretStr | None = None
    coinbase_api_private_key_file: Path | None = None


class ExecutionSection(BaseModel):
    """How a trade's orders go to the exchange: maker-first or taker (docs/execution.md). A
    section of its own beside the exchange's, which is already near the size limit."""

    #: `maker_first`: a post-only limit order at the touch first, then the fallback; `taker`: a
    #: market order, as before.
    execution: Execution = Execution.MAKER_FIRST
    #: How long a maker order rests: its GTD end time, so the exchange cancels it by itself.
    maker_window: timedelta = timedelta(minutes=2)
    #: Re-quote when the touch moves away from the resting order's price by more than this
    #: fraction of the price (0.0005 = 0.05%, £30 at £60,000).
    requote_after: Decimal = Decimal("0.0005")
    #: At most this many re-quotes (cancel and place again at the new touch) per trade.
    max_requotes: int = Field(3, ge=0, le=20)
    #: The taker fallback's price cap, as a fraction from the touch (an IOC limit at the best
    #: ask * (1 + this) for a buy, the best bid * (1 - this) for a sell); `off`: a market order.
    max_slippage: Decimal | None = Decimal("0.005")
    #: A decision's unfilled remainder when the window ends: `taker` or `skip` (dropped, with
    #: the reason recorded). A person's trade always falls back unless `--maker-only`.
    maker_fallback: MakerFallback = MakerFallback.TAKER
    #: A best bid/ask older than this is stale.
    quote_max_age: timedelta = timedelta(seconds=5)
    #: A stale or unreadable best bid/ask: `taker` (a capped taker order) or `hold`.
    stale_quote: StaleQuote = StaleQuote.TAKER
    #: The paper exchange's bid-ask spread, a fraction of the price split evenly around it:
    #: 0.0002 (0.02%, £12 at £60,000), about Coinbase's BTC-GBP book on an ordinary day.
    paper_spread: Decimal = Decimal("0.0002")
    #: Maker orders are refused while this machine's clock is further than this from the
    #: exchange's (a GTD end time would be wrong).
    max_clock_skew: timedelta = timedelta(seconds=5)


class RiskSection(BaseModel):
    """The risk guards every decision and trade passes: see docs/strategies.md. The defaults are
    kripto.risk.RiskSettings's own, so a backtest and the worker start from the same guards."""

    max_trade_gbp: Decimal = _RISK.max_trade_gbp
    trade_fraction: Decimal = _RISK.trade_fraction
    min_order_gbp: Decimal = _RISK.min_order_gbp
    daily_spend_limit_gbp: Decimal = _RISK.daily_spend_limit_gbp
    cooldown: timedelta = _RISK.cooldown
    stale_after: timedelta = _RISK.stale_after
    max_gap: timedelta = _RISK.max_gap
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


class StrategySection(BaseModel):
    """The strategy that decides and its parameters."""

    # Strategy and risk guards: see docs/strategies.md. The strategy and its parameters are
    # checked against the strategy's own declaration where it is built (kripto/composition.py):
    # settings know no strategy, so a new one needs no field here.
    strategy: str = "zscore"
    #: `name=value` pairs, comma-separated (`period=240,low=40,high=60`); unnamed ones default.
    strategy_params: Annotated[dict[str, str], NoDecode] = {}
    #: The older names of the built-in strategies' parameters, still read (as aliases of
    #: KRIPTO_STRATEGY_PARAMS entries, which win) because existing .env files use them.
    ema_short_minutes: int | None = None
    ema_long_minutes: int | None = None
    zscore_window: int | None = None
    zscore_threshold: float | None = None
    rsi_period: int | None = None
    rsi_low: float | None = None
    rsi_high: float | None = None
    #: The live decider runs the strategy on closes this far apart: `1h`, the default, gives
    #: hourly closes, as the backtests of the real hourly sample that chose the default
    #: (docs/strategies.md); `1m` is every minute.
    bar: timedelta = timedelta(hours=1)

    @field_validator("strategy", mode="before")
    @classmethod
    def _strategy_name(cls, value: Any) -> Any:
        """Names are case-insensitive: `RSI` and `rsi` are one strategy."""
        return value.strip().lower() if isinstance(value, str) else value


class EncryptionSection(BaseModel):
    """Encrypted payloads and the codec server."""

    # Encrypted payloads: see kripto/temporal/codec.py and "Encrypted payloads" in the README.
    #: `id:key` pairs, newest first, comma-separated; a key is 32 bytes in base64 (AES-256).
    #: The first encrypts; any listed key decrypts, so old payloads stay readable after rotation.
    encryption_keys: SecretStr | None = None
    #: A file (mode 0600) holding the same list, one pair a line or comma-separated.
    encryption_keys_file: Path | None = None
    #: The bearer token `kripto codec-server` requires (or a file holding it).
    codec_token: SecretStr | None = None
    codec_token_file: Path | None = None
    codec_host: str = "127.0.0.1"
    codec_port: int = Field(8234, ge=1, le=65535)
    #: The Web UI's origin: the only origin the codec server answers from a browser.
    codec_ui_origin: str = "http://127.0.0.1:8233"


class MailSection(BaseModel):
    """Trade receipts: where they go and how they are sent."""

    # Receipts.
    mailer: Literal["outbox", "ses"] = "outbox"
    receipt_to: str = "trader@example.com"
    receipt_from: str = "kripto@example.com"
    ses_region: str = "eu-west-2"
    ses_endpoint_url: str | None = None
    aws_access_key_id: SecretStr | None = None
    aws_secret_access_key: SecretStr | None = None


class NotificationsSection(BaseModel):
    """News and control from the phone: see "Control and news from the phone" in the README."""

    #: The bot's token from @BotFather. Unset: no Telegram messages and no bot.
    telegram_bot_token: SecretStr | None = None
    #: The chats that get every notification, and the only chats the bot answers.
    telegram_chat_ids: Annotated[list[int], NoDecode] = []
    telegram_api_url: str = "https://api.telegram.org"
    #: How long one getUpdates long poll waits for a message before asking again.
    telegram_poll_timeout: timedelta = timedelta(seconds=25)
    #: `slack:URL`, `discord:URL` or a bare URL (generic JSON), comma-separated. A secret: a
    #: Slack or Discord webhook's URL is its own credential.
    webhook_urls: SecretStr | None = None
    #: When the daily summary goes out (cron, UTC).
    daily_summary_cron: str = "0 18 * * *"


class DashboardSection(BaseModel):
    """The trader's dashboard and the stop link in every receipt."""

    # The trader's dashboard (`kripto dashboard`) and the stop link in every receipt.
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = Field(8237, ge=1, le=65535)
    #: Needed for anything that changes state from the web (pause, resume, trade). Unset: read
    #: from `<data dir>/dashboard-token` (written by `kripto dev`); else such changes are refused.
    dashboard_token: SecretStr | None = None
    #: Where people reach the dashboard (the receipt's stop link); unset: the dashboard's address.
    public_url: str | None = None
    #: Signs the receipts' stop links. Unset: `<data dir>/stop-link-secret`; else no stop link.
    stop_link_secret: SecretStr | None = None


#: The settings by section, in the order `kripto config` shows them. Each section is a small
#: model with its fields' defaults; Settings is all of them, read from flat environment names
#: (KRIPTO_MAX_TRADE_GBP, not KRIPTO_RISK__…), so every existing .env keeps working. A new
#: setting goes into the section it belongs to (tests/unit/test_settings_sections.py checks
#: that each belongs to exactly one, and that .env.example documents it).
SECTIONS: dict[str, type[BaseModel]] = {
    "general": GeneralSection,
    "temporal": TemporalSection,
    "exchange": ExchangeSection,
    "execution": ExecutionSection,
    "risk": RiskSection,
    "strategy": StrategySection,
    "mail": MailSection,
    "dashboard": DashboardSection,
    "notifications": NotificationsSection,
    "metrics": MetricsSection,
    "encryption": EncryptionSection,
}

#: Each setting's section.
SECTION_OF: dict[str, str] = {
    field: name for name, section in SECTIONS.items() for field in section.model_fields
}


# Listed last section first: pydantic puts the fields of the last base first.
class Settings(
    EncryptionSection,
    MetricsSection,
    NotificationsSection,
    DashboardSection,
    MailSection,
    StrategySection,
    RiskSection,
    ExecutionSection,
    ExchangeSection,
    TemporalSection,
    GeneralSection,
    BaseSettings,
):
    model_config = SettingsConfigDict(
        env_prefix="KRIPTO_",
        extra="ignore",
        populate_by_name=True,
        validate_default=True,
        # A ValidationError's text would otherwise quote the inputs, secrets included.
        hide_input_in_errors=True,
    )

    @field_validator("strategy_params", mode="before")
    @classmethod
    def _pairs(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        pairs: dict[str, str] = {}
        for item in filter(None, (part.strip() for part in value.split(","))):
            key, sep, text = item.partition("=")
            if not sep or not key.strip() or not text.strip():
                raise ValueError(f"{item!r} is not name=value (e.g. period=240,low=40)")
            pairs[key.strip()] = text.strip()
        return pairs

    def strategy_values(self) -> dict[str, str]:
        """The chosen strategy's parameters as text: the older names first, then
        KRIPTO_STRATEGY_PARAMS over them."""
        values = {
            key: str(getattr(self, field))
            for field, (strategy, key) in LEGACY_STRATEGY_PARAMS.items()
            if strategy == self.strategy and getattr(self, field) is not None
        }
        return values | self.strategy_params

    @model_validator(mode="after")
    def _risk(self) -> Settings:
        """Limits that could never let an order through stop start-up, naming the settings."""
        minimum = max(self.min_order_gbp, EXCHANGE_MIN_GBP)
        if self.max_trade_gbp < minimum:
            raise ValueError(
                f"KRIPTO_MAX_TRADE_GBP ({self.max_trade_gbp}) must be at least the minimum order"
                f" ({fmt(minimum)}: KRIPTO_MIN_ORDER_GBP, never below the exchange's"
                f" {fmt(EXCHANGE_MIN_GBP)})"
            )
        return self

    @field_validator(
        "database_url",
        "temporal_tls_ca_file",
        "temporal_tls_cert_file",
        "temporal_tls_key_file",
        "temporal_tls_server_name",
        "temporal_api_key",
        "coinbase_api_key_name",
        "coinbase_api_private_key",
        "coinbase_api_private_key_file",
        "ses_endpoint_url",
        "aws_access_key_id",
        "aws_secret_access_key",
        "encryption_keys",
        "encryption_keys_file",
        "codec_token",
        "codec_token_file",
        "dashboard_token",
        "public_url",
        "stop_link_secret",
        "telegram_bot_token",
        "webhook_urls",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """`KRIPTO_X=` (as in a copied `.env.example`) means unset, not an empty path or key."""
        if isinstance(value, str) and not value.strip():
            return None
        if isinstance(value, SecretStr) and not value.get_secret_value().strip():
            return None
        return value

    @field_validator("products", mode="before")
    @classmethod
    def _split_products(cls, value: object) -> object:
        if isinstance(value, str):
            value = [p.strip() for p in value.split(",") if p.strip()]
        if isinstance(value, list) and not value:
            raise ValueError("name at least one product, for example BTC-GBP")
        return value

    @field_validator("telegram_chat_ids", mode="before")
    @classmethod
    def _split_chat_ids(cls, value: object) -> object:
        if isinstance(value, int):
            return [value]
        if isinstance(value, str):
            ids = []
            for part in filter(None, (p.strip() for p in value.split(","))):
                if not re.fullmatch(r"-?\d{1,20}", part):
                    raise ValueError(f"{part!r} is not a chat ID (a whole number, e.g. 123456789)")
                ids.append(int(part))
            return ids
        return value

    @field_validator("webhook_urls")
    @classmethod
    def _check_webhooks(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            from kripto.notify.channels import parse_webhooks

            parse_webhooks(value.get_secret_value())  # its errors never quote the URL
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
        "bar",
        "stop_loss_window",
        "stop_loss_pause",
        "settle_poll",
        "reconcile_every",
        "reconcile_lookback",
        "reconcile_grace",
        "shutdown_grace",
        "metrics_sample_every",
        "telegram_poll_timeout",
        "maker_window",
        "quote_max_age",
        "max_clock_skew",
        mode="before",
    )
    @classmethod
    def _durations(cls, value: object) -> object:
        return None if value is None or value == "" else parse_duration(value)

    @field_validator("deployment_name", "build_id")
    @classmethod
    def _version_name(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.field_name == "build_id":
            from kripto.build_id import code_build_id

            return code_build_id()
        return _check_version_name(value, allow_dot=info.field_name == "build_id")

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

    @field_validator("max_slippage", mode="before")
    @classmethod
    def _slippage_off(cls, value: object) -> object:
        """`off` (or empty, or 0): the taker fallback is a market order, uncapped."""
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "off")):
            return None
        return value

    @field_validator("max_slippage", "requote_after", "paper_spread")
    @classmethod
    def _small_fraction(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        if value is None:
            return None
        if not value.is_finite() or not Decimal(0) <= value < Decimal("0.1"):
            raise ValueError("must be a fraction from 0 to below 0.1, for example 0.0005")
        if value == 0 and info.field_name == "max_slippage":
            return None
        return value

    @field_validator("fee_rate")
    @classmethod
    def _fee(cls, value: Decimal | None) -> Decimal | None:
        if value is not None and (not value.is_finite() or not Decimal(0) <= value < 1):
            raise ValueError("must be a fraction between 0 and 1, for example 0.005")
        return value

    @field_validator("fee_tier")
    @classmethod
    def _tier(cls, value: str) -> str:
        fee_tier(value)
        return value

    @property
    def fees(self) -> FeeTier:
        """The maker and taker rates: KRIPTO_FEE_RATE for both when set, else the tier's."""
        return flat(self.fee_rate) if self.fee_rate is not None else fee_tier(self.fee_tier)

    @property
    def taker_fee(self) -> Decimal:
        """What a market order pays: the paper exchange, the backtester and the fee guard."""
        return self.fees.taker

    @field_validator("trade_fraction")
    @classmethod
    def _fraction(cls, value: Decimal) -> Decimal:
        if not value.is_finite() or not Decimal(0) < value <= 1:
            raise ValueError("must be a fraction above 0 and at most 1, for example 0.15")
        return value

    @model_validator(mode="after")
    def _temporal_tls(self) -> Settings:
        """mTLS needs both halves; a lone certificate or key is a mistake, not a choice."""
        cert, key = self.temporal_tls_cert_file, self.temporal_tls_key_file
        if (cert is None) != (key is None):
            given, missing = (
                ("KRIPTO_TEMPORAL_TLS_CERT_FILE", "KRIPTO_TEMPORAL_TLS_KEY_FILE")
                if cert is not None
                else ("KRIPTO_TEMPORAL_TLS_KEY_FILE", "KRIPTO_TEMPORAL_TLS_CERT_FILE")
            )
            raise ValueError(
                f"{given} is set but {missing} is not: mTLS needs the client certificate"
                " and its private key together (set both, or neither)"
            )
        return self

    @property
    def temporal_uses_tls(self) -> bool:
        """TLS is on when asked for, when any TLS file is named, or with an API key (a bearer
        token must never cross the network in clear text)."""
        return (
            self.temporal_tls
            or self.temporal_api_key is not None
            or any(
                v is not None
                for v in (
                    self.temporal_tls_ca_file,
                    self.temporal_tls_cert_file,
                    self.temporal_tls_server_name,
                )
            )
        )

    @model_validator(mode="after")
    def _cdp_key_file(self) -> Settings:
        """A key file as Coinbase downloads it names its key: use that name, and refuse a
        different name set beside it rather than sign with a key the name does not match."""
        path = self.coinbase_api_private_key_file
        if path is None:
            return self
        if self.coinbase_api_private_key is not None:
            raise ValueError(
                "KRIPTO_COINBASE_API_PRIVATE_KEY and KRIPTO_COINBASE_API_PRIVATE_KEY_FILE are"
                " both set: keep one of them"
            )
        name, _ = read_coinbase_key_file(path)
        if name is None:
            return self
        if self.coinbase_api_key_name is None:
            self.coinbase_api_key_name = name
        elif self.coinbase_api_key_name != name:
            from kripto.exchanges.coinbase_auth import mask_key_name

            raise ValueError(
                f"KRIPTO_COINBASE_API_KEY_NAME ({mask_key_name(self.coinbase_api_key_name)})"
                f" is not the key named in KRIPTO_COINBASE_API_PRIVATE_KEY_FILE"
                f" ({mask_key_name(name)}): unset KRIPTO_COINBASE_API_KEY_NAME to use the"
                " file's key, or point the file setting at that key's file"
            )
        return self

    @model_validator(mode="after")
    def _live_needs_real_parts(self) -> Settings:
        if self.exchange == "coinbase":
            if self.feed == "simulated":
                raise ValueError(
                    "KRIPTO_FEED=simulated is for paper trading only, not KRIPTO_EXCHANGE=coinbase"
                )
            if not self.coinbase_api_key_name:
                raise ValueError(
                    "KRIPTO_EXCHANGE=coinbase (live trading) needs a CDP API key: set"
                    " KRIPTO_COINBASE_API_PRIVATE_KEY_FILE to the key's JSON file as Coinbase"
                    " downloads it (or KRIPTO_COINBASE_API_KEY_NAME and a private key)"
                )
        return self

    @model_validator(mode="after")
    def _encryption(self) -> Settings:
        """Parse the keys once, so a bad key stops start-up with the setting's name."""
        from kripto.temporal.codec import parse_keys

        if self.encryption_keys is not None and self.encryption_keys_file is not None:
            raise ValueError(
                "KRIPTO_ENCRYPTION_KEYS and KRIPTO_ENCRYPTION_KEYS_FILE are both set: keep one"
            )
        if self.codec_token is not None and self.codec_token_file is not None:
            raise ValueError(
                "KRIPTO_CODEC_TOKEN and KRIPTO_CODEC_TOKEN_FILE are both set: keep one"
            )
        if self.encryption_keys_file is not None:
            text = _read_secret_file("KRIPTO_ENCRYPTION_KEYS_FILE", self.encryption_keys_file)
            self.encryption_keys = SecretStr(",".join(text.split()))
            self.encryption_keys_file = None  # read once; the keys now live in the setting
        if self.encryption_keys is not None:
            parse_keys(self.encryption_keys.get_secret_value())  # raises naming the setting
        if self.codec_token_file is not None:
            token = _read_secret_file("KRIPTO_CODEC_TOKEN_FILE", self.codec_token_file).strip()
            self.codec_token = SecretStr(token)
            self.codec_token_file = None
        if self.codec_token is not None and len(self.codec_token.get_secret_value()) < 16:
            raise ValueError("KRIPTO_CODEC_TOKEN: must be at least 16 characters")
        return self

    @property
    def amounts_in_metadata(self) -> bool:
        """Whether amounts may appear where the payload codec does not reach: search attributes
        (and, to be safe, summaries and current details). False when payloads are encrypted, so
        the Web UI's list and the visibility store never hold a trade's amount in clear text.
        Every place that writes metadata consults this one switch."""
        return self.encryption_keys is None

    @property
    def dev_env(self) -> Path:
        """Where `kripto dev` writes the addresses of the stack it runs."""
        return self.data_dir / "dev.env"

    @property
    def temporal_address_is_default(self) -> bool:
        """True when no source named a Temporal address: no TEMPORAL_ADDRESS (or
        KRIPTO_TEMPORAL_ADDRESS) and no dev.env, so it is localhost:7233 by default."""
        return "temporal_address" not in self.model_fields_set

    @model_validator(mode="after")
    def _secrets_from_data_dir(self) -> Settings:
        """`kripto dev` writes the dashboard token and the stop-link secret into the data folder
        (never into dev.env, which is plain configuration); unset settings take them from there."""
        for field, name in (
            ("dashboard_token", DASHBOARD_TOKEN_FILE),
            ("stop_link_secret", STOP_LINK_SECRET_FILE),
        ):
            path = self.data_dir / name
            if getattr(self, field) is None and path.is_file():
                value = path.read_text().strip()
                if value:
                    setattr(self, field, SecretStr(value))
        return self

    @field_validator("public_url", "temporal_ui_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(
                "must be an http:// or https:// URL, for example http://127.0.0.1:8237"
            )
        return value.rstrip("/") if value else value

    @property
    def dashboard_url(self) -> str:
        host = self.dashboard_host
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.dashboard_port}"

    @property
    def stop_link_base(self) -> str:
        """Where a receipt's stop link points: KRIPTO_PUBLIC_URL, else the dashboard."""
        return self.public_url or self.dashboard_url

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    def coinbase_private_key_pem(self) -> str:
        """The Advanced Trade private key, from the setting or the file it names."""
        if self.coinbase_api_private_key is not None:
            return self.coinbase_api_private_key.get_secret_value()
        if self.coinbase_api_private_key_file is not None:
            try:
                return read_coinbase_key_file(self.coinbase_api_private_key_file)[1]
            except ValueError as exc:
                raise SettingsError(str(exc)) from None
        raise SettingsError(
            "KRIPTO_COINBASE_API_PRIVATE_KEY: live trading needs the API key's private key"
            " (or KRIPTO_COINBASE_API_PRIVATE_KEY_FILE)"
        )

    def require_database_url(self) -> str:
        if not self.database_url:
            where = "" if self.dev_env.is_file() else f" (no {self.dev_env} here)"
            raise SettingsError(
                f"KRIPTO_DATABASE_URL is not set{where}: start `kripto dev` first, pass"
                " --data-dir (or set KRIPTO_DATA_DIR) to the folder `kripto dev` uses, or point"
                " KRIPTO_DATABASE_URL at Postgres"
            )
        return self.database_url

    def section(self, name: str) -> BaseModel:
        """One section's values (`risk`, `mail`, ...) as its own small model."""
        model = SECTIONS[name]
        return model.model_construct(
            **{field: getattr(self, field) for field in model.model_fields}
        )

    def masked(self, join: str | None = None) -> dict[str, str]:
        """Every setting as text, secrets shown as `********`; with `join`, a list is its
        items joined by it (`BTC-GBP, ETH-GBP`) rather than Python's `['BTC-GBP']`."""
        out: dict[str, str] = {}
        for name, value in self:
            if join is not None and isinstance(value, list | tuple):
                out[name] = join.join(str(v) for v in value)
            elif isinstance(value, SecretStr):
                out[name] = "********"
            elif name == "database_url" and value:
                out[name] = re.sub(r"//([^:@/]+):([^@/]+)@", r"//\1:********@", str(value))
            else:
                out[name] = "" if value is None else str(value)
        return out


def _read_secret_file(setting: str, path: Path) -> str:
    """A secret file's text; an error naming the setting (never the contents)."""
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not a text file"
        raise ValueError(f"{setting}: cannot read {path} ({why})") from None


def read_coinbase_key_file(path: Path) -> tuple[str | None, str]:
    """The key name (if the file names one) and the private key from a CDP key file.

    Two shapes are read: the JSON file Coinbase downloads (`{"name": "organizations/…/apiKeys/…",
    "privateKey": "-----BEGIN EC PRIVATE KEY-----…"}`; newer Ed25519 keys carry `id` instead of
    `name`), and a bare PEM private key. Errors name the setting, never the file's contents."""
    setting = "KRIPTO_COINBASE_API_PRIVATE_KEY_FILE"
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not a text file"
        raise ValueError(f"{setting}: cannot read {path} ({why})") from None
    if not text.lstrip().startswith("{"):
        return None, text
    try:
        data = json.loads(text)
    except ValueError as exc:
        where = f"line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else "?"
        raise ValueError(f"{setting}: {path} is not valid JSON ({where})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{setting}: {path} is not a CDP key file (a JSON object)")
    private = data.get("privateKey")
    if not isinstance(private, str) or not private.strip():
        raise ValueError(f'{setting}: {path} has no "privateKey": is it the CDP API key file?')
    name = data.get("name") or data.get("id")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ValueError(f'{setting}: {path} has a "name" that is not a key name')
    return (name.strip() if name else None), private


def env_files(data_dir: Path | None = None) -> tuple[Path, ...]:
    """The dev stack's `dev.env`, then the user's `.env`: later files win, so the user's own
    `.env` overrides what `kripto dev` wrote (and environment variables override both).

    The data folder that holds `dev.env` is KRIPTO_DATA_DIR from the environment, else from
    `.env`, else `.kripto`."""
    user = Path(".env")
    if data_dir is None:
        named = os.environ.get("KRIPTO_DATA_DIR")
        if named is None and user.is_file():
            named = dotenv_values(user).get("KRIPTO_DATA_DIR")
        data_dir = Path(named) if named else DEFAULT_DATA_DIR
    return (data_dir / "dev.env", user)


def load_settings(**overrides: Any) -> Settings:
    """Read the settings once. Bad settings raise SettingsError with one readable line.
    `overrides` (command-line flags) win over every other source; a `data_dir` among them
    (`--data-dir`) also decides where `dev.env` is read from."""
    data_dir = overrides.get("data_dir")
    files = env_files(Path(data_dir)) if data_dir is not None else env_files()
    try:
        settings = Settings(_env_file=files, **overrides)
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc, prefix="KRIPTO_")) from None
    # The strategy is checked against its own declaration, which settings do not know, by the
    # composition root (kripto.composition.load_settings), which every command calls.
    return settings


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
