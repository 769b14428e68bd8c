"""The log formats: the workflow ID in its place, JSON when asked, one line for an outcome we
named and a traceback for a bug, and every secret the settings hold masked."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError

from kripto.logs import MASK, configure_logging
from kripto.metrics import hold_kind
from kripto.settings import Settings

PEM = (
    "-----BEGIN EC PRIVATE KEY-----\n"
    "MHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5oc3Q1mQ2vJ1UoAoGCCqGSM49\n"
    "AwEHoUQDQgAEJp0XhYQh7kH2cmtYtHHmvi2Mdm6pEhmEXMz4ZxIqR8Vbq7mDEsAi\n"
    "-----END EC PRIVATE KEY-----\n"
)
ACTIVITY = {
    "activity_id": "1",
    "activity_type": "place_order",
    "attempt": 1,
    "namespace": "default",
    "task_queue": "kripto",
    "workflow_id": "trade-key-1",
    "workflow_run_id": "run",
    "workflow_type": "TradeWorkflow",
}


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def settings(log_format: str) -> Settings:
    return Settings(
        log_format=log_format,
        coinbase_api_private_key=SecretStr(PEM),
        aws_secret_access_key=SecretStr("wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzSECRETKEY"),
        database_url="postgresql://kripto:pg-s3cret-pw@db:5432/kripto",
    )


def failed(exc: BaseException) -> None:
    """Log as the SDK does when an activity fails."""
    try:
        raise exc
    except BaseException:
        logging.getLogger("temporalio.activity").warning(
            "Completing activity as failed", exc_info=True, extra={"temporal_activity": ACTIVITY}
        )


def test_text_lines_carry_the_workflow_and_name_outcomes_in_one_line(
    restore_logging: None,
) -> None:
    out = io.StringIO()
    configure_logging(settings("text"), stream=out)
    failed(
        ApplicationError(
            "insufficient funds: wallet has £90.00", type="InsufficientFunds", non_retryable=True
        )
    )
    failed(KeyError("a bug"))
    lines = out.getvalue().splitlines()
    assert lines[0].endswith(
        "WARNING temporalio.activity: activity failed (InsufficientFunds, not retried):"
        " insufficient funds: wallet has £90.00 [trade-key-1 place_order#1]"
    )
    assert lines[1].endswith(
        "WARNING temporalio.activity: Completing activity as failed [trade-key-1 place_order#1]"
    )
    assert lines[2] == "Traceback (most recent call last):"  # a bug keeps its traceback
    assert "KeyError: 'a bug'" in out.getvalue()


def test_json_lines_and_masked_secrets(restore_logging: None) -> None:
    out = io.StringIO()
    configure_logging(settings("json"), stream=out)
    log = logging.getLogger("kripto.test")
    log.info("connecting to %s", "postgresql://kripto:pg-s3cret-pw@db:5432/kripto")
    log.warning("key line %s", PEM.splitlines()[1])
    log.warning("whole key %s", PEM)
    failed(RuntimeError("credentials wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzSECRETKEY refused"))
    text = out.getvalue()
    entries = [json.loads(line) for line in text.splitlines()]
    assert len(entries) == 4  # one object per line, tracebacks included
    assert entries[0] == {
        "time": entries[0]["time"],
        "level": "INFO",
        "logger": "kripto.test",
        "message": f"connecting to postgresql://kripto:{MASK}@db:5432/kripto",
    }
    assert entries[3]["workflow_id"] == "trade-key-1"
    assert entries[3]["activity_type"] == "place_order" and entries[3]["attempt"] == 1
    assert "RuntimeError" in entries[3]["traceback"]
    for secret in ("pg-s3cret-pw", "SECRETKEY", *PEM.splitlines()[1:3]):
        assert secret not in text


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("hold: automatic trading is paused (`kripto schedule resume` turns it back on)", "paused"),
        ("hold: no rates stored yet", "no_rates"),
        ("hold: stale data: the newest rate is 12 min old (limit 5 min)", "stale_data"),
        ("hold: 1 of 960 points needed for the RSI", "warming_up"),
        ("hold: 1,234 of 2,880 points needed for the EMAs", "warming_up"),
        ("hold: gap in the rates: 90 minutes in a row without a rate", "gap"),
        ("hold: no rsi signal at the newest point", "no_signal"),
        ("hold: RSI 50.9 (buy below 40, sell above 60)", "no_signal"),
        ("hold: rsi said buy, but drawdown guard: the account is 21% below its peak", "protection"),
        ("hold: dca: last buy 3h ago; buys every 1d", "dca_interval"),
        ("hold: rsi said buy, but cooldown: last trade 5m ago (needs 30m)", "cooldown"),
        (
            "hold: rsi said buy, but expected edge 0.10% is below the round-trip fee 1.00%",
            "below_fees",
        ),
        ("hold: rsi said sell, but not enough to sell: BTC worth £1.00 available", "not_enough"),
        ("hold: rsi said buy, but daily spend limit reached: £250.00 of £250.00", "daily_limit"),
        ("hold: something new", "other"),
    ],
)
def test_hold_reasons_become_bounded_kinds(reason: str, kind: str) -> None:
    assert hold_kind(reason) == kind


#: A value for every secret setting (each SecretStr field of Settings, found by type, so a new
#: secret setting is in this test without anyone remembering to add it).
def every_secret() -> dict[str, SecretStr]:
    from kripto.settings import SECTIONS
    from kripto.temporal.codec import new_key_line

    values: dict[str, SecretStr] = {}
    for section in SECTIONS.values():
        for name, field in section.model_fields.items():
            if "SecretStr" not in str(field.annotation):
                continue
            values[name] = SecretStr(f"{name}-Secret-0123456789abcdef-{name}")
    values["encryption_keys"] = SecretStr(new_key_line("k1"))
    values["webhook_urls"] = SecretStr(
        "slack:https://hooks.slack.test/services/T0/B0/slackSecretPart123,"
        "https://hooks.example.test/kripto?token=webhookToken456"
    )
    values["telegram_bot_token"] = SecretStr("123456:telegramTokenSecret-abcdefghij")
    values["coinbase_api_private_key"] = SecretStr(PEM)
    return values


def test_every_secret_setting_is_masked_in_config_and_in_the_logs(
    restore_logging: None,
) -> None:
    """Door 8: one masking helper (kripto.masking) for `kripto config` and the logs, covering
    every secret setting, a database password containing `/`, and `?password=`."""
    from kripto.cli.config import config_rows

    secrets = every_secret()
    assert {
        "telegram_bot_token",
        "webhook_urls",
        "dashboard_token",
        "codec_token",
        "stop_link_secret",
        "temporal_api_key",
        "aws_secret_access_key",
    } <= set(secrets)
    database = "postgresql://kripto:pa/ss:w@rd-9@db:5432/kripto?sslmode=require&password=q-s3cret"
    chosen = Settings.model_validate(
        {**secrets, "database_url": database, "ses_endpoint_url": "http://ses.test/?token=sesTok3n"}
    )
    rows = {name: value for name, value, _ in config_rows(chosen)}
    for name in secrets:
        assert rows[f"KRIPTO_{name.upper()}"] == MASK, name
    assert rows["KRIPTO_DATABASE_URL"] == (
        f"postgresql://kripto:{MASK}@db:5432/kripto?sslmode=require&password={MASK}"
    )
    assert rows["KRIPTO_SES_ENDPOINT_URL"] == f"http://ses.test/?token={MASK}"

    out = io.StringIO()
    configure_logging(chosen, stream=out)
    log = logging.getLogger("kripto.test")
    log.warning("the settings: %s", chosen.model_dump())
    log.warning("connecting to %s", database)
    log.warning("posting to https://hooks.slack.test/services/T0/B0/slackSecretPart123")
    log.warning("password alone: q-s3cret, pa/ss:w@rd-9")
    log.warning("every secret: %s", [v.get_secret_value() for v in secrets.values()])
    text = out.getvalue()
    revealed = [
        line
        for v in secrets.values()
        for line in v.get_secret_value().splitlines()
        if not line.startswith("-----")  # a PEM's armour is no secret
    ]
    revealed += ["pa/ss:w@rd-9", "q-s3cret", "slackSecretPart123", "webhookToken456", "sesTok3n"]
    for secret in revealed:
        if len(secret) >= 16 or secret in ("pa/ss:w@rd-9", "q-s3cret", "sesTok3n"):
            assert secret not in text, secret
    assert text.count(MASK) >= 6
