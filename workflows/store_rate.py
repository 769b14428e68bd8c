"""rate-writer: store one rate; retried until Postgres takes it."""

from typing import Any

from temporalio import workflow
from temporalio.common import VersioningBehavior

with workflow.unsafe.imports_passed_through():
    from activities import interfaces
    from kripto.models import StoreRateInput, StoreRateResult
    from workflows.inputs import decoded
    from workflows.policies import WRITE_RATE_RETRY, WRITE_RATE_TIMEOUT


@workflow.defn(versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class StoreRateWorkflow:
    @workflow.run
    async def run(self, *args: Any) -> StoreRateResult:
        input = decoded(StoreRateInput, args)
        return await workflow.execute_activity(
            interfaces.write_rate,
            input,
            start_to_close_timeout=WRITE_RATE_TIMEOUT,
            retry_policy=WRITE_RATE_RETRY,
        )
