"""Issue 23's refused exit through the TradeWorkflow on the paper exchange (time-skipping
server): the position is bought at £60,000.00, the price dips 0.02%, and the whole-position
sell, sized in coins, sells every coin held; a sell of more GBP than is held at the placement
price sells the holdings and says so. On today's main both were refused as InsufficientFunds."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from kripto.db.rates import RateRepository
from kripto.models import Rate, Wallet, WalletRequest
from kripto.runtime.worker import build_services, build_worker
from kripto.settings import Settings
from tests.fakes.coinbase_fixtures import FakeCoinbase
from tests.trading_fixtures import Trading
from workflows.wallet import WalletWorkflow


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A £600.00 position is bought in one trade: above the default £250.00 daily spend limit
    that every buy is held to (docs/security.md), so the day's limit is raised here."""
    return settings.model_copy(update={"daily_spend_limit_gbp": Decimal("5000.00")})


async def run_trade(trading: Trading, payload: dict[str, Any]) -> dict[str, Any]:
    key = str(uuid.uuid4())
    result: dict[str, Any] = await trading.client.execute_workflow(
        "TradeWorkflow",
        {"idempotencyKey": key, **payload},
        id=key,
        task_queue=trading.settings.temporal.task_queue,
        result_type=dict,
    )
    return result


async def wallet(trading: Trading) -> Wallet:
    return await trading.client.execute_workflow(
        WalletWorkflow.run,
        WalletRequest(),
        id=f"wallet-{uuid.uuid4()}",
        task_queue=trading.settings.temporal.task_queue,
    )


async def price(trading: Trading, rate: str, minute: int) -> None:
    at = datetime(2026, 11, 24, 12, minute, tzinfo=UTC)
    await RateRepository(trading.db).insert(
        Rate(rate=Decimal(rate), date_time=at, source="simulated")
    )


async def test_the_whole_position_sells_its_coins_after_a_dip(trading: Trading) -> None:
    await price(trading, "60000.00", 0)
    bought = await run_trade(trading, {"tradeType": "buy", "amount": "600.00"})
    assert bought["filledSize"] == "0.00995024"
    await price(trading, "59988.00", 1)  # 0.02% lower when the sell arrives

    # Decided at £60,000.00 as £597.01 and 0.00995024 BTC: the coins are sold.
    sold = await run_trade(
        trading, {"tradeType": "sell", "amount": "597.01", "baseSize": "0.00995024"}
    )
    assert (sold["filledSize"], sold["executedValue"]) == ("0.00995024", "596.8949971200")
    assert "note" not in sold
    assert (await wallet(trading)).btc.balance == Decimal("0")


async def test_a_sell_of_more_pounds_than_held_sells_the_holdings_and_says_so(
    trading: Trading,
) -> None:
    await price(trading, "60000.00", 0)
    await run_trade(trading, {"tradeType": "buy", "amount": "600.00"})
    await price(trading, "59988.00", 1)
    # £597.01 at 59,988.00 is 0.00995215 BTC: more than the 0.00995024 held.
    sold = await run_trade(trading, {"tradeType": "sell", "amount": "597.01"})
    assert sold["filledSize"] == "0.00995024"
    assert sold["note"] == (
        "sold the 0.00995024 BTC held: £597.01 at £59,988.00 is 0.00995215 BTC, more than held"
    )
    assert (await wallet(trading)).btc.balance == Decimal("0")


async def test_the_refused_exit_of_the_issue_on_the_fake_coinbase(
    time_skipping_env: WorkflowEnvironment, settings: Settings, fake_coinbase: FakeCoinbase
) -> None:
    """0.01 BTC held, decided at £60,000.00 (£600.00), 59,988.00 when the order arrives: the
    exit sells 0.01 BTC where today's main is refused with InsufficientFunds."""
    live = settings.model_copy(
        update={
            "exchange": "coinbase",
            "feed": "coinbase",
            "coinbase_url": fake_coinbase.url,
            "coinbase_api_key_name": fake_coinbase.key_name,
            "coinbase_api_private_key": SecretStr(fake_coinbase.private_key_pem),
        }
    )
    fake_coinbase.set_balance("BTC", "0.01")
    fake_coinbase.set_price("59988.00")
    services = await build_services(live)
    try:
        async with build_worker(time_skipping_env.client, live, services):
            key = str(uuid.uuid4())
            sold = await time_skipping_env.client.execute_workflow(
                "TradeWorkflow",
                {"idempotencyKey": key, "tradeType": "sell", "amount": "600.00"}
                | {"baseSize": "0.01"},
                id=key,
                task_queue=live.temporal.task_queue,
                result_type=dict,
            )
    finally:
        await services.close()
    assert (sold["filledSize"], sold["executedValue"]) == ("0.01", "599.8800")
    assert Decimal(fake_coinbase.balances()["BTC"]["available"]) == 0
    assert fake_coinbase.order_count() == 1
