"""A run directory's owner lock: `R/lock`, locked by the one process that owns the run.

The owner holds an exclusive flock(2) on the file for as long as it lives. The kernel drops
it when the process ends, however it ends (a crash, SIGKILL, the machine going down), so a
lock never goes stale and a reused PID means nothing. The file also holds the owner's PID,
for messages; the lock, not the PID, says whether the run lives.

A probe takes a shared lock for an instant, on an open file description of its own, and lets
it go at once. For that instant a run starting in the directory would find the lock taken,
so a start retries for PATIENCE seconds before it believes another owner holds it.

A lock is handed to a child process (`--detach`, `d` in the console) by inheritance: the
child receives the open file description, and the lock with it, and its descriptor number in
OWNER_FD_ENV; the directory is owned at every moment in between.

Some network filesystems have no working flock (it fails with ENOLCK or EOPNOTSUPP): there
the lock is `unsupported`, and callers judge the run as an older charrnn did.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from engine.errors import CharrnnError

OWNER_FD_ENV = "CHARRNN_OWNER_FD"
PATIENCE = 0.5  # seconds a start retries a lock that a probe may hold for an instant
RETRY_EVERY = 0.01
PID_WAIT = 5.0  # seconds to wait for a new owner (a --detach starting) to record its PID
NO_LOCKS = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS})
_HELD: dict[Path, OwnerLock] = {}  # the locks this process holds, by lock file


class LockHeld(Exception):
    """Another process owns the directory; `pid` is its PID, if it has recorded one."""

    def __init__(self, pid: int | None) -> None:
        super().__init__(pid)
        self.pid = pid


class LocksUnsupported(Exception):
    """The filesystem refuses file locks; the message says how."""


@dataclass
class OwnerLock:
    path: Path
    fd: int | None  # None: the filesystem has no locks, so nothing is held
    holds: int = 1  # claims of this lock in this process (`d` re-claims the console's)

    def record_pid(self, pid: int | None) -> None:
        """Write the owner's PID in the file, or empty it (a child will write its own)."""
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, b"" if pid is None else f"{pid}\n".encode(), 0)

    def for_child(self) -> tuple[dict[str, str], tuple[int, ...]]:
        """The environment and descriptors that hand this lock to a child process."""
        if self.fd is None:
            return {}, ()
        return {OWNER_FD_ENV: str(self.fd)}, (self.fd,)

    def release(self) -> None:
        """Close this process's hold. Never LOCK_UN: a child it was handed to shares the
        open file description and keeps the lock."""
        self.holds -= 1
        if self.holds > 0:
            return
        _HELD.pop(self.path, None)
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> OwnerLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@dataclass(frozen=True)
class Holder:
    """What a probe found: `held` (by `pid`), `free`, `absent` (no lock file: a directory
    of an older charrnn, or one never owned), or `unsupported` (no locks on this filesystem)."""

    state: str
    pid: int | None = None


def held_here(path: Path) -> OwnerLock | None:
    """The lock on `path` if this process holds it already (claimed once more)."""
    lock = _HELD.get(_key(path))
    if lock is not None:
        lock.holds += 1
    return lock


def take(path: Path) -> OwnerLock:
    """Lock `path` (created owner-only if need be) for this process, or LockHeld, or
    LocksUnsupported; a CharrnnError if `path` is not a regular file."""
    deadline = time.monotonic() + PATIENCE
    while True:
        fd = _open(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if time.monotonic() > deadline:
                raise LockHeld(holder_pid(path)) from None
            time.sleep(RETRY_EVERY)  # a probe lets go at once; an owner never does
            continue
        except OSError as exc:
            os.close(fd)
            if exc.errno in NO_LOCKS:
                raise LocksUnsupported(exc.strerror or str(exc)) from None
            raise
        if _same_file(fd, path):
            return _hold(OwnerLock(_key(path), fd))
        os.close(fd)  # replaced while we locked it: lock what is there now


def unlocked(path: Path) -> OwnerLock:
    """A stand-in where the filesystem has no locks: it holds nothing."""
    return _hold(OwnerLock(_key(path), None))


def adopt(path: Path) -> OwnerLock | None:
    """The lock on `path` handed to this process by its parent, if it was (OWNER_FD_ENV)."""
    value = os.environ.pop(OWNER_FD_ENV, None)
    if value is None:
        return None
    try:
        fd = int(value)
        if not _same_file(fd, path):
            return None
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # ours already: it only says so
    except (ValueError, OSError):
        return None
    os.set_inheritable(fd, False)
    return _hold(OwnerLock(_key(path), fd))


def probe(path: Path) -> Holder:
    """Who holds the lock on `path`, found without ever keeping it: the shared lock taken
    here is released as the descriptor closes, before this returns."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except (FileNotFoundError, PermissionError):
        return Holder("absent")
    except OSError:
        return Holder("free")  # a symbolic link, say: no owner can lock through it
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return Holder("free")
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return Holder("held", _read_pid(fd))
        except OSError as exc:
            return Holder("unsupported" if exc.errno in NO_LOCKS else "free")
        return Holder("free")
    finally:
        os.close(fd)


def holder_pid(path: Path, wait: float = PID_WAIT) -> int | None:
    """The PID of the owner of `path`, waiting up to `wait` seconds for a starting owner
    to record it; None if it has not (or no one holds the lock any more)."""
    deadline = time.monotonic() + wait
    while True:
        holder = probe(path)
        if holder.state != "held" or holder.pid is not None or time.monotonic() > deadline:
            return holder.pid
        time.sleep(0.05)


def _open(path: Path) -> int:
    """`path` opened for locking: a regular file, never through a symbolic link."""
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise CharrnnError(f"{path}: is a symbolic link, not a lock file; remove it") from None
        raise CharrnnError(f"{path}: cannot open the lock file ({exc.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise CharrnnError(f"{path}: is not a regular file, so it cannot be the lock; remove it")
    return fd


def _same_file(fd: int, path: Path) -> bool:
    try:
        mine, there = os.fstat(fd), os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(there.st_mode) and (mine.st_dev, mine.st_ino) == (
        there.st_dev,
        there.st_ino,
    )


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def _key(path: Path) -> Path:
    return Path(os.path.abspath(path))


def _hold(lock: OwnerLock) -> OwnerLock:
    _HELD[lock.path] = lock
    return lock
