"""The payload codec and its settings: AES-GCM with named keys, rotation, plain payloads passed
through, and errors that name the setting and the key ID but never a key."""

from __future__ import annotations

import base64

import pytest
from temporalio.api.common.v1 import Payload

from kripto.settings import Settings, SettingsError, load_settings
from kripto.temporal.codec import ENCODING, EncryptionCodec, UnknownKeyError, parse_keys

OLD = "old:" + base64.b64encode(b"o" * 32).decode()
NEW = "new:" + base64.b64encode(b"n" * 32).decode()
PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"amount": "10.00"}')


async def test_a_payload_sealed_with_the_old_key_opens_after_a_new_key_is_prepended() -> None:
    [sealed] = await EncryptionCodec(parse_keys(OLD)).encode([PLAIN])
    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata["encryption-key-id"] == b"old"
    assert b"10.00" not in sealed.SerializeToString()

    rotated = EncryptionCodec(parse_keys(f"{NEW},{OLD}"))
    assert await rotated.decode([sealed]) == [PLAIN]
    [resealed] = await rotated.encode([PLAIN])
    assert resealed.metadata["encryption-key-id"] == b"new"  # the newest key seals


async def test_a_payload_sealed_with_a_key_no_longer_listed_names_the_key_and_the_setting() -> None:
    [sealed] = await EncryptionCodec(parse_keys(OLD)).encode([PLAIN])
    with pytest.raises(UnknownKeyError) as err:
        await EncryptionCodec(parse_keys(NEW)).decode([sealed])
    assert str(err.value) == (
        "payload encrypted with key 'old', which is not in KRIPTO_ENCRYPTION_KEYS (configured:"
        " new); add that key back to KRIPTO_ENCRYPTION_KEYS (after the current one) to read it"
    )


async def test_a_changed_key_under_the_same_id_is_refused_not_garbled() -> None:
    [sealed] = await EncryptionCodec(parse_keys(OLD)).encode([PLAIN])
    impostor = "old:" + base64.b64encode(b"x" * 32).decode()
    with pytest.raises(ValueError, match="does not decrypt with the key of that ID"):
        await EncryptionCodec(parse_keys(impostor)).decode([sealed])


async def test_plain_payloads_pass_through() -> None:
    codec = EncryptionCodec(parse_keys(NEW))
    assert await codec.decode([PLAIN]) == [PLAIN]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("k1", "KRIPTO_ENCRYPTION_KEYS: entry 1 must be id:base64key (no ':' found)"),
        ("k1:!!!", "KRIPTO_ENCRYPTION_KEYS: key 'k1' is not valid base64"),
        (
            "k1:" + base64.b64encode(b"short").decode(),
            "KRIPTO_ENCRYPTION_KEYS: key 'k1' must be 32 bytes (AES-256) in base64, not 5 bytes;"
            " make one with `openssl rand -base64 32`",
        ),
        (f"{NEW},{NEW}", "KRIPTO_ENCRYPTION_KEYS: key ID 'new' is listed twice"),
        (
            "bad id:" + base64.b64encode(b"n" * 32).decode(),
            "KRIPTO_ENCRYPTION_KEYS: entry 1's key ID must be 1-64 letters, digits, '.', '_'"
            " or '-'",
        ),
    ],
)
def test_bad_keys_stop_start_up_naming_the_setting_never_the_key(
    value: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KRIPTO_ENCRYPTION_KEYS", value)
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert str(err.value) == message
    assert value.partition(":")[2] not in str(err.value) or not value.partition(":")[2]


def test_keys_from_a_file_and_the_switch_the_metadata_consults(tmp_path: object) -> None:
    from pathlib import Path

    assert Settings().encryption.amounts_in_metadata is True
    keys = Path(str(tmp_path)) / "keys"
    keys.write_text(f"{NEW}\n{OLD}\n")
    settings = Settings(encryption_keys_file=keys)
    assert settings.encryption.amounts_in_metadata is False
    assert settings.encryption.encryption_keys is not None
    assert [
        k.key_id for k in parse_keys(settings.encryption.encryption_keys.get_secret_value())
    ] == [
        "new",
        "old",
    ]
    assert settings.masked()["encryption_keys"] == "********"
    assert "nnnn" not in repr(settings)
