"""Where settings come from and which wins (environment > the user's .env > kripto dev's
dev.env), with real files in a temporary folder; the Temporal TLS / API-key settings' rules;
and CDP API key files as Coinbase downloads them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr

from kripto.devstack.stack import write_dev_env
from kripto.exchanges.coinbase_auth import CoinbaseSigner
from kripto.settings import Settings, SettingsError, env_files, load_settings
from kripto.temporal.client import tls_config

KEY_NAME = "organizations/org-1/apiKeys/key-a1b2"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder with no KRIPTO_/TEMPORAL_ settings in the environment."""
    for name in list(os.environ):
        if name.startswith(("KRIPTO_", "TEMPORAL_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_dev(workdir: Path, data: str = ".kripto") -> None:
    (workdir / data).mkdir(exist_ok=True)
    write_dev_env(
        workdir / data / "dev.env",
        {
            "TEMPORAL_ADDRESS": "127.0.0.1:17233",
            "KRIPTO_DATABASE_URL": "postgresql://dev@127.0.0.1:5999/kripto",
            "KRIPTO_FEED": "simulated",
        },
    )


def test_the_users_env_file_wins_over_dev_env(workdir: Path) -> None:
    write_dev(workdir)
    (workdir / ".env").write_text(
        "KRIPTO_FEED=coinbase\nKRIPTO_DATABASE_URL=postgresql://me@db.internal:5432/kripto\n"
    )
    settings = load_settings()
    assert settings.exchange.feed == "coinbase"
    assert settings.general.database_url == "postgresql://me@db.internal:5432/kripto"
    # what .env leaves unset still comes from dev.env
    assert settings.temporal.temporal_address == "127.0.0.1:17233"
    assert env_files() == (Path(".kripto/dev.env"), Path(".env"))


def test_the_environment_wins_over_both_files(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_dev(workdir)
    (workdir / ".env").write_text("KRIPTO_FEED=coinbase\nTEMPORAL_ADDRESS=10.0.0.5:7233\n")
    monkeypatch.setenv("KRIPTO_FEED", "simulated")
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal:7233")
    settings = load_settings()
    assert settings.exchange.feed == "simulated"
    assert settings.temporal.temporal_address == "temporal:7233"
    assert settings.general.database_url == "postgresql://dev@127.0.0.1:5999/kripto"


def test_dev_env_alone_is_used_without_a_users_env(workdir: Path) -> None:
    write_dev(workdir)
    settings = load_settings()
    assert (settings.exchange.feed, settings.temporal.temporal_address) == (
        "simulated",
        "127.0.0.1:17233",
    )


def test_the_data_dir_named_in_env_file_locates_dev_env(workdir: Path) -> None:
    write_dev(workdir, "state")
    (workdir / ".env").write_text("KRIPTO_DATA_DIR=state\n")
    assert env_files() == (Path("state/dev.env"), Path(".env"))
    settings = load_settings()
    assert settings.temporal.temporal_address == "127.0.0.1:17233"
    assert settings.general.data_dir == Path("state")


def test_dev_env_says_the_users_settings_win(workdir: Path) -> None:
    write_dev(workdir)
    lines = (workdir / ".kripto" / "dev.env").read_text().splitlines()
    assert lines[:2] == [
        "# Written by `kripto dev`; other kripto commands in this folder read it.",
        "# Your own .env and environment variables win over anything here.",
    ]
    assert not (workdir / ".kripto" / "dev.env.tmp").exists()


def test_empty_values_in_a_copied_env_example_mean_unset(workdir: Path) -> None:
    (workdir / ".env").write_text(
        "KRIPTO_TEMPORAL_API_KEY=\nKRIPTO_TEMPORAL_TLS_CA_FILE=\nKRIPTO_DATABASE_URL=\n"
    )
    settings = load_settings()
    assert settings.temporal.temporal_api_key is None
    assert settings.temporal.temporal_tls_ca_file is None
    assert settings.general.database_url is None
    assert not settings.temporal.temporal_uses_tls


# Temporal TLS and API key


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ("temporal_tls_cert_file", "KRIPTO_TEMPORAL_TLS_KEY_FILE"),
        ("temporal_tls_key_file", "KRIPTO_TEMPORAL_TLS_CERT_FILE"),
    ],
)
def test_a_client_certificate_needs_its_key(workdir: Path, given: str, missing: str) -> None:
    (workdir / ".env").write_text(f"KRIPTO_{given.upper()}=/etc/kripto/x.pem\n")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value) == (
        f"KRIPTO_{given.upper()} is set but {missing} is not: mTLS needs the client"
        " certificate and its private key together (set both, or neither)"
    )


def test_an_unreadable_tls_file_is_named(workdir: Path) -> None:
    settings = Settings(temporal_tls_ca_file=workdir / "missing-ca.pem")
    with pytest.raises(SettingsError) as caught:
        tls_config(settings)
    assert str(caught.value) == (
        f"KRIPTO_TEMPORAL_TLS_CA_FILE: cannot read {workdir / 'missing-ca.pem'}"
        " (No such file or directory)"
    )
    (workdir / "key.pem").write_text("not a key")
    (workdir / "cert.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    settings = Settings(
        temporal_tls_cert_file=workdir / "cert.pem", temporal_tls_key_file=workdir / "key.pem"
    )
    with pytest.raises(SettingsError) as caught:
        tls_config(settings)
    assert str(caught.value) == (
        f"KRIPTO_TEMPORAL_TLS_KEY_FILE: {workdir / 'key.pem'} is not a PEM file"
        " (no -----BEGIN line)"
    )


def test_tls_is_off_by_default_and_an_api_key_turns_it_on() -> None:
    assert tls_config(Settings()) is None
    with_key = Settings(temporal_api_key="tcld-secret")
    config = tls_config(with_key)
    assert config is not None
    assert config.server_root_ca_cert is None  # the system's roots, as Temporal Cloud needs
    assert tls_config(Settings(temporal_tls=True)) is not None


def test_secrets_are_masked_in_config_and_absent_from_validation_errors(workdir: Path) -> None:
    settings = Settings(temporal_api_key="tcld-secret", aws_secret_access_key="aws-secret")
    masked = settings.masked()
    assert masked["temporal_api_key"] == "********"
    assert masked["aws_secret_access_key"] == "********"
    assert "tcld-secret" not in repr(settings)
    with pytest.raises(ValueError) as caught:  # pydantic's own message, not load_settings'
        Settings(temporal_api_key="tcld-secret", temporal_tls_cert_file="/x.pem")
    assert "tcld-secret" not in str(caught.value)


# CDP API key files


def ec_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def cdp_file(folder: Path, name: str = KEY_NAME, pem: str | None = None) -> Path:
    """The key file exactly as Coinbase's portal downloads it."""
    path = folder / "cdp_api_key.json"
    path.write_text(json.dumps({"name": name, "privateKey": pem or ec_pem()}, indent=2))
    return path


def live(**values: object) -> Settings:
    return Settings(exchange="coinbase", feed="coinbase", **values)


def test_a_downloaded_cdp_key_file_gives_the_name_and_the_key(workdir: Path) -> None:
    pem = ec_pem()
    settings = live(coinbase_api_private_key_file=cdp_file(workdir, pem=pem))
    assert settings.exchange.coinbase_api_key_name == KEY_NAME
    assert settings.exchange.coinbase_private_key_pem() == pem
    signer = CoinbaseSigner(
        settings.exchange.coinbase_api_key_name, settings.exchange.coinbase_private_key_pem()
    )
    assert signer.algorithm == "ES256"
    assert pem.splitlines()[1] not in str(settings.masked())


def test_a_cdp_key_file_from_env_file_is_enough_for_live_trading(workdir: Path) -> None:
    cdp_file(workdir)
    (workdir / ".env").write_text(
        "KRIPTO_EXCHANGE=coinbase\nKRIPTO_FEED=coinbase\n"
        "KRIPTO_COINBASE_API_PRIVATE_KEY_FILE=cdp_api_key.json\n"
    )
    assert load_settings().exchange.coinbase_api_key_name == KEY_NAME


def test_the_same_name_beside_the_file_is_fine_and_a_different_one_is_refused(
    workdir: Path,
) -> None:
    path = cdp_file(workdir)
    same = live(coinbase_api_private_key_file=path, coinbase_api_key_name=KEY_NAME)
    assert same.exchange.coinbase_api_key_name == KEY_NAME
    (workdir / ".env").write_text(
        "KRIPTO_COINBASE_API_PRIVATE_KEY_FILE=cdp_api_key.json\n"
        "KRIPTO_COINBASE_API_KEY_NAME=organizations/org-1/apiKeys/other-c3d4\n"
    )
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value) == (
        "KRIPTO_COINBASE_API_KEY_NAME (organizations/…/apiKeys/…c3d4) is not the key named in"
        " KRIPTO_COINBASE_API_PRIVATE_KEY_FILE (organizations/…/apiKeys/…a1b2): unset"
        " KRIPTO_COINBASE_API_KEY_NAME to use the file's key, or point the file setting at"
        " that key's file"
    )


def test_a_pem_key_file_still_works_with_the_name_setting(workdir: Path) -> None:
    pem = ec_pem()
    (workdir / "key.pem").write_text(pem)
    settings = live(
        coinbase_api_private_key_file=workdir / "key.pem", coinbase_api_key_name=KEY_NAME
    )
    assert settings.exchange.coinbase_private_key_pem() == pem
    with pytest.raises(ValueError, match="needs a CDP API key"):
        live(coinbase_api_private_key_file=workdir / "key.pem")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"name": "x", "privateKey": "-----BEGIN', "is not valid JSON (line 1)"),
        ('{"name": "x"}', 'has no "privateKey": is it the CDP API key file?'),
        ('["-----BEGIN EC PRIVATE KEY-----"]', None),  # not JSON-object-shaped: read as PEM
    ],
)
def test_a_broken_key_file_is_named_without_its_contents(
    workdir: Path, content: str, message: str | None
) -> None:
    path = workdir / "cdp_api_key.json"
    path.write_text(content)
    if message is None:
        assert (
            Settings(coinbase_api_private_key_file=path).exchange.coinbase_private_key_pem()
            == content
        )
        return
    with pytest.raises(ValueError) as caught:
        Settings(coinbase_api_private_key_file=path)
    assert f"KRIPTO_COINBASE_API_PRIVATE_KEY_FILE: {path} {message}" in str(caught.value)
    assert "BEGIN" not in str(caught.value)


def test_an_unreadable_key_file_is_named(workdir: Path) -> None:
    with pytest.raises(ValueError) as caught:
        Settings(coinbase_api_private_key_file=workdir / "nope.json")
    assert (
        f"KRIPTO_COINBASE_API_PRIVATE_KEY_FILE: cannot read {workdir / 'nope.json'}"
        " (No such file or directory)"
    ) in str(caught.value)


def test_a_key_in_the_environment_and_a_key_file_together_are_refused(workdir: Path) -> None:
    with pytest.raises(ValueError, match="both set: keep one of them"):
        Settings(
            coinbase_api_private_key=SecretStr(ec_pem()),
            coinbase_api_private_key_file=cdp_file(workdir),
        )
