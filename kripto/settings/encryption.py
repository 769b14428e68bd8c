"""Encrypted payloads and the codec server: see kripto/temporal/codec.py and docs/deploying.md."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, model_validator

from kripto.settings.base import Section, read_secret_file


class EncryptionSection(Section):
    """Encrypted payloads and the codec server."""

    #: `id:key` pairs, newest first, comma-separated; a key is 32 bytes in base64 (AES-256).
    #: The first encrypts; any listed key decrypts, so old payloads stay readable after rotation.
    encryption_keys: SecretStr | None = None
    #: A file (mode 0600) holding the same list, one pair a line or comma-separated.
    encryption_keys_file: Path | None = None
    #: The bearer token `kripto codec-server` requires (or a file holding it).
    codec_token: SecretStr | None = None
    codec_token_file: Path | None = None
    codec_host: str = "127.0.0.1"
    codec_port: int = Field(8234, ge=1, le=65535)
    #: The Web UI's origin: the only origin the codec server answers from a browser.
    codec_ui_origin: str = "http://127.0.0.1:8233"

    @model_validator(mode="after")
    def _encryption(self) -> Self:
        """Parse the keys once, so a bad key stops start-up with the setting's name."""
        if self.encryption_keys is not None and self.encryption_keys_file is not None:
            raise ValueError(
                "KRIPTO_ENCRYPTION_KEYS and KRIPTO_ENCRYPTION_KEYS_FILE are both set: keep one"
            )
        if self.codec_token is not None and self.codec_token_file is not None:
            raise ValueError(
                "KRIPTO_CODEC_TOKEN and KRIPTO_CODEC_TOKEN_FILE are both set: keep one"
            )
        if self.encryption_keys_file is not None:
            text = read_secret_file("KRIPTO_ENCRYPTION_KEYS_FILE", self.encryption_keys_file)
            self.encryption_keys = SecretStr(",".join(text.split()))
            self.encryption_keys_file = None  # read once; the keys now live in the setting
        if self.encryption_keys is not None:
            # Imported here: the codec loads temporalio (a tenth of a second), which a command
            # without keys (a CSV backtest) never needs.
            from kripto.temporal.codec import parse_keys

            parse_keys(self.encryption_keys.get_secret_value())  # raises naming the setting
        if self.codec_token_file is not None:
            token = read_secret_file("KRIPTO_CODEC_TOKEN_FILE", self.codec_token_file).strip()
            self.codec_token = SecretStr(token)
            self.codec_token_file = None
        if self.codec_token is not None and len(self.codec_token.get_secret_value()) < 16:
            raise ValueError("KRIPTO_CODEC_TOKEN: must be at least 16 characters")
        return self

    @property
    def amounts_in_metadata(self) -> bool:
        """Whether amounts may appear where the payload codec does not reach: search attributes
        (and, to be safe, summaries and current details). False when payloads are encrypted, so
        the Web UI's list and the visibility store never hold a trade's amount in clear text.
        Every place that writes metadata consults this one switch."""
        return self.encryption_keys is None
