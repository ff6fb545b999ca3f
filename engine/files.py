"""Opening only what can be read to its end: regular files, checked before they are opened."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

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
    raise _not_regular(path, info.st_mode, what)


def _not_regular(path: Path, mode: int, what: str) -> CharrnnError:
    kind = next((says for test, says in NOT_REGULAR if test(mode)), "is not a file")
    return CharrnnError(f"{path}: {kind}, not {what}; charrnn reads only regular files")


def open_regular(path: Path, what: str) -> BinaryIO:
    """`path` opened for reading if what it names is a regular file, else a CharrnnError as
    `check_regular_file` says it. Opened without blocking (a FIFO put there, even after a
    check, cannot hang the open) and checked by what was opened (fstat), so nothing swapped
    in between a check and the open is ever read. OSError as open raises it (no such file)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(path, mode, what)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
