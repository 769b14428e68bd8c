"""Settings, read once at start-up and passed down by section: `settings.risk.max_trade_gbp`,
`settings.exchange.fee_tier`. Each section is a small model with its own defaults and
validators (kripto/settings/<section>.py); a module is handed only the sections it needs.

Sources, strongest first: environment variables (`KRIPTO_…`, plus the conventional
`TEMPORAL_ADDRESS` and `TEMPORAL_NAMESPACE`), the user's `.env` in the working folder, then
`<data dir>/dev.env` written by `kripto dev`. The user's own settings always win over what a
tool wrote for them: `dev.env` only fills in what the user left unset (where the dev stack's
Postgres and Temporal are). The environment names are flat, as ever (KRIPTO_MAX_TRADE_GBP, not
KRIPTO_RISK__…), so every existing .env keeps working. `.env.example` documents every setting.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, Self

from dotenv import dotenv_values
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    create_model,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from kripto.errors import SettingsError
from kripto.settings.base import Section, parse_duration
from kripto.settings.dashboard import (
    DASHBOARD_TOKEN_FILE,
    STOP_LINK_SECRET_FILE,
    DashboardSection,
)
from kripto.settings.encryption import EncryptionSection
from kripto.settings.exchange import ExchangeSection
from kripto.settings.execution import ExecutionSection
from kripto.settings.general import DEFAULT_DATA_DIR, GeneralSection
from kripto.settings.mail import MailSection
from kripto.settings.metrics import MetricsSection
from kripto.settings.notifications import NotificationsSection
from kripto.settings.risk import EXCHANGE_MIN_GBP, RiskSection
from kripto.settings.strategy import LEGACY_STRATEGY_PARAMS, StrategySection
from kripto.settings.temporal import TemporalSection

__all__ = [
    "DASHBOARD_TOKEN_FILE",
    "DEFAULT_DATA_DIR",
    "EXCHANGE_MIN_GBP",
    "LEGACY_STRATEGY_PARAMS",
    "SECTIONS",
    "SECTION_OF",
    "STOP_LINK_SECRET_FILE",
    "DashboardSection",
    "EncryptionSection",
    "ExchangeSection",
    "ExecutionSection",
    "GeneralSection",
    "MailSection",
    "MetricsSection",
    "NotificationsSection",
    "RiskSection",
    "Settings",
    "SettingsError",
    "StrategySection",
    "TemporalSection",
    "describe_validation_error",
    "env_files",
    "env_names",
    "load_settings",
    "parse_duration",
]

#: The settings by section, in the order `kripto config` shows them. A new setting goes into
#: the section it belongs to (tests/unit/test_settings_sections.py checks that each belongs to
#: exactly one, and that .env.example documents it).
SECTIONS: dict[str, type[Section]] = {
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

#: Each setting's section, by its flat name (`max_trade_gbp` is in `risk`).
SECTION_OF: dict[str, str] = {
    field: name for name, section in SECTIONS.items() for field in section.model_fields
}


class _Sources(BaseSettings):
    """The base of the reader: flat `KRIPTO_` names, from the environment and the .env files."""

    model_config = SettingsConfigDict(env_prefix="KRIPTO_", extra="ignore", populate_by_name=True)


def env_names() -> dict[str, tuple[str, ...]]:
    """Each setting's environment names, strongest first: `KRIPTO_<NAME>`, and for the
    Temporal address and namespace also the conventional `TEMPORAL_ADDRESS` and
    `TEMPORAL_NAMESPACE`."""
    names: dict[str, tuple[str, ...]] = {}
    for section in SECTIONS.values():
        for name, info in section.model_fields.items():
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            given = extra.get("env")
            names[name] = (
                tuple(map(str, given)) if isinstance(given, list) else (f"KRIPTO_{name.upper()}",)
            )
    return names


@cache
def _reader() -> type[_Sources]:
    """A model that reads every setting by its flat environment name (and the aliases a field
    declares), as given, leaving each value's checks to its section."""
    fields: dict[str, Any] = {}
    for name, names in env_names().items():
        alias = AliasChoices(*names) if names != (f"KRIPTO_{name.upper()}",) else None
        fields[name] = (Any, Field(None, validation_alias=alias))
    reader: type[_Sources] = create_model("SettingsSources", __base__=_Sources, **fields)
    return reader


def _read(env_file: Any, given: Mapping[str, Any]) -> dict[str, Any]:
    """The flat values the sources name (environment, .env files, `given`), unchecked."""
    values = _reader()(_env_file=env_file, **given)
    return values.model_dump(exclude_unset=True)


class Settings(BaseModel):
    """All the settings, one model per section. `Settings(max_trade_gbp="500")` and
    `load_settings()` read the flat names (and the environment); `settings.model_copy(update=
    {"products": [...]})` takes flat names too, each into its section."""

    model_config = ConfigDict(hide_input_in_errors=True, extra="forbid")

    general: GeneralSection = Field(default_factory=GeneralSection)
    temporal: TemporalSection = Field(default_factory=TemporalSection)
    exchange: ExchangeSection = Field(default_factory=ExchangeSection)
    execution: ExecutionSection = Field(default_factory=ExecutionSection)
    risk: RiskSection = Field(default_factory=RiskSection)
    strategy: StrategySection = Field(default_factory=StrategySection)
    mail: MailSection = Field(default_factory=MailSection)
    dashboard: DashboardSection = Field(default_factory=DashboardSection)
    notifications: NotificationsSection = Field(default_factory=NotificationsSection)
    metrics: MetricsSection = Field(default_factory=MetricsSection)
    encryption: EncryptionSection = Field(default_factory=EncryptionSection)

    def __init__(self, _env_file: Any = None, **data: Any) -> None:
        """`_env_file`: the .env files to read (none unless given; load_settings names them)."""
        super().__init__(_env_file=_env_file, **data)

    @model_validator(mode="before")
    @classmethod
    def _by_section(cls, data: Any) -> Any:
        """Flat names (from the environment, the .env files and the arguments) into their
        sections; a section given whole is taken as it is."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        env_file = data.pop("_env_file", None)
        sections = {k: data.pop(k) for k in list(data) if _whole_section(k, data[k])}
        unknown = [k for k in data if k not in SECTION_OF]
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        grouped: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
        for name, value in _read(env_file, data).items():
            grouped[SECTION_OF[name]][name] = value
        return {name: sections.get(name, grouped[name]) for name in SECTIONS}

    @model_validator(mode="after")
    def _secrets_from_data_dir(self) -> Self:
        """`kripto dev` writes the dashboard token and the stop-link secret into the data folder
        (never into dev.env, which is plain configuration); unset settings take them from there."""
        for field, name in (
            ("dashboard_token", DASHBOARD_TOKEN_FILE),
            ("stop_link_secret", STOP_LINK_SECRET_FILE),
        ):
            path = self.general.data_dir / name
            if getattr(self.dashboard, field) is None and path.is_file():
                value = path.read_text().strip()
                if value:
                    setattr(self.dashboard, field, SecretStr(value))
        return self

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy with some settings changed: by flat name (`{"products": [...]}`), each into
        its section, or a section whole (`{"risk": RiskSection(...)}`). Not validated, as
        pydantic's own model_copy."""
        if not update:
            return super().model_copy(deep=deep)
        whole = {k: v for k, v in update.items() if _whole_section(k, v)}
        flat: dict[str, dict[str, Any]] = {}
        for name, value in update.items():
            if name in whole:
                continue
            if name not in SECTION_OF:
                raise KeyError(f"{name} is no setting")
            flat.setdefault(SECTION_OF[name], {})[name] = value
        for section, values in flat.items():
            base = whole.get(section, getattr(self, section))
            whole[section] = base.model_copy(update=values, deep=deep)
        return super().model_copy(update=whole, deep=deep)

    def masked(self, join: str | None = None) -> dict[str, str]:
        """Every setting by its flat name as text, secrets shown as `********` (kripto.masking:
        every SecretStr, and a URL's password or secret parameters); with `join`, a list is its
        items joined by it (`BTC-GBP, ETH-GBP`) rather than Python's `['BTC-GBP']`."""
        from kripto.masking import MASK, mask_url

        out: dict[str, str] = {}
        for section in SECTIONS:
            for name, value in getattr(self, section):
                if join is not None and isinstance(value, list | tuple):
                    out[name] = join.join(str(v) for v in value)
                elif isinstance(value, SecretStr):
                    out[name] = MASK
                elif isinstance(value, str) and "://" in value:
                    out[name] = mask_url(value)  # a password in a URL, or `?password=`
                else:
                    out[name] = "" if value is None else str(value)
        return out


def _whole_section(name: str, value: Any) -> bool:
    """`strategy` and `exchange` name a section and a setting in it (KRIPTO_STRATEGY,
    KRIPTO_EXCHANGE): a model or a dict is the section, anything else the setting."""
    return name in SECTIONS and isinstance(value, BaseModel | dict)


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
    `overrides` (command-line flags, by flat name) win over every other source; a `data_dir`
    among them (`--data-dir`) also decides where `dev.env` is read from. The strategy is
    checked against its own declaration by the composition root (kripto.composition)."""
    data_dir = overrides.get("data_dir")
    files = env_files(Path(data_dir)) if data_dir is not None else env_files()
    try:
        return Settings(_env_file=files, **overrides)
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc, prefix="KRIPTO_")) from None


def describe_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """One line per problem, naming the setting: `KRIPTO_PRODUCTS: product 'x' must …`."""
    lines = []
    for err in exc.errors():
        msg = err["msg"].removeprefix("Value error, ")
        loc = [str(p) for p in err["loc"]]
        if loc and loc[0] in SECTIONS:
            loc = loc[1:]  # the section is not part of the setting's name
        if not loc:  # a rule across settings names them itself
            lines.append(msg)
            continue
        field = ".".join(loc)
        lines.append(f"{prefix}{field.upper() if prefix else field}: {msg}")
    return "; ".join(lines)
