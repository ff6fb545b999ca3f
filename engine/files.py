"""Opening only what can be read to its end: regular files, checked before they are opened."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from engine.errors import CharrnnError

# What the user most likely gave instead of a file, by the stat type test that catches it.
NOT_REGULAR = (
    (stat.S_ISDIR, "is a directory"),
    (stat.S_ISFIFO, "is a named pipe (FIFO)"),
    (stat.S_ISCHR, "is a device"),
    (stat.S_ISBLK, "is a device"),
    (stat.S_ISSOCK, "is a socket"),
)


def check_regular_file(path: Path, what: str) -> os.stat_result:
    """The stat of `path` if it is a regular file (links followed), else a CharrnnError.
    Checked before opening: opening a FIFO waits for a writer, and a device such as
    /dev/zero never ends."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise CharrnnError(f"{path}: no such file") from None
    except OSError as exc:
        raise CharrnnError(f"{path}: cannot read: {exc.strerror}") from None
    if stat.S_ISREG(info.st_mode):
        return info
    kind = next((says for test, says in NOT_REGULAR if test(info.st_mode)), "is not a file")
    raise CharrnnError(f"{path}: {kind}, not {what}; charrnn reads only regular files")
