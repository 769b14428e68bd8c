"""The worker: its services are built once from the settings and handed to the activities."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from activities.deciding import DecideActivities, DecisionPolicy
from activities.rates import RateActivities
from activities.trading import TradeActivities, TradeLimits
from kripto.db import Database, connect
from kripto.db.decisions import DecisionRepository
from kripto.db.rates import RateRepository
from kripto.db.trades import TradeRepository
from kripto.errors import KriptoError
from kripto.exchanges.base import Exchange
from kripto.exchanges.coinbase import CoinbaseExchange
from kripto.exchanges.paper import PaperExchange
from kripto.feeds import CoinbaseSpotFeed, RateFeed, SimulatedFeed
from kripto.mail import mailer_from_settings
from kripto.receipts import ReceiptService
from kripto.risk import risk_from_settings
from kripto.settings import Settings
from kripto.strategies import strategy_from_settings
from kripto.temporal.kill_switch import KillSwitch
from kripto.temporal.search_attributes import ensure_search_attributes
from workflows.decide_trade import DecideTradeWorkflow
from workflows.rate_tick import RateTickWorkflow
from workflows.store_rate import StoreRateWorkflow
from workflows.trade import TradeWorkflow
from workflows.wallet import WalletWorkflow

log = logging.getLogger(__name__)

WORKFLOWS: Sequence[type] = (
    RateTickWorkflow,
    StoreRateWorkflow,
    DecideTradeWorkflow,
    TradeWorkflow,
    WalletWorkflow,
)


@dataclass
class Services:
    """Everything with a connection, made once per worker process."""

    db: Database
    feed: RateFeed
    exchange: Exchange
    receipts: ReceiptService
    #: The fee rate decisions weigh: the setting, or the account's taker rate if that is higher.
    fee_rate: Decimal

    async def close(self) -> None:
        await self.feed.close()
        await self.exchange.close()
        await self.db.close()


def feed_from_settings(settings: Settings) -> RateFeed:
    if settings.feed == "simulated":
        return SimulatedFeed(seed=settings.feed_seed)
    return CoinbaseSpotFeed(settings.coinbase_url, timeout=settings.http_timeout.total_seconds())


def exchange_from_settings(settings: Settings, db: Database) -> Exchange:
    if settings.exchange == "paper":
        return PaperExchange(db, fee_rate=settings.fee_rate, initial_gbp=settings.paper_gbp)
    return CoinbaseExchange(
        base_url=settings.coinbase_url,
        key_name=settings.coinbase_api_key_name or "",
        private_key_pem=settings.coinbase_private_key_pem(),
        timeout=settings.http_timeout.total_seconds(),
    )


async def decision_fee_rate(exchange: Exchange, setting: Decimal) -> Decimal:
    """Live, the account's own taker fee (Coinbase retail pays 0.6% to 1.2%) if it is above
    KRIPTO_FEE_RATE: the fee guard must not weigh a cheaper round trip than the real one. If
    the fee tier cannot be read at start-up, the setting stands, with a warning."""
    if not isinstance(exchange, CoinbaseExchange):
        return setting
    try:
        taker = await exchange.fee_rate()
    except KriptoError as exc:
        log.warning("cannot read the Coinbase fee tier (%s); deciding with KRIPTO_FEE_RATE", exc)
        return setting
    if taker > setting:
        log.warning(
            "the Coinbase taker fee %s is above KRIPTO_FEE_RATE %s; deciding with %s",
            taker,
            setting,
            taker,
        )
    return max(taker, setting)


async def build_services(settings: Settings) -> Services:
    db = await connect(settings.require_database_url())
    exchange = exchange_from_settings(settings, db)
    return Services(
        db=db,
        feed=feed_from_settings(settings),
        exchange=exchange,
        fee_rate=await decision_fee_rate(exchange, settings.fee_rate),
        receipts=ReceiptService(
            db,
            mailer_from_settings(settings),
            to=settings.receipt_to,
            sender=settings.receipt_from,
        ),
    )


def activities_for(services: Services, settings: Settings, client: Client) -> list[Any]:
    rate_repository = RateRepository(services.db)
    trades = TradeRepository(services.db)
    rates = RateActivities(services.feed, rate_repository)
    deciding = DecideActivities(
        rate_repository,
        trades,
        DecisionRepository(services.db),
        services.exchange,
        DecisionPolicy(
            strategy=strategy_from_settings(settings),
            risk=risk_from_settings(settings),
            fee_rate=services.fee_rate,
        ),
        KillSwitch(client),
    )
    trading = TradeActivities(
        services.exchange,
        trades,
        services.receipts,
        TradeLimits(
            max_trade_gbp=settings.max_trade_gbp,
            products=tuple(settings.products),
            settle_poll_seconds=settings.settle_poll.total_seconds(),
        ),
    )
    return [
        rates.fetch_rate,
        rates.write_rate,
        rates.report_late_tick,
        rates.read_rates,
        deciding.decide,
        trading.place_order,
        trading.await_settlement,
        trading.write_trade,
        trading.send_receipt,
        trading.get_wallet,
    ]


def build_worker(client: Client, settings: Settings, services: Services) -> Worker:
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=list(WORKFLOWS),
        activities=activities_for(services, settings, client),
        graceful_shutdown_timeout=timedelta(seconds=10),
        # Hundreds of markets start ~25 workflows a second, and each one's first task comes
        # from the shared queue, which the default single poller for it (5 x 0.2) could not
        # drain: at 500 markets new ticks waited 12 s for it (benchmarks/scale.py).
        max_concurrent_workflow_task_polls=16,
        nonsticky_to_sticky_poll_ratio=0.5,
    )


async def run_worker(client: Client, settings: Settings, stop: asyncio.Event) -> None:
    """Run until `stop` is set, then finish in-flight activities (up to the grace period)."""
    await ensure_search_attributes(client, settings.temporal_namespace)
    async with AsyncExitStack() as stack:
        services = await build_services(settings)
        stack.push_async_callback(services.close)
        worker = build_worker(client, settings, services)
        async with worker:
            await stop.wait()
