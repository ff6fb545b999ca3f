"""Whether a checkpoint may be written to a path: the rule for `--save` and the console's saves.

A save replaces whatever is at its path (atomically, by renaming a new file over it), so it
is refused, before any training, where that would destroy something that is not a model:
anything but a regular file (a named pipe, a device, a directory), the corpus being trained
on (the same file under any name, through symbolic or hard links), the run directory's own
records (metrics.jsonl, run.json, ...: even before they exist), and, unless the user says so
(--force), a file that is not a charrnn checkpoint. An existing checkpoint may always be
replaced.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from engine.errors import CharrnnError
from engine.files import NOT_REGULAR
from engine.npzread import NpzReader
from tui.runs.rundir import RECORDS


def check_save_target(
    path: Path, corpus: Path | None = None, *, force: bool = False, run_dir: Path | None = None
) -> None:
    """A CharrnnError saying why saving to `path` must not happen, if it must not.

    `corpus` is the file being trained on; `force` allows replacing a file that is not a
    charrnn checkpoint (--force only); `run_dir` is the run's directory, whose records no
    save may replace."""
    if run_dir is not None:
        _not_a_record(path, run_dir)
    try:
        info = os.stat(path)  # links followed: what a save through them would destroy
    except FileNotFoundError:
        return  # nothing there (or a dangling link): nothing to lose
    except OSError as exc:
        raise CharrnnError(f"{path}: cannot check the save target ({exc.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise CharrnnError(f"{path}: is a directory; give a file name such as {path}/model.npz")
    if not stat.S_ISREG(info.st_mode):
        kind = next((says for test, says in NOT_REGULAR if test(info.st_mode)), "is not a file")
        raise CharrnnError(f"{path}: {kind}; a checkpoint is saved only as a regular file")
    if corpus is not None and _same_file(info, corpus):
        raise CharrnnError(f"{path}: is the corpus being trained on; saving there would replace it")
    if not force and not is_checkpoint(path):
        raise CharrnnError(
            f"{path}: exists and is not a charrnn checkpoint; save under another name "
            "(on the command line, --force replaces it anyway)"
        )


def _not_a_record(path: Path, run_dir: Path) -> None:
    """Refuse the run directory's own records by name, whether or not they exist yet: a
    checkpoint written as run.log would be appended to, and one as metrics.jsonl unread."""
    target = Path(os.path.realpath(path))
    for name in RECORDS:
        if target == Path(os.path.realpath(run_dir / name)):
            raise CharrnnError(
                f"{path}: is the run's own {name}; give the checkpoint a name of its own, "
                f"such as {run_dir / 'model.npz'}"
            )


def is_checkpoint(path: Path) -> bool:
    """Whether `path` holds a charrnn checkpoint (an .npz with its metadata and weights);
    only the zip directory is read, however large the file."""
    try:
        with NpzReader(path) as npz:
            names = npz.entries
    except (CharrnnError, OSError):
        return False
    return "meta" in names and any(name.startswith("param/") for name in names)


def _same_file(info: os.stat_result, other: Path) -> bool:
    try:
        theirs = os.stat(other)
    except OSError:
        return False
    return (info.st_dev, info.st_ino) == (theirs.st_dev, theirs.st_ino)
