"""Kripto's payload converter: pydantic's, except that a payload marked `json/plain` whose data
is not JSON at all, decoded without a type (a workflow's undecoded input), becomes `NotJson`
instead of failing the decoding. The SDK would fail the workflow task on it for ever ("Failed
decoding arguments"); the workflow instead refuses it in its first task, like any bad input."""

from __future__ import annotations

import json
from typing import Any

import temporalio.api.common.v1
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)

from kripto.inputs import NotJson


class _TolerantJSONPlainPayloadConverter(PydanticJSONPlainPayloadConverter):
    def from_payload(
        self, payload: temporalio.api.common.v1.Payload, type_hint: type | None = None
    ) -> Any:
        if type_hint is None or type_hint is Any:
            try:
                json.loads(payload.data)
            except ValueError:
                return NotJson(payload.data[:60].decode("utf-8", errors="replace"))
        return super().from_payload(payload, type_hint)


class KriptoPayloadConverter(CompositePayloadConverter):
    """PydanticPayloadConverter's encodings, with the tolerant JSON one in its place."""

    def __init__(self) -> None:
        tolerant = _TolerantJSONPlainPayloadConverter()
        super().__init__(
            *(
                tolerant if isinstance(c, JSONPlainPayloadConverter) else c
                for c in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )


#: The pydantic data converter with Kripto's payload converter (kripto.temporal.client).
kripto_data_converter = DataConverter(payload_converter_class=KriptoPayloadConverter)
