"""rate-writer of an exchange tick: every market's rate in one insert; retried until Postgres
takes it."""

from typing import Any

from temporalio import workflow
from temporalio.common import VersioningBehavior

with workflow.unsafe.imports_passed_through():
    from activities import interfaces
    from kripto.flows.ticks import StoreRatesInput, StoreRatesResult
    from workflows.inputs import decoded
    from workflows.policies import WRITE_RATE_RETRY, WRITE_RATE_TIMEOUT


@workflow.defn(versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class StoreRatesWorkflow:
    @workflow.run
    async def run(self, *args: Any) -> StoreRatesResult:
        input = decoded(StoreRatesInput, args)
        return await workflow.execute_activity(
            interfaces.write_rates,
            input,
            start_to_close_timeout=WRITE_RATE_TIMEOUT,
            retry_policy=WRITE_RATE_RETRY,
        )
