"""The alert rules in deploy/prometheus are valid Prometheus rules (`promtool check rules`), and
each alert fires when it should and not before (`promtool test rules`, kripto.rules.test.yml).
promtool comes with Debian's `prometheus` package (`make sysdeps`); without it this test fails,
as an untested alert is worse than none."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from kripto.metrics import ATTEMPT_LIMIT

PROMETHEUS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
RULES = PROMETHEUS / "kripto.rules.yml"
#: Where the metrics and the alerts are documented (the page "Operating").
README = Path(__file__).resolve().parents[2] / "docs" / "operating.md"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary is not None, "promtool is missing: `make sysdeps` (Debian package prometheus)"
    return subprocess.run(
        [binary, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60
    )


def test_rules_are_valid() -> None:
    result = promtool("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 10 rules found" in result.stdout


def test_each_alert_fires_when_it_should() -> None:
    result = promtool("test", "rules", "kripto.rules.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_is_tested_and_documented() -> None:
    alerts = re.findall(r"^\s*- alert: (\w+)$", RULES.read_text(), re.MULTILINE)
    assert len(alerts) == 10
    tests = (PROMETHEUS / "kripto.rules.test.yml").read_text()
    readme = README.read_text()
    assert sorted(a for a in alerts if f"alertname: {a}" not in tests) == []
    assert sorted(a for a in alerts if f"`{a}`" not in readme) == []
    # The rule says 5 attempts where the code counts past ATTEMPT_LIMIT.
    assert re.search(rf"past its {ATTEMPT_LIMIT}th attempt", RULES.read_text())


def test_every_metric_the_rules_use_is_documented() -> None:
    used = set(re.findall(r"\b(kripto_[a-z_]+)", RULES.read_text()))
    readme = README.read_text()
    assert sorted(m for m in used if f"`{m}" not in readme) == []


def test_every_metric_the_worker_makes_is_documented() -> None:
    """Each name made in kripto/metrics.py has its row in docs/operating.md's metrics table
    (counters are served with `_total`)."""
    source = (Path(__file__).resolve().parents[2] / "kripto" / "metrics.py").read_text()
    counters = set(re.findall(r'counter\(\s*"(kripto_[a-z_]+)"', source))
    others = set(
        re.findall(r'create_(?:gauge|gauge_float|histogram_float)\(\s*"(kripto_[a-z_]+)"', source)
    )
    others |= set(re.findall(r'gauge\(\s*"(kripto_[a-z_]+)"', source))
    assert len(counters) == 11 and len(others) == 12
    rows = {m for m in re.findall(r"^\| `(kripto_[a-z_]+)` \|", README.read_text(), re.MULTILINE)}
    assert rows == {f"{c}_total" for c in counters} | others
