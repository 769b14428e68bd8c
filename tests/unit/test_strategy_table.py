"""docs/strategies.md holds what `python -m benchmarks.strategy_table --sample` prints."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.strategy_table import main
from kripto.composition import risk_from_settings, strategy_from_settings
from kripto.protections import Protections
from kripto.settings import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "strategies.md"


def test_the_document_holds_the_commands_table(
    sample_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["--sample"])
    printed = capsys.readouterr().out.rstrip("\n")
    text = DOC.read_text()
    begin, end = "<!-- strategy-table:begin -->\n", "\n<!-- strategy-table:end -->"
    documented = text[text.index(begin) + len(begin) : text.index(end)]
    assert documented == printed
    assert "zscore beats DCA, so it is the default." in printed
    # ... and the settings' default is that strategy, its set and its bar, unprotected.
    settings = Settings(_env_file=None)
    assert "is zscore (window=1d threshold=1.5)" in printed
    assert (settings.strategy.strategy, strategy_from_settings(settings.strategy).params()) == (
        "zscore",
        {"window": "1440", "threshold": "1.5"},
    )
    risk = risk_from_settings(settings.risk, settings.strategy)
    assert (risk.protections, risk.bar_minutes) == (Protections(), 60)
