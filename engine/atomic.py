"""Writing a file so that no reader ever sees half of it: the one rule every save follows.

The bytes go to a temporary file beside the target (`.NAME.XXXXXXXX.tmp`, the name
engine/checkpoint.py's `remove_stale_temporaries` recognises after a killed save), are
flushed to disk when they must survive a crash, and the temporary is renamed over the
target. A failure removes the temporary and leaves the previous file as it was.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def write_atomically(
    path: Path,
    write: Callable[[BinaryIO], None],
    *,
    durable: bool = True,
    mode: int | None = None,
) -> Path:
    """Call `write(f)` on a temporary file beside `path`, then rename it over `path`.

    `durable` fsyncs before the rename (checkpoints and exports; a scratch file such as the
    inspect snapshot need not wait for the disk). The file is owner-only (0600, as mkstemp
    makes it) unless `mode` says otherwise."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
