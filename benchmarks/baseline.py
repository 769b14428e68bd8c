"""The baseline the benchmarks compare against: a bare workflow with one no-op activity.
(In its own module: the workflow sandbox cannot load workflows defined in `__main__`.)"""

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn
async def noop(value: int) -> int:
    return value


@workflow.defn
class BareWorkflow:
    @workflow.run
    async def run(self, value: int) -> int:
        return await workflow.execute_activity(
            noop, value, start_to_close_timeout=timedelta(seconds=10)
        )
