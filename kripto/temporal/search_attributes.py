"""The search attributes that make a trade readable in the Web UI's workflow list: what it is
(`KriptoTrade`, e.g. `BUY £10.00 BTC-GBP`) and which step it is on (`KriptoTradeStep`). Add
them as columns with "Configure Columns", or filter on them (`KriptoTradeStep != "done"`).

A workflow that sets an attribute the namespace does not know fails its workflow task, so the
worker registers them before it starts, and refuses to start if it cannot."""

from __future__ import annotations

from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode

from kripto.settings import SettingsError

TRADE = SearchAttributeKey.for_keyword("KriptoTrade")
TRADE_STEP = SearchAttributeKey.for_keyword("KriptoTradeStep")
KEYS = (TRADE, TRADE_STEP)

#: The memo entry that tells a workflow to keep amounts out of its metadata (search attributes,
#: summaries, current details): `Settings.amounts_in_metadata`, decided by whoever starts it
#: (the CLI, the schedule, a parent workflow), since a workflow cannot read settings. Absent
#: means True, so a plain `temporal workflow start` and every history recorded before it behave
#: as before. It rides in the memo rather than the input so the user's trade request stays
#: exactly the seed's shape, and is fixed at the start, so a replay makes the same choice.
AMOUNTS_MEMO = "kriptoAmountsInMetadata"


def amounts_memo(amounts_in_metadata: bool) -> dict[str, Any] | None:
    """The memo a starter passes on: nothing when amounts may be shown (the default)."""
    return None if amounts_in_metadata else {AMOUNTS_MEMO: False}


async def ensure_search_attributes(client: Client, namespace: str) -> list[str]:
    """Register the attributes the namespace lacks; returns the names it added."""
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        missing = [k.name for k in KEYS if k.name not in listed.custom_attributes]
    except RPCError as exc:
        if exc.status != RPCStatusCode.UNIMPLEMENTED:
            raise _cannot_register(namespace, exc) from None
        missing = [k.name for k in KEYS]  # the test server cannot list, and adding is idempotent
    if not missing:
        return []
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=namespace,
                search_attributes={
                    name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for name in missing
                },
            )
        )
    except RPCError as exc:
        if exc.status != RPCStatusCode.ALREADY_EXISTS:  # another worker added them first
            raise _cannot_register(namespace, exc) from None
    return missing


def _cannot_register(namespace: str, exc: RPCError) -> SettingsError:
    commands = " and ".join(
        f"`temporal operator search-attribute create --namespace {namespace}"
        f" --name {k.name} --type Keyword`"
        for k in KEYS
    )
    return SettingsError(
        f"TEMPORAL_NAMESPACE: cannot register Kripto's search attributes in {namespace!r}"
        f" ({exc.message}); register them once with {commands}"
    )
