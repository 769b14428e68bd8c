"""get-wallet: the exchange's balances (GBP, BTC and each traded market's currencies)."""

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import VersioningBehavior

with workflow.unsafe.imports_passed_through():
    from activities import interfaces
    from kripto.flows.wallet import WalletRequest
    from kripto.models import Wallet
    from workflows.inputs import decoded


@workflow.defn(versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class WalletWorkflow:
    @workflow.run
    async def run(self, *args: Any) -> Wallet:
        request = decoded(WalletRequest, args)
        return await workflow.execute_activity(
            interfaces.get_wallet,
            request,
            start_to_close_timeout=timedelta(seconds=15),
        )
