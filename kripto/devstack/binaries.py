from __future__ import annotations

import shutil
import sys
from pathlib import Path


def find_binary(name: str) -> str:
    """A program installed by a pip package (`temporal`, `temporal-test-server`): beside this
    Python first, so it works without activating the virtual environment, then on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"`{name}` is not installed: run `make install`")
    return found
