"""Counters a worker keeps about its ticks, for whoever wants to expose them (a log line now;
Prometheus later). Plain integers behind a lock-free API: activities run on one event loop."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class TickCounters:
    """Ticks that started too late to read their minute's rate, per product. The server
    starts a late tick (its catch-up window is longer than a minute) so that the worker sees
    it, counts it and fails it loudly, instead of the server skipping it unseen."""

    late: Counter[str] = field(default_factory=Counter)

    def count_late(self, product_id: str) -> int:
        self.late[product_id] += 1
        return self.late[product_id]

    @property
    def late_total(self) -> int:
        return sum(self.late.values())

    def snapshot(self) -> dict[str, int]:
        return {"late_ticks": self.late_total}


#: This process's counters (one worker per process).
TICKS = TickCounters()
