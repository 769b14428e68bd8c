from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from kripto.devstack.temporal import StartupError


class DataDirLock:
    """One `kripto dev` per data folder: an exclusive lock on `<data>/dev.lock`, released by the
    kernel when the process ends, however it ends."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "dev.lock"
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        handle = open(self.path, "a+")  # noqa: SIM115 - held for the life of the process
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise StartupError(
                f"another `kripto dev` (pid {holder}) is already running on {self.path.parent};"
                " stop it first, or use another --data-dir"
            ) from None
        handle.truncate(0)
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
