#!/usr/bin/env bash
# Prove Kripto installs and runs on one Python: a fresh venv, the pinned constraints
# (as `make install` takes them), then `kripto --help`, a synthetic backtest and the unit
# tests. Usage: scripts/smoke.sh python3.12
set -euo pipefail
py=${1:?usage: scripts/smoke.sh PYTHON}
root=$(cd "$(dirname "$0")/.." && pwd)
venv=$(mktemp -d "${TMPDIR:-/tmp}/kripto-smoke-XXXXXX")
trap 'rm -rf "$venv"' EXIT
version=$("$py" -c 'import platform; print(platform.python_version())')
echo "== $py ($version): installing into $venv"
"$py" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -c "$root/constraints.txt" "$root[dev]"
cd "$root"
"$venv/bin/kripto" --help >/dev/null
"$venv/bin/kripto" backtest --synthetic 2 --seed 1 --json >/dev/null
"$venv/bin/python" -m pytest -q -p no:cacheprovider tests/unit
echo "== $py ($version): ok"
