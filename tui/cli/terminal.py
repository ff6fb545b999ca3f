"""What the command line needs of its terminal: keys on stdin for the console, and a quiet
end when the reader of stdout has gone."""

from __future__ import annotations

import os
import sys

from engine.errors import CharrnnError

# The exit status of a program whose output pipe closed: 128 + SIGPIPE, as the shell reports
# a program the signal killed (`charrnn sample ... | head`).
STDOUT_CLOSED = 141


def silence_stdout() -> None:
    """Send what is still to be written to /dev/null once stdout's reader has gone, so the
    interpreter's flush at exit does not fail again with a traceback."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def require_terminal(instead: str) -> None:
    """The console reads its keys from stdin: without a terminal there (`< /dev/null`, a
    cron job) it could only spin. Say so before anything is loaded or drawn. A console
    given another Textual driver (textual-serve's web driver, for `charrnn serve`) reads its
    keys from that instead."""
    if os.environ.get("TEXTUAL_DRIVER"):
        return
    try:
        interactive = sys.stdin is not None and sys.stdin.isatty()
    except ValueError:  # stdin closed
        interactive = False
    if not interactive:
        raise CharrnnError(f"the console needs a terminal on stdin; {instead}")
