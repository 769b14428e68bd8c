"""Kripto: a self-hosted BTC-GBP trading platform on Temporal."""

TASK_QUEUE = "kripto"
