"""The build ID a worker reports to its Worker Deployment when KRIPTO_BUILD_ID is not set.

It is derived from the code itself: a hash of every `.py` file in the three packages that make
up a worker (`workflows`, `activities`, `kripto`) and the package version. Two builds whose code
differs in any byte never share an ID, and the same code always gets the same one, on a laptop
and in a container alike. A hash of the code, not of Git state: a worker may run from an
installed wheel with no checkout beside it."""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import metadata
from pathlib import Path

PACKAGES = ("workflows", "activities", "kripto")
ROOT = Path(__file__).resolve().parents[1]


def package_version() -> str:
    try:
        return metadata.version("kripto")
    except metadata.PackageNotFoundError:
        return "0"


def code_digest(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> str:
    """A SHA-256 over each source file's path (relative to `root`) and contents, in path order,
    so moving code between files changes the digest too."""
    digest = hashlib.sha256()
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(b"\0")
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()


@cache
def code_build_id() -> str:
    """`<version>-<12 hex digits of the code digest>`, e.g. `0.1.0-3f9c2a7b1d04`."""
    return f"{package_version()}-{code_digest()[:12]}"
