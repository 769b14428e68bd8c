"""Where rates and candles come from, the exchange orders go to, its fees and its keys."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator

from kripto.errors import SettingsError
from kripto.fees import FeeTier, fee_tier, flat
from kripto.settings.base import Section


class ExchangeSection(Section):
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
    #: 1.20% taker) or `MAKER/TAKER` fractions. A fill pays the rate of its liquidity.
    fee_tier: str = "intro1"
    #: One flat rate for both sides instead of the tier (the seed's sample arithmetic used 0.005).
    fee_rate: Decimal | None = None
    #: How often a placed order's state is read until it settles.
    settle_poll: timedelta = timedelta(seconds=2)

    # Reconciliation: see docs/reconciliation.md.
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

    @field_validator("paper_gbp")
    @classmethod
    def _non_negative(cls, value: Decimal) -> Decimal:
        if not value.is_finite() or value < 0:
            raise ValueError("must be a non-negative amount")
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
        """What a market order pays (`kripto optimize` weighs every order at it). What a trade
        pays is decided in kripto/fees.py, from `fees`, the account's rates and the execution."""
        return self.fees.taker

    @model_validator(mode="after")
    def _cdp_key_file(self) -> Self:
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
        # Imported here: the Coinbase auth loads jwt and cryptography (a tenth of a second),
        # which a command without a key file (a CSV backtest) never needs.
        from kripto.exchanges.coinbase_auth import mask_key_name, read_coinbase_key_file

        name, _ = read_coinbase_key_file(path)
        if name is None:
            return self
        if self.coinbase_api_key_name is None:
            self.coinbase_api_key_name = name
        elif self.coinbase_api_key_name != name:
            raise ValueError(
                f"KRIPTO_COINBASE_API_KEY_NAME ({mask_key_name(self.coinbase_api_key_name)})"
                f" is not the key named in KRIPTO_COINBASE_API_PRIVATE_KEY_FILE"
                f" ({mask_key_name(name)}): unset KRIPTO_COINBASE_API_KEY_NAME to use the"
                " file's key, or point the file setting at that key's file"
            )
        return self

    @model_validator(mode="after")
    def _live_needs_real_parts(self) -> Self:
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

    def coinbase_private_key_pem(self) -> str:
        """The Advanced Trade private key, from the setting or the file it names."""
        if self.coinbase_api_private_key is not None:
            return self.coinbase_api_private_key.get_secret_value()
        if self.coinbase_api_private_key_file is not None:
            from kripto.exchanges.coinbase_auth import read_coinbase_key_file

            try:
                return read_coinbase_key_file(self.coinbase_api_private_key_file)[1]
            except ValueError as exc:
                raise SettingsError(str(exc)) from None
        raise SettingsError(
            "KRIPTO_COINBASE_API_PRIVATE_KEY: live trading needs the API key's private key"
            " (or KRIPTO_COINBASE_API_PRIVATE_KEY_FILE)"
        )
