"""Worker interceptors: counting activity attempts after the first, by activity type, so an
activity that keeps failing shows up in the metrics (and the "activity retrying" alert)."""

from __future__ import annotations

from typing import Any

from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from kripto.metrics import Metrics


class AttemptMetrics(Interceptor):
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _CountAttempts(next, self.metrics)


class _CountAttempts(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, metrics: Metrics) -> None:
        super().__init__(next)
        self.metrics = metrics

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        self.metrics.activity_attempt(info.activity_type, info.attempt)
        return await super().execute_activity(input)
