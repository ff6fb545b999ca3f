"""Running a user's cell code: an exception inside it becomes one line naming the user's file
and line, never a traceback (unless asked for with --debug).

Built-in cells are charrnn's own code: their exceptions are bugs and pass through untouched.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType, TracebackType

import numpy as np

from engine.errors import CharrnnError

BUILT_IN_PACKAGE = "engine."
USER_MODULE_PREFIX = "charrnn_user_cell_"  # the modules cell files are imported as


def source_file(cls: type) -> str | None:
    """The file `cls` was defined in, or None for charrnn's own cells."""
    if cls.__module__.startswith(BUILT_IN_PACKAGE):
        return None
    return getattr(sys.modules.get(cls.__module__), "__file__", None)


def _user_frames(tb: TracebackType | None, path: str | None = None) -> list[TracebackType]:
    """The frames of `tb` in the file `path`, or (None) in any cell file imported here."""
    frames = []
    while tb is not None:
        frame = tb.tb_frame
        mine = _in_cell_file(frame) if path is None else frame.f_code.co_filename == path
        if mine:
            frames.append(tb)
        tb = tb.tb_next
    return frames


def _in_cell_file(frame: FrameType) -> bool:
    return str(frame.f_globals.get("__name__", "")).startswith(USER_MODULE_PREFIX)


def one_line(text: object) -> str:
    return " ".join(str(text).split())


def describe_exception(exc: BaseException, path: str, what: str) -> str:
    """`mgu.py:42: ValueError in forward: operands could not be broadcast ...`."""
    frames = _user_frames(exc.__traceback__, path)
    shown = display_path(path)
    where = f"{shown}:{frames[-1].tb_lineno}" if frames else shown
    message = one_line(exc) or "(no message)"
    return f"{where}: {type(exc).__name__} in {what}: {message}"


def print_user_traceback(exc: BaseException, path: str | None = None) -> None:
    """The traceback from the first frame in the user's file (None: any cell file) down,
    on stderr."""
    frames = _user_frames(exc.__traceback__, path)
    tb = frames[0] if frames else exc.__traceback__
    sys.stderr.write("".join(traceback.format_exception(type(exc), exc, tb)))


def user_code_error(exc: BaseException) -> str | None:
    """One line for an exception raised in a cell file's code wherever it ran (training,
    sampling, inspecting): `mgu.py:42: ValueError in forward: ...`; None when no frame of
    its traceback is in a cell file (a bug of charrnn's own: its traceback is worth seeing)."""
    frames = _user_frames(exc.__traceback__)
    if not frames:
        return None
    code = frames[-1].tb_frame.f_code
    return describe_exception(exc, code.co_filename, code.co_name)


@contextmanager
def running(path: str | None, what: str, debug: bool = False) -> Iterator[None]:
    """Run user code from `path` (None: charrnn's own, left alone); an exception becomes a
    one-line CharrnnError saying where in the user's file and in which method (`what`)."""
    if path is None:
        yield
        return
    try:
        # NaN and overflow are found by the checks and named there, in one line
        with np.errstate(all="ignore"):
            yield
    except CharrnnError:
        raise
    except Exception as exc:
        if debug:
            print_user_traceback(exc, path)
        hint = "" if debug else " (--debug shows the traceback)"
        raise CharrnnError(describe_exception(exc, path, what) + hint) from None


def display_path(path: str | Path) -> str:
    """`path` relative to the working directory when it is under it, as the user typed it."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
