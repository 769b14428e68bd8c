"""What a person can do with Kripto, each once: start and follow a trade, read the wallet and
the books, pause and resume, the tax report, reconcile. The faces (the CLI, the dashboard, the
Telegram bot) parse input, call these, and format what they return; they hold no SQL and make
no Temporal call of their own (tests/unit/test_architecture.py)."""
