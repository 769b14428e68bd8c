"""The settings come in sections, each a small model with the one copy of its defaults, and
.env.example documents them as the sections define them."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from kripto.cli.config import config_rows, section_of
from kripto.risk import RiskSettings
from kripto.settings import (
    LEGACY_STRATEGY_PARAMS,
    SECTIONS,
    RiskSection,
    Settings,
    SettingsError,
    load_settings,
)

ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"
#: `# KRIPTO_X=value`: a line left commented out keeps the default shown (the file says so).
_DEFAULT_SHOWN = re.compile(r"^# (KRIPTO_[A-Z0-9_]+)=(.+)$", re.MULTILINE)


def test_every_setting_is_in_exactly_one_section() -> None:
    fields = [field for section in SECTIONS.values() for field in section.model_fields]
    assert list(Settings.model_fields) == list(SECTIONS)  # the settings are their sections
    assert len(fields) == len(set(fields))  # one flat environment name each


def test_the_sections_are_the_issues_and_small() -> None:
    assert set(SECTIONS) == {
        "general",
        "temporal",
        "exchange",
        "execution",  # maker-first (issue 23)
        "risk",
        "strategy",
        "mail",
        "dashboard",
        "notifications",  # the phone's (issue 18), after the sections were first drawn
        "metrics",
        "encryption",
    }
    sizes = {name: len(section.model_fields) for name, section in SECTIONS.items()}
    assert max(sizes.values()) <= 20, sizes


def test_the_risk_defaults_are_kripto_risks_own() -> None:
    """One source: the worker's guards (the settings) and a backtest's (RiskSettings())."""
    defaults, risk = Settings(_env_file=None).risk, RiskSettings()
    for field in RiskSection.model_fields:
        if hasattr(risk.protections, field):  # the protections, kripto.protections' own
            assert getattr(defaults, field) == getattr(risk.protections, field), field
            continue
        assert str(getattr(defaults, field)) == str(getattr(risk, field)), field
    assert not risk.protections.any


def test_a_section_is_its_own_model_with_the_settings_values() -> None:
    """Read by flat environment name, kept by section: `settings.risk.max_trade_gbp`."""
    settings = Settings(_env_file=None, max_trade_gbp="500.00", mailer="ses")
    assert isinstance(settings.risk, RiskSection)
    assert str(settings.risk.max_trade_gbp) == "500.00"
    assert settings.mail.mailer == "ses"
    # A copy takes flat names into their sections, and leaves the original as it was.
    copy = settings.model_copy(update={"max_trade_gbp": Decimal("20.00"), "products": ["ETH-GBP"]})
    assert (copy.risk.max_trade_gbp, copy.general.products) == (Decimal("20.00"), ["ETH-GBP"])
    assert (settings.risk.max_trade_gbp, settings.general.products) == (
        Decimal("500.00"),
        ["BTC-GBP"],
    )


def test_max_trade_gbp_is_checked_once_in_its_section() -> None:
    with pytest.raises(ValidationError) as caught:
        RiskSection(max_trade_gbp=Decimal("5.00"))
    assert "KRIPTO_MAX_TRADE_GBP (5.00) must be at least the minimum order (£10.00" in str(
        caught.value
    )
    with pytest.raises(SettingsError, match=r"^KRIPTO_MAX_TRADE_GBP \(5\.00\) must be"):
        load_settings(max_trade_gbp="5.00", data_dir="/nonexistent")


def _shown_defaults() -> dict[str, str]:
    return dict(_DEFAULT_SHOWN.findall(ENV_EXAMPLE.read_text()))


#: Lines in .env.example that show an example, not the default (the file's text says which).
EXAMPLES_NOT_DEFAULTS = {
    "KRIPTO_DATABASE_URL",  # a compose-style URL; unset by default (kripto dev's dev.env sets it)
    "KRIPTO_BUILD_ID",  # unset: derived from the code
    # Where a secret file would go, and a server name: unset by default.
    "KRIPTO_TEMPORAL_TLS_CA_FILE",
    "KRIPTO_TEMPORAL_TLS_CERT_FILE",
    "KRIPTO_TEMPORAL_TLS_KEY_FILE",
    "KRIPTO_TEMPORAL_TLS_SERVER_NAME",
    "KRIPTO_COINBASE_API_PRIVATE_KEY_FILE",
    "KRIPTO_WEBHOOK_URLS",  # an example of the three forms; unset by default
    # The older strategy parameters: unset by default; they show the strategies' own defaults.
    *(f"KRIPTO_{name.upper()}" for name in LEGACY_STRATEGY_PARAMS),
}


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_env_example_shows_each_sections_defaults(section: str) -> None:
    """A commented-out line shows the default: for every setting of the section, the value
    shown, read as the setting, is the section's default (as `kripto config` prints both)."""
    defaults = _config(Settings(_env_file=None))
    wrong = {}
    for name, text in _shown_defaults().items():
        if section_of(name) != section or name in EXAMPLES_NOT_DEFAULTS:
            continue
        field = name.removeprefix("KRIPTO_").lower()
        given: dict[str, Any] = {field: text}
        shown = _config(Settings(_env_file=None, **given))
        if shown[name] != defaults[name]:
            wrong[name] = (text, defaults[name])
    assert wrong == {}


def _config(settings: Settings) -> dict[str, str]:
    return {name: value for name, value, _ in config_rows(settings)}
