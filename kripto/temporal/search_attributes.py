"""The search attributes that make Kripto readable in the Web UI's workflow list, with no
column to configure: filter on them (`KriptoSide = "sell" AND KriptoAmountGbp > 50`) or add
them as columns.

- every tick, decision and rate write: `KriptoProduct` (`BTC-GBP`); ticks and decisions also
  `KriptoAction` (`buy`, `sell`, `hold`, or `none` when the decision failed);
- every exchange tick (one a minute for all of an exchange's markets): `KriptoMarkets`, a
  keyword list of its actions, its trades (`BTC-GBP:buy`) and its products;
- every trade: `KriptoTrade` (`BUY £10.00 BTC-GBP`), `KriptoProduct`, `KriptoSide` (`buy` or
  `sell`), `KriptoAmountGbp` (a number, so `> 50` works) and `KriptoTradeStep` (`done`,
  `failed: <reason>`, ...).

Search attributes are not encrypted with the payloads, so everything that shows an amount
comes from `trade_attributes` and `trade_summary` alone: one flag (`amounts_visible`) there
drops the amounts from the list and the summaries.

A workflow that sets an attribute the namespace does not know fails its workflow task, so
`kripto dev` starts its server with them, the compose init job creates them, and the worker
(and the schedule starter) register the missing ones, refusing to start if they cannot."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.common import (
    SearchAttributeIndexedValueType,
    SearchAttributeKey,
    SearchAttributePair,
)
from temporalio.service import RPCError, RPCStatusCode

from kripto.errors import SettingsError
from kripto.models import TradeRequest

if TYPE_CHECKING:  # workflows import this module: the client stays out of the sandbox
    from temporalio.client import Client

TRADE = SearchAttributeKey.for_keyword("KriptoTrade")
TRADE_STEP = SearchAttributeKey.for_keyword("KriptoTradeStep")
PRODUCT = SearchAttributeKey.for_keyword("KriptoProduct")
ACTION = SearchAttributeKey.for_keyword("KriptoAction")
SIDE = SearchAttributeKey.for_keyword("KriptoSide")
#: A Double, not Decimal: the visibility store compares numbers only as doubles. Amounts are
#: whole pence below £10,000,000, which a double holds exactly enough to filter on.
AMOUNT_GBP = SearchAttributeKey.for_float("KriptoAmountGbp")
#: An exchange tick's markets and what it did with them (`markets_values`).
MARKETS = SearchAttributeKey.for_keyword_list("KriptoMarkets")
KEYS: tuple[SearchAttributeKey[Any], ...] = (
    TRADE,
    TRADE_STEP,
    PRODUCT,
    ACTION,
    SIDE,
    AMOUNT_GBP,
    MARKETS,
)
#: The most a keyword list may hold as Temporal encodes it (JSON): the server's default
#: limit on one search attribute's value is 2 KB (`limit.searchAttributesSizeOfValue`).
MARKETS_BUDGET = 2000

#: KriptoAction of a tick whose decision failed (the tick's details say why).
NO_ACTION = "none"

#: The type names of `temporal operator search-attribute create --type` and of the dev
#: server's `--search-attribute Name=Type`.
_CLI_TYPE = {
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.DOUBLE: "Double",
    SearchAttributeIndexedValueType.KEYWORD_LIST: "KeywordList",
}


def markets_values(actions: dict[str, str], budget: int = MARKETS_BUDGET) -> list[str]:
    """KriptoMarkets of an exchange tick: the actions taken (`buy`, `hold`, ...), each
    trade as `<PRODUCT>:<action>` (`BTC-GBP:buy`), then the products, in that order until the
    list would pass `budget` bytes, so the trades are always findable:
    `KriptoMarkets = "BTC-GBP:buy"`, `KriptoMarkets = "sell"`, `KriptoMarkets = "ETH-GBP"`."""
    values = sorted(set(actions.values()))
    values += [f"{p}:{a}" for p, a in actions.items() if a in ("buy", "sell")]
    values += list(actions)
    kept: list[str] = []
    size = 2  # the brackets of the JSON list
    for v in values:
        size += len(v) + 3  # quotes and a comma
        if size > budget:
            break
        kept.append(v)
    return kept


def dev_server_flags() -> list[str]:
    """`--search-attribute Name=Type` for each attribute, for `temporal server start-dev`."""
    flags = []
    for key in KEYS:
        flags += ["--search-attribute", f"{key.name}={_CLI_TYPE[key.indexed_value_type]}"]
    return flags


def trade_summary(request: TradeRequest, *, amounts_visible: bool = True) -> str:
    """What a trade is, for its static summary and `KriptoTrade`: `BUY £10.00 BTC-GBP`."""
    if amounts_visible:
        return request.summary
    return f"{request.trade_type.value.upper()} {request.product_id}"


def trade_attributes(
    request: TradeRequest, *, amounts_visible: bool = True
) -> list[SearchAttributePair[Any]]:
    """What a trade is, as search attributes: set by whoever starts it, and by the trade
    itself when its starter did not (the plain `temporal` CLI)."""
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(TRADE, trade_summary(request, amounts_visible=amounts_visible)),
        SearchAttributePair(PRODUCT, request.product_id),
        SearchAttributePair(SIDE, request.trade_type.value),
    ]
    if amounts_visible:
        pairs.append(SearchAttributePair(AMOUNT_GBP, _as_double(request.amount)))
    return pairs


def _as_double(amount: Decimal) -> float:
    return float(amount)


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
        missing = [k for k in KEYS if k.name not in listed.custom_attributes]
    except RPCError as exc:
        if exc.status != RPCStatusCode.UNIMPLEMENTED:
            raise _cannot_register(namespace, exc) from None
        missing = list(KEYS)  # the test server cannot list, and adding is idempotent
    if not missing:
        return []
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=namespace,
                search_attributes={
                    k.name: IndexedValueType.ValueType(k.indexed_value_type) for k in missing
                },
            )
        )
    except RPCError as exc:
        if exc.status != RPCStatusCode.ALREADY_EXISTS:  # another worker added them first
            raise _cannot_register(namespace, exc) from None
    return [k.name for k in missing]


def _cannot_register(namespace: str, exc: RPCError) -> SettingsError:
    commands = " and ".join(
        f"`temporal operator search-attribute create --namespace {namespace}"
        f" --name {k.name} --type {_CLI_TYPE[k.indexed_value_type]}`"
        for k in KEYS
    )
    return SettingsError(
        f"TEMPORAL_NAMESPACE: cannot register Kripto's search attributes in {namespace!r}"
        f" ({exc.message}); register them once with {commands}"
    )
