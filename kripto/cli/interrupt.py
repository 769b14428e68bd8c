"""Ctrl-C in `kripto`: never a traceback, at any moment, and the truth about what it stopped.

Installed before the command's modules are imported (`kripto.cli.main`), so a Ctrl-C while
they load (the first half second) is handled too. What a Ctrl-C stops is set by the command
as it goes (`say`): `kripto trade` says `no trade was started; nothing was placed` until it
asks Temporal to start the trade, and names the trade and how to find it after. The process
then ends at once with 130, as a shell reports a Ctrl-C: a command that was only waiting has
nothing to clean up (the trade runs in the worker).

Only the standard library is imported here: this runs before anything else is loaded."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from types import FrameType

#: The exit code of a command stopped by Ctrl-C, as a shell reports it.
INTERRUPTED = 130
NOTHING_STARTED = "no trade was started; nothing was placed"

_message: str | None = None


def is_the_cli() -> bool:
    """This process is `kripto` (the console script or `python -m kripto`), not a program
    (a test, the dashboard) that imports the CLI's modules."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    return os.path.basename(sys.argv[0]) == "kripto" or (
        spec is not None and spec.name == "kripto.__main__"
    )


def install() -> None:
    """For `kripto trade buy|sell`: from here on a Ctrl-C prints what `say` last set and exits
    130. (Other commands keep Python's Ctrl-C: `kripto dev` and the servers stop what they
    started on it.)"""
    words = [a for a in sys.argv[1:] if not a.startswith("-")][:2]
    if words in (["trade", "buy"], ["trade", "sell"]):
        say(NOTHING_STARTED)
        signal.signal(signal.SIGINT, _interrupted)


def say(message: str | None) -> None:
    """What a Ctrl-C from now on prints (to stderr; None: nothing)."""
    global _message
    _message = message


def _interrupted(signum: int, frame: FrameType | None) -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    if _message:
        # After the terminal's own "^C": a line of its own.
        os.write(2, f"\n{_message}\n".encode())
    os._exit(INTERRUPTED)
