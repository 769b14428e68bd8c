"""The worker: its services are built once from the settings and handed to the activities."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker, WorkerDeploymentConfig

from activities.backfill import BackfillActivities
from activities.deciding import DecideActivities, DecisionPolicy
from activities.notify import NotifyActivities
from activities.rates import RateActivities
from activities.reconcile import ReconcileActivities, ReconcilePolicy
from activities.trading import ExecutionConfig, TradeActivities, TradeLimits
from kripto.composition import risk_from_settings, strategy_from_settings
from kripto.db import Database, connect
from kripto.db.decisions import DecisionRepository
from kripto.db.rates import RateRepository
from kripto.db.reconcile import ReconcileRepository
from kripto.db.trades import TradeRepository
from kripto.errors import ClockSkewed, KriptoError
from kripto.exchanges.base import Exchange, check_clock_skew
from kripto.exchanges.coinbase import CoinbaseExchange
from kripto.exchanges.paper import FeedPrices, PaperExchange
from kripto.execution import Execution
from kripto.feeds import CoinbaseSpotFeed, RateFeed, SimulatedFeed
from kripto.feeds.candles import CoinbaseCandles
from kripto.fees import decision_rate, side_rate
from kripto.health import health_server
from kripto.mail import mailer_from_settings
from kripto.mail.receipt import mode_label
from kripto.metrics import Metrics
from kripto.notify.sender import Notifier
from kripto.notify.summary import DailySummary
from kripto.notify.wiring import Channels, channels_from_settings
from kripto.ratelimit import RateLimits
from kripto.receipts import ReceiptService
from kripto.runtime.deployments import (
    DRAIN_RENEW,
    DeploymentError,
    build_pollers,
    make_current,
    move_stranded_trades,
    pinned_trades_query,
    renew_drain_lease,
    retire,
    running_trades,
    stop_routing_to,
    take_over_if_abandoned,
)
from kripto.runtime.kill_switch import KillSwitch, schedule_status
from kripto.runtime.monitor import Monitor
from kripto.runtime.notify import notify as start_notify
from kripto.runtime.phone import check_token, ensure_phone
from kripto.runtime.retired import refuse_retired_runs
from kripto.runtime.schedules import reconcile_at_start_id, start_reconcile
from kripto.runtime.tick_stats import TICKS
from kripto.settings import ExchangeSection, ExecutionSection, Settings, SettingsError
from kripto.stoplinks import StopLinkSigner
from kripto.telegram_bot import TelegramBot
from kripto.temporal.interceptors import AttemptMetrics
from kripto.temporal.search_attributes import ensure_search_attributes
from workflows.backfill import BackfillWorkflow
from workflows.decide_markets import DecideMarketsWorkflow
from workflows.exchange_tick import ExchangeTickWorkflow
from workflows.notify import DailySummaryWorkflow, NotifyWorkflow
from workflows.reconcile import ReconcileWorkflow
from workflows.store_rates import StoreRatesWorkflow
from workflows.telegram_bot import TelegramBotWorkflow
from workflows.trade import TradeWorkflow
from workflows.wallet import WalletWorkflow

log = logging.getLogger(__name__)

WORKFLOWS: Sequence[type] = (
    ExchangeTickWorkflow,
    StoreRatesWorkflow,
    DecideMarketsWorkflow,
    TradeWorkflow,
    WalletWorkflow,
    BackfillWorkflow,
    NotifyWorkflow,
    DailySummaryWorkflow,
    TelegramBotWorkflow,
    ReconcileWorkflow,
)


@dataclass
class Services:
    """Everything with a connection, made once per worker process."""

    db: Database
    feed: RateFeed
    exchange: Exchange
    receipts: ReceiptService
    #: The per-side fee rate decisions weigh (kripto/fees.py's `decision_rate`).
    fee_rate: Decimal
    #: Kripto's metrics, on the client's runtime (a no-op meter when metrics are off).
    metrics: Metrics = field(default_factory=Metrics.noop)
    #: Coinbase's public candles, for backfills (None: made from the settings).
    candles: CoinbaseCandles | None = None
    #: Telegram and the webhooks (none configured: notifications send nothing).
    channels: Channels = field(default_factory=Channels)
    #: Why maker orders are refused on this worker: its clock differs from the exchange's by
    #: more than KRIPTO_MAX_CLOCK_SKEW (checked at start-up); None when they may be placed.
    maker_refused: str | None = None

    async def close(self) -> None:
        await self.channels.close()
        if self.candles is not None:
            await self.candles.close()
        await self.feed.close()
        await self.exchange.close()
        await self.db.close()


#: One set of limiters per worker process: every Coinbase client in it (the feed, the
#: backfills' candles, the exchange) waits its turn on them.
LIMITS = RateLimits.coinbase()


def feed_from_settings(exchange: ExchangeSection, limits: RateLimits = LIMITS) -> RateFeed:
    if exchange.feed == "simulated":
        return SimulatedFeed(seed=exchange.feed_seed)
    return CoinbaseSpotFeed(
        exchange.coinbase_url, timeout=exchange.http_timeout.total_seconds(), limiter=limits.public
    )


def candles_from_settings(
    exchange: ExchangeSection, limits: RateLimits = LIMITS
) -> CoinbaseCandles:
    return CoinbaseCandles(
        exchange.coinbase_url,
        timeout=exchange.http_timeout.total_seconds(),
        requests_per_second=exchange.backfill_requests_per_second,
        page_minutes=exchange.backfill_page_minutes,
        limiter=limits.public,
    )


def exchange_from_settings(
    settings: Settings, db: Database, limits: RateLimits = LIMITS
) -> Exchange:
    """The exchange the exchange section names, trading the products (the paper exchange
    fills as the execution section says)."""
    exchange = settings.exchange
    if exchange.exchange == "paper":
        return PaperExchange(
            db,
            fee_rate=exchange.taker_fee,
            fees=exchange.fees,
            spread=settings.execution.paper_spread,
            # The price when the order arrives (issue 23), not the decision's stored rate.
            prices=FeedPrices(feed_from_settings(settings.exchange, limits))
            if settings.execution.paper_price == "feed"
            else None,
            initial_gbp=exchange.paper_gbp,
            products=settings.general.products,
        )
    return CoinbaseExchange(
        base_url=exchange.coinbase_url,
        key_name=exchange.coinbase_api_key_name or "",
        private_key_pem=exchange.coinbase_private_key_pem(),
        timeout=exchange.http_timeout.total_seconds(),
        products=settings.general.products,
        limiter=limits.private,
    )


async def decision_fee_rate(
    exchange: Exchange, fees: ExchangeSection, execution: ExecutionSection
) -> Decimal:
    """The per-side fee rate decisions weigh (kripto/fees.py's `decision_rate`, from the tier,
    the execution and its fallback). Live on Coinbase, the account's own rates (retail pays
    0.6% to 1.2% taker) are read here and win where higher: the fee guard must not weigh a
    cheaper round trip than the real one. If they cannot be read at start-up, the tier stands,
    with a warning."""
    account = None
    if isinstance(exchange, CoinbaseExchange):
        try:
            account = await exchange.account_fees()
        except KriptoError as exc:
            log.warning(
                "cannot read the Coinbase fee tier (%s); deciding with the configured fee tier", exc
            )
    how, fallback = execution.execution, execution.maker_fallback
    configured = side_rate(fees.fees, how, fallback)
    rate = decision_rate(fees.fees, account, how, fallback)
    if rate > configured:
        log.warning(
            "the Coinbase account's fee %s is above the configured fee %s; deciding with %s",
            rate,
            configured,
            rate,
        )
    return rate


def client_metrics(client: Client) -> Metrics:
    """Metrics on the runtime the client was connected with: served on its Prometheus endpoint
    when it has one (see kripto.metrics.metrics_runtime), recorded nowhere otherwise."""
    runtime = client.service_client.config.runtime or Runtime.default()
    return Metrics(runtime.metric_meter)


async def build_services(settings: Settings, metrics: Metrics | None = None) -> Services:
    db = await connect(settings.general.require_database_url())
    exchange = exchange_from_settings(settings, db)
    return Services(
        metrics=metrics or Metrics.noop(),
        db=db,
        feed=feed_from_settings(settings.exchange),
        candles=candles_from_settings(settings.exchange),
        exchange=exchange,
        fee_rate=await decision_fee_rate(exchange, settings.exchange, settings.execution),
        maker_refused=await maker_clock_problem(exchange, settings),
        channels=channels_from_settings(settings),
        receipts=ReceiptService(
            db,
            mailer_from_settings(settings),
            to=settings.mail.receipt_to,
            sender=settings.mail.receipt_from,
            stop_links=stop_link_signer(settings),
            label=mode_label(settings.exchange.exchange, settings.exchange.feed),
        ),
    )


async def maker_clock_problem(exchange: Exchange, settings: Settings) -> str | None:
    """The clock-skew check before maker orders: a clear line (logged, and recorded on each
    trade that then places no maker order) when this machine's clock is off the exchange's by
    more than KRIPTO_MAX_CLOCK_SKEW. An exchange that does not answer is no verdict: the
    worker starts, says so, and places maker orders (their end times are checked by Coinbase,
    which refuses one in the past)."""
    if settings.execution.execution is not Execution.MAKER_FIRST:
        return None
    try:
        await check_clock_skew(exchange, settings.execution.max_clock_skew)
    except ClockSkewed as exc:
        log.error("maker orders refused: %s", exc)
        return str(exc)
    except Exception as exc:  # no answer is no verdict on the clock
        log.warning("the clock-skew check could not read the exchange's time: %s", exc)
    return None


def stop_link_signer(settings: Settings) -> StopLinkSigner | None:
    """Receipts carry a stop link only when there is a secret to sign it with."""
    secret = settings.dashboard.stop_link_secret
    if secret is None:
        return None
    return StopLinkSigner(secret.get_secret_value(), settings.dashboard.stop_link_base)


def execution_config(settings: Settings) -> ExecutionConfig:
    section = settings.execution
    return ExecutionConfig(
        execution=section.execution,
        maker_window=section.maker_window,
        requote_after=section.requote_after,
        max_requotes=section.max_requotes,
        max_slippage=section.max_slippage,
        maker_fallback=section.maker_fallback,
        quote_max_age=section.quote_max_age,
        stale_quote=section.stale_quote,
        # A resting order is looked at six times in its window, at most every 15 s.
        check_every=min(section.maker_window / 6, timedelta(seconds=15)),
    )


def activities_for(services: Services, settings: Settings, client: Client) -> list[Any]:
    rate_repository = RateRepository(services.db)
    trades = TradeRepository(services.db)
    rates = RateActivities(services.feed, rate_repository, TICKS, services.metrics)
    deciding = DecideActivities(
        rate_repository,
        trades,
        DecisionRepository(services.db),
        services.exchange,
        DecisionPolicy(
            strategy=strategy_from_settings(settings.strategy),
            risk=risk_from_settings(settings.risk, settings.strategy),
            fee_rate=services.fee_rate,
        ),
        KillSwitch(client, task_queue=settings.temporal.task_queue),
        services.metrics,
        announce=lambda event: start_notify(activity.client(), settings, event),
    )
    trading = TradeActivities(
        services.exchange,
        trades,
        services.receipts,
        TradeLimits(
            max_trade_gbp=settings.risk.max_trade_gbp,
            products=tuple(settings.general.products),
            settle_poll_seconds=settings.exchange.settle_poll.total_seconds(),
            maker_fee=settings.exchange.fees.maker,
            daily_spend_limit_gbp=settings.risk.daily_spend_limit_gbp,
        ),
        services.metrics,
        # Called inside an activity, so the worker's own client is at hand.
        announce=lambda event: start_notify(activity.client(), settings, event),
        execution=execution_config(settings),
        maker_refused=services.maker_refused,
    )
    reconcile = ReconcileActivities(
        services.exchange,
        ReconcileRepository(services.db),
        trades,
        services.receipts,
        ReconcilePolicy(
            lookback=settings.exchange.reconcile_lookback, grace=settings.exchange.reconcile_grace
        ),
        services.metrics,
    )
    candles = services.candles or candles_from_settings(settings.exchange)
    services.candles = candles
    backfill = BackfillActivities(candles, rate_repository)
    notify = notify_activities(services, settings, client)
    return [
        backfill.backfill_chunk,
        rates.fetch_rates,
        rates.write_rates,
        deciding.decide_markets,
        rates.report_late_tick,
        rates.read_rates,
        trading.place_order,
        trading.await_settlement,
        trading.write_trade,
        trading.send_receipt,
        trading.get_wallet,
        trading.prepare_trade,
        trading.place_maker,
        trading.check_maker,
        trading.cancel_maker,
        trading.place_taker,
        trading.check_taker,
        trading.finish_trade,
        notify.send_notification,
        notify.send_daily_summary,
        notify.poll_updates,
        notify.handle_update,
        reconcile.reconcile,
        reconcile.send_found_receipt,
    ]


def notify_activities(services: Services, settings: Settings, client: Client) -> NotifyActivities:
    notifier = Notifier(services.db, services.channels.channels)
    telegram = services.channels.telegram
    bot = (
        TelegramBot(settings, client, services.db, services.exchange, notifier, telegram)
        if telegram is not None
        else None
    )
    return NotifyActivities(
        notifier,
        DailySummary(
            services.db,
            settings.general.products,
            paused_reader(client, settings.temporal.task_queue),
        ),
        bot,
        telegram,
        poll_seconds=max(1, int(settings.notifications.telegram_poll_timeout.total_seconds())),
    )


def paused_reader(client: Client, task_queue: str) -> Callable[[str], Awaitable[bool | None]]:
    """Whether a product's trading is paused (None: it has no schedule), for the summary."""

    async def paused(product_id: str) -> bool | None:
        status = await schedule_status(client, product_id, task_queue)
        return status.paused if status.exists else None

    return paused


def deployment_version(settings: Settings) -> WorkerDeploymentVersion:
    assert (
        settings.temporal.build_id is not None
    )  # the settings derive one from the code when unset
    return WorkerDeploymentVersion(settings.temporal.deployment_name, settings.temporal.build_id)


def deployment_config(settings: Settings) -> WorkerDeploymentConfig | None:
    """This worker's place in the Worker Deployment. TradeWorkflow is pinned to the build that
    started it; the ticks, their children and the wallet auto-upgrade to the current build on
    their next task. Each declares its behaviour; a workflow added without one auto-upgrades."""
    if not settings.temporal.worker_versioning:
        return None
    return WorkerDeploymentConfig(
        version=deployment_version(settings),
        use_worker_versioning=True,
        default_versioning_behavior=VersioningBehavior.AUTO_UPGRADE,
    )


async def settle_routing(client: Client, settings: Settings, take_over: bool = False) -> str:
    """Once the worker polls: on a first deploy, or when the current build has no workers and
    no running trades (its last worker stopped for this upgrade), or with `take_over` (`kripto
    dev`, a single build), make this build current; otherwise leave routing to the operator.
    Returns a line saying which, for the start-up output."""
    if not settings.temporal.worker_versioning:
        return "worker versioning off (KRIPTO_WORKER_VERSIONING=false)"
    version = deployment_version(settings)
    where = f"build {version.build_id} of deployment {version.deployment_name!r}"
    try:
        if take_over:
            previous = await make_current(client, version)
            if previous is None:
                return f"{where} is current"
            stranded = await client.count_workflows(
                pinned_trades_query(version.deployment_name, previous)
            )
            return f"{where} is current (was {previous})" + (
                f"; {stranded.count} trade(s) pinned to {previous} wait for a worker of that"
                " build (docs/deploying.md: Deploying a change)"
                if stranded.count
                else ""
            )
        took_over = await take_over_if_abandoned(client, version, settings.temporal.task_queue)
        if took_over is not None:
            return took_over + f" (deployment {version.deployment_name!r})"
    except RPCError as exc:
        if exc.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        raise SettingsError(
            "KRIPTO_WORKER_VERSIONING: the Temporal server at"
            f" {settings.temporal.temporal_address} has no Worker Deployments (server 1.28 or"
            " later has them); upgrade it, or set KRIPTO_WORKER_VERSIONING=false"
        ) from None
    except TimeoutError:
        raise SettingsError(
            f"KRIPTO_BUILD_ID: {where} did not appear in the deployment within 30s of polling"
        ) from None
    return f"{where} is polling; new workflows start on the current build (kripto deploy status)"


@asynccontextmanager
async def running_worker(
    client: Client, settings: Settings, services: Services, take_over: bool = False
) -> AsyncIterator[Worker]:
    """A worker that is polling and, if it is the deployment's first build, current."""
    async with build_worker(client, settings, services) as worker:
        await settle_routing(client, settings, take_over)
        yield worker


def build_worker(
    client: Client, settings: Settings, services: Services, workflows: Sequence[type] = WORKFLOWS
) -> Worker:
    """`workflows`: another build's definitions, for the deploy test's incompatible build."""
    activities = activities_for(services, settings, client)
    services.metrics.count_attempts_of([fn.__name__ for fn in activities])
    return Worker(
        client,
        task_queue=settings.temporal.task_queue,
        workflows=list(workflows),
        activities=activities,
        # On SIGTERM: stop polling, let running activities finish for this long, then cancel
        # them; the SDK reports each as a retryable "WorkerShutdown" failure, so another
        # worker runs the next attempt at once.
        graceful_shutdown_timeout=settings.temporal.shutdown_grace,
        deployment_config=deployment_config(settings),
        interceptors=[AttemptMetrics(services.metrics)],
        # Hundreds of markets start ~25 workflows a second, and each one's first task comes
        # from the shared queue, which the default single poller for it (5 x 0.2) could not
        # drain: at 500 markets new ticks waited 12 s for it (benchmarks/scale.py).
        max_concurrent_workflow_task_polls=16,
        nonsticky_to_sticky_poll_ratio=0.5,
    )


async def run_worker(
    client: Client,
    settings: Settings,
    stop: asyncio.Event,
    take_over: bool = False,
    announce: Callable[[str], object] = log.info,
    workflows: Sequence[type] = WORKFLOWS,
    drain_on_stop: bool = False,
) -> None:
    """Run until `stop` is set (SIGTERM or Ctrl-C), then shut down gracefully: stop polling, so
    the other workers on the task queue take every new task; give the activities already running
    KRIPTO_SHUTDOWN_GRACE to finish; cancel what is left, which the SDK hands back as a retryable
    "WorkerShutdown" failure that another worker retries at once (each step finds its own
    earlier work by the trade's key: an order whose reply never came is looked up, not placed
    again). The services the activities use (the database pool, HTTP clients) close only after
    the worker has stopped. `take_over` and `announce`: see `settle_routing`; `workflows`:
    see `build_worker`; `drain_on_stop`: see `drain`. An open run of a retired workflow type
    (kripto.runtime.retired) stops it before it polls, with one line naming the way out."""
    await ensure_search_attributes(client, settings.temporal.temporal_namespace)
    await refuse_retired_runs(client, settings.temporal.task_queue)
    async with AsyncExitStack() as stack:
        services = await build_services(settings, client_metrics(client))
        stack.push_async_callback(services.close)
        if services.channels.telegram is not None:
            announce(await check_token(services.channels.telegram))  # a bad token: one line
        worker = build_worker(client, settings, services, workflows)
        monitor = Monitor(
            client,
            services.db,
            services.metrics,
            settings.general.products,
            worker,
            deployment=deployment_version(settings)
            if settings.temporal.worker_versioning
            else None,
            task_queue=settings.temporal.task_queue,
        )
        identity = worker.config().get("identity") or client.identity
        async with (
            worker,
            health_server(
                settings.metrics.metrics_host, settings.metrics.health_port, monitor.health
            ),
        ):
            log.info("worker %s polling task queue %s", identity, settings.temporal.task_queue)
            sampling = asyncio.create_task(monitor.run(stop, settings.metrics.metrics_sample_every))
            watching: asyncio.Task[None] | None = None
            last_of_build = False
            try:
                announce(await settle_routing(client, settings, take_over))
                for line in await ensure_phone(client, settings):
                    announce(line)
                await reconcile_at_start(client, settings)
                if settings.temporal.worker_versioning:
                    watching = asyncio.create_task(watch_routing(client, settings, stop))
                await stop.wait()
                last_of_build = await drain(client, settings, identity, announce, drain_on_stop)
            finally:
                for task in (sampling, watching):
                    if task is not None:
                        task.cancel()
                        with suppress(asyncio.CancelledError):
                            await task
            log.info(
                "worker shutting down: taking no new tasks; running activities have %s to finish",
                _seconds(settings.temporal.shutdown_grace),
            )
            began = time.monotonic()
        if last_of_build:
            await retire_build(client, settings)
    log.info("worker stopped after %.1fs", time.monotonic() - began)


async def reconcile_at_start(client: Client, settings: Settings) -> None:
    """Compare the exchange with the books once as the worker starts. The ID is the minute's,
    so workers starting together (a deploy, a compose up) run one reconciliation. A start that
    fails is a warning, not a worker that will not start: the schedule runs it soon anyway."""
    try:
        started = reconcile_at_start_id(datetime.now(UTC), settings.temporal.task_queue)
        await start_reconcile(client, settings, started)
    except WorkflowAlreadyStartedError:
        pass
    except RPCError as exc:
        log.warning("cannot start the start-up reconciliation: %s", exc)


#: How often a worker checks whether the current build has been abandoned (see `watch_routing`).
ROUTING_CHECK_SECONDS = 5.0
#: How often a stopping worker counts the trades pinned to its build while it drains.
DRAIN_CHECK_SECONDS = 1.0


async def watch_routing(client: Client, settings: Settings, stop: asyncio.Event) -> None:
    """Every few seconds: take over as current when the current build's last worker has gone
    or is draining (`take_over_if_abandoned`), so an upgrade that replaces the only worker
    (`docker compose up -d --build`) leaves the schedules with a build that runs them; and, as
    the current build, move here the trades pinned to a build with no workers for
    KRIPTO_UPGRADE_GRACE (`move_stranded_trades`). A failed check is logged and tried again."""
    version = deployment_version(settings)
    gone_since: dict[str, datetime] = {}
    while not stop.is_set():
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), ROUTING_CHECK_SECONDS)
        if stop.is_set():
            return
        try:
            await take_over_if_abandoned(client, version, settings.temporal.task_queue)
            await move_stranded_trades(
                client,
                version,
                settings.temporal.task_queue,
                settings.temporal.upgrade_grace,
                gone_since,
            )
        except (DeploymentError, RPCError, TimeoutError) as exc:
            log.warning("cannot check the deployment's routing: %s", exc)


async def drain(
    client: Client,
    settings: Settings,
    identity: str,
    announce: Callable[[str], object] = log.info,
    wait: bool = True,
) -> bool:
    """Before a worker stops: while trades pinned to its build still run and no other worker of
    the build polls, keep polling until they finish (with `wait`, `kripto worker --drain`), so
    stopping the last worker of a build for an upgrade never strands a trade on it (a second
    signal stops it at once). While it drains, its build takes no new workflows (it is taken
    out of routing: the next build becomes current as soon as it polls) and it renews a lease
    saying it still lives; killed mid-drain, its trades move to the current build after
    KRIPTO_UPGRADE_GRACE. Without `wait` it stops as before: a worker of the same build
    started later (a restart) carries on. Returns True when it is the last of its build with
    nothing pinned to it: once it has stopped polling, `retire` the build."""
    if not settings.temporal.worker_versioning:
        return False
    version = deployment_version(settings)
    name, build = version.deployment_name, version.build_id
    said = False
    renewed = 0.0
    try:
        while True:
            others = await build_pollers(client, name, build, settings.temporal.task_queue) - {
                identity
            }
            if others:
                return False  # they finish what is pinned to the build
            pinned = await running_trades(client, name, build)
            if not pinned:
                break
            if not wait:
                return False
            if time.monotonic() - renewed >= DRAIN_RENEW.total_seconds():
                renewed = time.monotonic()
                try:  # best effort: a missed renewal is tried again in DRAIN_RENEW
                    await renew_drain_lease(client, version)
                except (DeploymentError, RPCError) as exc:
                    log.warning("cannot renew build %s's drain lease: %s", build, exc)
            if not said:
                try:  # best effort: the drain goes on whoever routes new work
                    routed_away = await stop_routing_to(client, version)
                except (DeploymentError, RPCError) as exc:
                    log.warning("cannot take build %s out of routing: %s", build, exc)
                    routed_away = False
                announce(
                    f"draining: {pinned} trade(s) pinned to build {build} still running and no"
                    " other worker of this build polls; polling until they finish"
                    " (a second Ctrl-C or SIGTERM stops now)"
                    + (
                        f"; build {build} takes no new workflows (the next build is current"
                        " as soon as it polls)"
                        if routed_away
                        else ""
                    )
                )
                said = True
            await asyncio.sleep(DRAIN_CHECK_SECONDS)
    except (DeploymentError, RPCError) as exc:
        log.warning("cannot drain build %s before stopping: %s", build, exc)
        return False
    return True


async def retire_build(client: Client, settings: Settings) -> None:
    """After the last worker of a build has stopped polling: say so (see `retire`)."""
    version = deployment_version(settings)
    try:
        await retire(client, version)
    except (DeploymentError, RPCError) as exc:
        log.warning("cannot mark build %s retired: %s", version.build_id, exc)
        return
    log.info(
        "build %s retired: its last worker stopped with no trade pinned to it", version.build_id
    )


def _seconds(duration: timedelta) -> str:
    return f"{duration.total_seconds():g}s"
