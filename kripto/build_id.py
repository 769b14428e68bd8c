"""The build ID a worker reports to its Worker Deployment when KRIPTO_BUILD_ID is not set.

It is derived from what the worker runs: a hash of every `.py` file in the three packages that
make up a worker (`workflows`, `activities`, `kripto`), the package version, and the installed
version of every distribution Kripto depends on, directly or not (temporalio, pydantic,
pydantic-core and the rest). Two builds whose code or dependencies differ never share an ID (an
image rebuilt with another Temporal SDK replays histories with other code), and the same code on
the same dependencies always gets the same one, on a laptop and in a container alike. A hash of
the code, not of Git state: a worker may run from an installed wheel with no checkout beside it."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from functools import cache
from importlib import metadata
from pathlib import Path

PACKAGES = ("workflows", "activities", "kripto")
ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTION = "kripto"
#: The name at the start of a requirement (`pydantic-core==2.41.5; python_version …`).
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_VERSION = re.compile(r"^Version:(.*)$", re.MULTILINE)
_REQUIRES = re.compile(r"^Requires-Dist:(.*)$", re.MULTILINE)


def package_version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "0"


def normalize(name: str) -> str:
    """PEP 503: `Pydantic_Core` and `pydantic-core` are one distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def required_names(requirements: Iterable[str]) -> list[str]:
    """The distributions a list of requirements names, leaving out optional extras
    (`pytest>=8; extra == "dev"`): a worker never imports them."""
    names = []
    for requirement in requirements:
        if "extra ==" in requirement.replace("extra==", "extra =="):
            continue
        match = _REQUIREMENT_NAME.match(requirement)
        if match:
            names.append(normalize(match.group(1)))
    return names


def installed_dependencies(root: str = DISTRIBUTION) -> dict[str, str]:
    """Every installed distribution `root` depends on, however indirectly, with its version
    (`{"pydantic-core": "2.41.5", "temporalio": "1.20.0", …}`). A requirement that is not
    installed (say, one for another platform) is skipped. Each distribution's METADATA is read
    as text, not through the email parser, which would add half a second to every command."""
    installed: dict[str, metadata.Distribution] = {}
    for dist in metadata.distributions():
        name = getattr(dist, "_normalized_name", None) or dist.metadata["Name"] or ""
        # An installed wheel's .dist-info wins over a stale .egg-info left in a checkout.
        if normalize(name) not in installed or _is_dist_info(dist):
            installed[normalize(name)] = dist
    found: dict[str, str] = {}
    pending = [normalize(root)]
    while pending:
        name = pending.pop()
        if name in found or name not in installed:
            continue
        dist = installed[name]
        text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
        version = _VERSION.search(text)
        found[name] = version.group(1).strip() if version else "?"
        pending.extend(required_names(_REQUIRES.findall(text) or dist.requires or []))
    found.pop(normalize(root), None)
    return dict(sorted(found.items()))


def _is_dist_info(dist: metadata.Distribution) -> bool:
    return str(getattr(dist, "_path", "")).endswith(".dist-info")


def dependencies_digest(versions: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for name, version in sorted(versions.items()):
        digest.update(f"{name}=={version}\0".encode())
    return digest.hexdigest()


def code_digest(
    root: Path = ROOT,
    packages: tuple[str, ...] = PACKAGES,
    dependencies: dict[str, str] | None = None,
) -> str:
    """A SHA-256 over each source file's path (relative to `root`) and contents, in path order,
    so moving code between files changes the digest too, and over the installed dependencies
    (`installed_dependencies()` unless given)."""
    digest = hashlib.sha256()
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(b"\0")
            digest.update(path.read_bytes())
            digest.update(b"\0")
    versions = installed_dependencies() if dependencies is None else dependencies
    digest.update(dependencies_digest(versions).encode())
    return digest.hexdigest()


@cache
def code_build_id() -> str:
    """`<version>-<12 hex digits of the digest>`, e.g. `0.1.0-3f9c2a7b1d04`."""
    return f"{package_version()}-{code_digest()[:12]}"
