"""A detached run's socket, `R/control.sock`: bound by the run, reached by its viewers.

The socket stays in the run directory, whatever its length. A Unix socket's path may hold at
most SUN_PATH_MAX bytes, so a longer one is bound and reached as /proc/self/fd/N/control.sock,
N a descriptor of the directory itself (Linux); where there is no /proc, such a directory is
refused in one line before the run starts.

A viewer talks only to the process that owns the run. control.sock must be a socket (a
symbolic link is not followed) of this user's, and the process at the other end, asked of
the kernel (SO_PEERCRED), must be the owner the lock names: a file, link or socket planted at
control.sock cannot redirect a viewer.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import struct
from collections.abc import Iterator
from pathlib import Path

from engine.errors import CharrnnError

SUN_PATH_MAX = 107  # bytes of a Unix socket's path (108 with the final NUL, on Linux)
_CREDENTIALS = struct.Struct("3i")  # struct ucred: pid, uid, gid


class Unreachable(Exception):
    """Why a viewer cannot (or must not) talk to what is at a run's socket path."""


@contextlib.contextmanager
def bindable(path: Path) -> Iterator[str]:
    """A name for `path` short enough to bind or connect a Unix socket (valid inside the
    block), or a CharrnnError if there is none."""
    if len(os.fsencode(path)) <= SUN_PATH_MAX:
        yield str(path)
        return
    flags = getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | os.O_CLOEXEC
    try:
        fd = os.open(path.parent, flags)
    except OSError as exc:
        raise CharrnnError(f"{path.parent}: cannot open ({exc.strerror})") from None
    try:
        short = f"/proc/self/fd/{fd}/{path.name}"
        if not os.path.isdir(os.path.dirname(short)):
            raise CharrnnError(
                f"{path}: longer than the {SUN_PATH_MAX} bytes a Unix socket path may have; "
                "choose a shorter --run-dir"
            )
        yield short
    finally:
        os.close(fd)


def check_socket(path: Path) -> os.stat_result:
    """The stat of `path` if it is a socket of this user's (links not followed), else
    Unreachable saying what is there instead."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise Unreachable(f"{path}: no socket there") from None
    except OSError as exc:
        raise Unreachable(f"{path}: {exc.strerror}") from None
    if stat.S_ISLNK(info.st_mode):
        raise Unreachable(f"{path}: is a symbolic link, not the run's socket")
    if not stat.S_ISSOCK(info.st_mode):
        raise Unreachable(f"{path}: is not a socket")
    if info.st_uid != os.geteuid():
        raise Unreachable(f"{path}: belongs to another user")
    return info


def connect(path: Path, owner: int | None, timeout: float) -> socket.socket:
    """A blocking socket connected to the run at `path` whose process is `owner` (None: not
    known, as for an older charrnn's run), or Unreachable saying why not."""
    check_socket(path)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.settimeout(timeout)
        with bindable(path) as name:
            client.connect(name)
        peer = peer_pid(client)
        if owner is not None and peer is not None and peer != owner:
            raise Unreachable(
                f"{path}: answered by pid {peer}, not by the run's process (pid {owner})"
            )
    except (OSError, CharrnnError) as exc:
        client.close()
        raise Unreachable(f"{path}: {getattr(exc, 'strerror', None) or exc}") from None
    except BaseException:
        client.close()
        raise
    return client


def peer_pid(connected: socket.socket) -> int | None:
    """The PID of the process at the other end (the one that listens), where the kernel
    says (Linux); None elsewhere."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    raw = connected.getsockopt(socket.SOL_SOCKET, option, _CREDENTIALS.size)
    return int(_CREDENTIALS.unpack(raw)[0])


def file_id(path: Path) -> tuple[int, int] | None:
    """(device, inode) of what `path` names itself (links not followed), or None."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino
