"""receipt-emailer: at most one receipt per trade, and a failed send is sent again.

Each trade has one `receipts` row, keyed by the trade's key. It is created as `sending`, then
locked for the send: the attempt is counted, the mail provider is called, and the row is marked
`sent` with the provider's message ID once the provider has accepted the message; a `sent` row is
never sent again. Because the send happens under the row lock, overlapping attempts for one trade
send once, and a failed send commits its counted attempt and leaves the row `sending`.

The narrow window: if the process dies, or loses Postgres, after the mail provider accepted the
message but before the `sent` mark commits, the row still says `sending` and the retried activity
sends a second copy of the receipt. The same happens when SES accepts a message but its reply is
lost (a read timeout). With the outbox mailer the second copy replaces the first file, so only SES
can deliver a duplicate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kripto.db.pool import Database
from kripto.db.receipts import ReceiptRepository
from kripto.mail.base import Mailer
from kripto.mail.receipt import render_receipt
from kripto.models import Order
from kripto.stoplinks import StopLinkSigner
from kripto.trade_orders import TradeFill


@dataclass(frozen=True)
class ReceiptResult:
    trade_id: str
    #: True when this call sent the receipt; False when it had been sent before.
    sent_now: bool
    message_id: str | None


class ReceiptService:
    def __init__(
        self,
        db: Database,
        mailer: Mailer,
        *,
        to: str,
        sender: str,
        stop_links: StopLinkSigner | None = None,
        label: str | None = None,
    ) -> None:
        """`label`: kripto.mail.receipt.mode_label's (PAPER, SIMULATED prices), on every
        receipt and on the worker's log lines for trades; None when trading is live."""
        self.label = label
        self.db = db
        self.stop_links = stop_links
        self.mailer = mailer
        self.to = to
        self.sender = sender

    async def send_once(
        self, trade_id: str, order: Order, fills: Sequence[TradeFill] = ()
    ) -> ReceiptResult:
        """Send the receipt for `trade_id` unless it has been sent. A failed send raises the
        mailer's error and leaves the row `sending`, so the next attempt sends it."""
        rows = ReceiptRepository(self.db)
        await rows.open(trade_id, self.to)
        stop_url = self.stop_links.url(trade_id, order.created_at) if self.stop_links else None
        email = render_receipt(trade_id, order, stop_url, fills, self.label)
        failure: Exception | None = None
        async with self.db.pool.acquire() as conn, conn.transaction():
            # Lock the row for the send: an overlapping attempt waits here, then finds 'sent'.
            status, sent_id = await rows.lock(conn, trade_id)
            if status == "sent":
                return ReceiptResult(trade_id, sent_now=False, message_id=sent_id)
            # `attempts` counts calls to the mail provider, so it is exact under overlap.
            await rows.count_attempt(conn, trade_id, self.to)
            try:
                message_id = await self.mailer.send(
                    to=self.to, sender=self.sender, email=email, key=trade_id
                )
            except Exception as exc:
                failure = exc  # commit the counted attempt, then raise below
            else:
                await rows.mark_sent(conn, trade_id, message_id)
        if failure is not None:
            raise failure
        return ReceiptResult(trade_id, sent_now=True, message_id=message_id)
