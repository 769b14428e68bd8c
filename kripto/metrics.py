"""Kripto's own Prometheus metrics.

They are made on the Temporal SDK's metric meter, so the worker serves one endpoint with both the
SDK's metrics (`temporal_…`: polls, task latencies, activity failures) and ours (`kripto_…`).
The objects are made once, at worker start-up, and handed to the activities like any other
service; without a metrics endpoint (tests, the CLI) the meter is the SDK's no-op one.

Labels are bounded on purpose (a product, a side, an error's kind, a hold reason's *kind*):
a label made of free text would make a new time series for every distinct reason.
docs/operating.md, "Monitoring", lists every metric.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from temporalio.common import MetricMeter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from kripto.models import Order
from kripto.settings import Settings, SettingsError

#: An activity whose attempt number passes this is counted in kripto_activity_attempts_over_limit,
#: which the "activity keeps failing" alert watches.
ATTEMPT_LIMIT = 5

#: The kinds of difference a reconciliation reports (kripto.reconcile.DifferenceKind).
RECONCILE_KINDS = (
    "missing_from_books",
    "unknown_to_exchange",
    "mismatch",
    "balance",
    "unsettled",
)
#: The steps of a trade that wait on errors while its order may exist (placing after the key is
#: claimed, settling, recording): the label of kripto_trade_waiting_on_errors_seconds.
WAITING_STEPS = ("place", "settle", "record")

#: Bucket bounds for our histograms (the SDK's defaults are for milliseconds).
BUCKETS: Mapping[str, Sequence[float]] = {
    "kripto_traded_gbp": [10, 25, 50, 100, 250, 500, 1000, 5000],
    "kripto_fees_gbp": [0.01, 0.05, 0.1, 0.25, 0.5, 1, 5, 25],
}

#: A hold's reason, as `kripto.decisions.decide` and `kripto.risk.size_trade` word it, to a
#: short stable kind. First match wins; anything new is "other" until it is named here.
_HOLD_KINDS: Sequence[tuple[str, re.Pattern[str]]] = [
    ("paused", re.compile(r"automatic trading is paused")),
    ("no_rates", re.compile(r"no rates stored yet")),
    ("stale_data", re.compile(r"stale data")),
    ("warming_up", re.compile(r"^hold: [\d,]+ of [\d,]+ points needed")),
    ("gap", re.compile(r"gap in the rates")),
    ("no_signal", re.compile(r"^hold: (no \S+ signal|RSI |short EMA |z-score |DCA buys )")),
    ("protection", re.compile(r"but (drawdown guard|stop-loss guard):")),
    ("dca_interval", re.compile(r"^hold: \S+: last buy .* ago; buys every")),
    ("cooldown", re.compile(r"but cooldown:")),
    ("below_fees", re.compile(r"but expected edge")),
    ("not_enough", re.compile(r"but not enough to")),
    ("daily_limit", re.compile(r"but daily spend limit")),
]


def hold_kind(reason: str) -> str:
    """The kind of a hold's reason, for a bounded label: "cooldown", not the minutes."""
    for kind, pattern in _HOLD_KINDS:
        if pattern.search(reason):
            return kind
    return "other"


class Metrics:
    """Every metric Kripto records, with one method per event so call sites stay one line."""

    def __init__(self, meter: MetricMeter) -> None:
        counter, gauge = meter.create_counter, meter.create_gauge
        self._rates_fetched = counter("kripto_rates_fetched", "Rates read from the feed.")
        self._fetch_failures = counter(
            "kripto_rate_fetch_failures", "Failed attempts to read a rate from the feed."
        )
        self._decisions = counter("kripto_decisions", "Decisions made, one per tick.")
        self._trades = counter("kripto_trades", "Trades ended, by side and outcome.")
        self._traded = meter.create_histogram_float(
            "kripto_traded_gbp", "GBP value of each trade done (its sum: GBP traded).", "GBP"
        )
        self._fees = meter.create_histogram_float(
            "kripto_fees_gbp", "Fees of each trade done (its sum: fees paid).", "GBP"
        )
        self._receipts = counter("kripto_receipts", "Receipts sent, failed and refused.")
        self._retries = counter(
            "kripto_activity_retries", "Activity attempts after the first, by activity type."
        )
        self._over_limit = counter(
            "kripto_activity_attempts_over_limit",
            f"Activity attempts numbered above {ATTEMPT_LIMIT}, by activity type.",
        )
        self._rate_age = meter.create_gauge_float(
            "kripto_newest_rate_age_seconds", "Age of the newest stored rate.", "s"
        )
        self._unsettled = gauge("kripto_trades_unsettled", "Trades placed and not yet settled.")
        self._oldest_unsettled = meter.create_gauge_float(
            "kripto_oldest_unsettled_trade_age_seconds",
            "Age of the oldest trade waiting to settle (0 when none waits).",
            "s",
        )
        self._kill_switch = gauge(
            "kripto_kill_switch_engaged", "1 while automatic trading is paused for a product."
        )
        self._kill_switch_since = meter.create_gauge_float(
            "kripto_kill_switch_engaged_since_timestamp_seconds",
            "When the kill switch was engaged (Unix time; 0 when it is off).",
            "s",
        )

        self._differences = gauge(
            "kripto_reconcile_differences",
            "Differences between exchange and books flagged and not resolved, by kind.",
        )
        self._found = counter(
            "kripto_reconcile_found_orders",
            "Exchange orders the reconciler found missing from the books and recorded.",
        )
        self._reconciled_at = meter.create_gauge_float(
            "kripto_reconcile_last_run_timestamp_seconds",
            "When the last reconciliation finished (Unix time).",
            "s",
        )
        self._waiting = meter.create_gauge_float(
            "kripto_trade_waiting_on_errors_seconds",
            "How long the longest-waiting trade at a step has been retrying errors while its order"
            " may exist (since the step's first attempt; 0 when none waits).",
            "s",
        )
        self._wait_errors = counter(
            "kripto_trade_wait_errors",
            "Failed attempts of a trade's step while its order may exist, by step.",
        )
        #: (step, trade) → when that step's wait began (Unix time), for the trades waiting now.
        self._waits: dict[tuple[str, str], float] = {}
        for step in WAITING_STEPS:
            self._waiting.set(0.0, {"step": step})
            self._wait_errors.add(0, {"step": step})

        # Maker-first execution (docs/execution.md).
        self._filled_value = meter.create_histogram_float(
            "kripto_filled_gbp",
            "Value of each trade's fills by liquidity (maker share = the maker sum over both).",
            "GBP",
        )
        self._requotes = counter(
            "kripto_requotes", "Maker orders cancelled and placed again at a new touch."
        )
        self._fallbacks = counter(
            "kripto_maker_fallbacks",
            "Maker-first trades whose remainder went as a taker order or was skipped, by kind.",
        )
        self._time_to_fill = meter.create_histogram_float(
            "kripto_time_to_fill_seconds",
            "From a trade's first order to its last fill, by execution.",
            "s",
        )

        # Series the alerts take increase() of start at 0, so their first event counts.
        self._found.add(0)
        for outcome in ("sent", "failed", "refused"):
            self._receipts.add(0, {"outcome": outcome})

    def count_attempts_of(self, activity_types: Sequence[str]) -> None:
        """Start each activity type's attempt counters at 0 (see above)."""
        for activity_type in activity_types:
            self._retries.add(0, {"activity_type": activity_type})
            self._over_limit.add(0, {"activity_type": activity_type})

    @classmethod
    def noop(cls) -> Metrics:
        return cls(MetricMeter.noop)

    def rate_fetched(self, product: str, source: str) -> None:
        self._rates_fetched.add(1, {"product": product, "source": source})

    def rate_fetch_failed(self, product: str, kind: str) -> None:
        self._fetch_failures.add(1, {"product": product, "kind": kind})

    def decided(self, product: str, action: str, reason: str) -> None:
        kind = hold_kind(reason) if action == "hold" else "none"
        self._decisions.add(1, {"product": product, "action": action, "hold_reason": kind})

    def trade_done(self, order: Order) -> None:
        """Once per trade: when its settled row is first written."""
        side = order.side.value
        self._trades.add(1, {"side": side, "outcome": "done"})
        # Prometheus holds floats; the exact amounts stay in Postgres (Decimal, numeric).
        self._traded.record(float(order.executed_value), {"side": side})
        self._fees.record(float(order.fill_fees), {"side": side})

    def trade_filled(
        self,
        execution: str,
        maker_value: Decimal,
        taker_value: Decimal,
        seconds_to_fill: float | None,
    ) -> None:
        """Once per trade, with its settled row: the value filled by liquidity, and the time
        from its first order to its last fill."""
        self._filled_value.record(float(maker_value), {"liquidity": "maker"})
        self._filled_value.record(float(taker_value), {"liquidity": "taker"})
        if seconds_to_fill is not None:
            self._time_to_fill.record(seconds_to_fill, {"execution": execution})

    def requoted(self) -> None:
        self._requotes.add(1)

    def fell_back(self, kind: str) -> None:
        """`taker` (the remainder went as a taker order), `skip` (dropped), `stale_quote`
        (no usable quote), `maker_refused` (clock skew)."""
        self._fallbacks.add(1, {"kind": kind})

    def trade_failed(self, side: str, kind: str) -> None:
        """A trade refused for good: InsufficientFunds, OrderRejected, KeyReused, InvalidInput…"""
        self._trades.add(1, {"side": side, "outcome": kind})

    def trade_waiting(self, step: str, trade_id: str, since: float, now: float) -> float:
        """A trade's step failed again while its order may exist; returns how long it has
        waited. The gauge shows the longest wait at the step among the trades waiting now."""
        self._wait_errors.add(1, {"step": step})
        self._waits[(step, trade_id)] = min(since, self._waits.get((step, trade_id), since))
        self._show_waits(step, now)
        return now - self._waits[(step, trade_id)]

    def trade_wait_over(self, step: str, trade_id: str, now: float) -> None:
        """The step succeeded (or the exchange's verdict ended the trade): its wait is over."""
        if self._waits.pop((step, trade_id), None) is not None:
            self._show_waits(step, now)

    def _show_waits(self, step: str, now: float) -> None:
        started = [t for (s, _), t in self._waits.items() if s == step]
        self._waiting.set(max((now - t for t in started), default=0.0), {"step": step})

    def receipt(self, outcome: str) -> None:
        """`sent`, `failed` (will be retried) or `refused` (for good)."""
        self._receipts.add(1, {"outcome": outcome})

    def activity_attempt(self, activity_type: str, attempt: int) -> None:
        if attempt > 1:
            self._retries.add(1, {"activity_type": activity_type})
        if attempt > ATTEMPT_LIMIT:
            self._over_limit.add(1, {"activity_type": activity_type})

    def newest_rate_age(self, product: str, seconds: float) -> None:
        self._rate_age.set(seconds, {"product": product})

    def unsettled_trades(self, count: int, oldest_age_seconds: float) -> None:
        self._unsettled.set(count)
        self._oldest_unsettled.set(oldest_age_seconds)

    def reconcile_found(self) -> None:
        self._found.add(1)

    def reconciled(self) -> None:
        """A reconciliation finished."""
        self._reconciled_at.set(time.time())

    def reconcile_differences(self, open_by_kind: Mapping[str, int]) -> None:
        """The differences flagged and not yet resolved (reconcile_differences), by kind, 0
        included so an alert clears when the books match again. Read from Postgres, so every
        worker reports the same, whichever ran the last reconciliation."""
        for kind in RECONCILE_KINDS:
            self._differences.set(open_by_kind.get(kind, 0), {"kind": kind})

    def kill_switch(self, product: str, engaged_since: datetime | None) -> None:
        labels = {"product": product}
        self._kill_switch.set(1 if engaged_since is not None else 0, labels)
        self._kill_switch_since.set(engaged_since.timestamp() if engaged_since else 0.0, labels)


def metrics_runtime(settings: Settings) -> Runtime | None:
    """A Temporal runtime that serves Prometheus metrics on KRIPTO_METRICS_HOST:PORT, for the
    worker's client; None when KRIPTO_METRICS_PORT is 0 (off). Counters end in `_total`."""
    if settings.metrics.metrics_port == 0:
        return None
    address = f"{settings.metrics.metrics_host}:{settings.metrics.metrics_port}"
    try:
        return Runtime(
            telemetry=TelemetryConfig(
                metrics=PrometheusConfig(
                    bind_address=address,
                    counters_total_suffix=True,
                    histogram_bucket_overrides=dict(BUCKETS),
                ),
                attach_service_name=False,
            )
        )
    except Exception as exc:  # the SDK raises a bare Exception from its core
        raise SettingsError(
            f"KRIPTO_METRICS_PORT: cannot serve metrics on {address} ({exc}); choose another"
            " port, or 0 to turn metrics off"
        ) from None


def metrics_url(settings: Settings) -> str | None:
    if settings.metrics.metrics_port == 0:
        return None
    return f"http://{settings.metrics.metrics_host}:{settings.metrics.metrics_port}/metrics"


def health_url(settings: Settings) -> str | None:
    if settings.metrics.health_port == 0:
        return None
    return f"http://{settings.metrics.metrics_host}:{settings.metrics.health_port}/healthz"


def serving_line(settings: Settings) -> str:
    """Where the worker's metrics and health are, for its start-up output."""
    metrics = metrics_url(settings) or "off (KRIPTO_METRICS_PORT=0)"
    health = health_url(settings) or "off (KRIPTO_HEALTH_PORT=0)"
    return f"metrics {metrics}; health {health}"
