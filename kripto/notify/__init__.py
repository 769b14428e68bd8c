"""News from Kripto to the trader's phone: notifications (Telegram and webhooks) and the
Telegram bot. `Notify` is the one event type; `kripto.runtime.notify.notify` sends one from
outside a workflow, `workflows.notify.start_notification` from inside one."""

from kripto.notify.events import Notify, NotifyKind

__all__ = ["Notify", "NotifyKind"]
