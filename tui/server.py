"""A detached run: one Session behind a Unix socket in the run directory, any number of viewers.

The session trains in a thread as it does under the console; this process's asyncio loop
accepts viewers, hands each a Welcome, forwards their commands to the session and broadcasts
the session's events to all of them as JSON lines. A viewer that is slow, sends garbage or
vanishes is dropped; training never waits for one. SIGTERM and SIGHUP save latest.npz and
end the run cleanly; run.json says what the run is doing for `charrnn runs` and `attach`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui.protocol import (
    MAX_LINE_BYTES,
    MESSAGE_TYPES,
    Command,
    Event,
    Pause,
    PausedChanged,
    Progress,
    ProtocolError,
    Resume,
    Sample,
    Save,
    SetTemperature,
    Stop,
    decode,
    encode,
)
from tui.protocol import Load as LoadCommand
from tui.run import ExitReport
from tui.rundir import RunDir
from tui.session import Call, Session

COMMANDS = (Pause, Resume, SetTemperature, Sample, Save, LoadCommand, Stop)
MAX_BACKLOG = 4 << 20  # bytes queued for one viewer before it is dropped as too slow
STATUS_INTERVAL = 2.0  # seconds between run.json updates
assert all(cls.__name__ in MESSAGE_TYPES for cls in COMMANDS)


@dataclass
class RunStatus:
    """run.json: what `charrnn runs` shows and `charrnn attach` checks."""

    pid: int
    corpus: str
    preset: str
    model: str
    started: float
    state: str = "live"  # live, finished, stopped or crashed
    paused: bool = False
    iteration: int = 0
    smooth_loss: float | None = None
    best_val_loss: float | None = None
    updated: float = field(default_factory=time.time)
    reason: str = ""  # for a stopped or crashed run: why

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class RunServer:
    def __init__(self, session: Session, run_dir: RunDir, status: RunStatus) -> None:
        self.session = session
        self.run_dir = run_dir
        self.status = status
        self.viewers: set[asyncio.StreamWriter] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._status_dirty = True

    # -- events out -------------------------------------------------------------------------

    def _broadcast(self, event: Event) -> None:
        """Called by the session's thread: hand the event to the loop thread."""
        assert self.loop is not None
        self.loop.call_soon_threadsafe(self._send_all, event)

    def _send_all(self, event: Event) -> None:
        self._observe(event)
        line = encode(event)
        for writer in list(self.viewers):
            self._send(writer, line)

    def _send(self, writer: asyncio.StreamWriter, line: bytes) -> None:
        if writer.is_closing() or writer.transport.get_write_buffer_size() > MAX_BACKLOG:
            self._drop(writer)  # a viewer that cannot keep up is dropped, never waited for
            return
        writer.write(line)

    def _drop(self, writer: asyncio.StreamWriter) -> None:
        self.viewers.discard(writer)
        writer.close()

    def _observe(self, event: Event) -> None:
        """Keep run.json's figures current from what the session reports."""
        status = self.status
        if isinstance(event, Progress):
            status.iteration, status.smooth_loss = event.iteration, event.smooth_loss
        elif isinstance(event, PausedChanged):
            status.paused, status.iteration = event.paused, event.iteration
        else:
            return
        self._status_dirty = True

    # -- viewers in -------------------------------------------------------------------------

    async def _viewer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()

        def welcome(session: Session) -> None:  # in the training thread, between two steps
            line = encode(session.welcome())
            loop.call_soon_threadsafe(self._admit, writer, line)

        self.session.send(Call(welcome))
        try:
            while line := await reader.readline():
                command = self._command(line)
                if command is not None:
                    self.session.send(command)
        except (ConnectionError, ValueError, asyncio.LimitOverrunError):
            pass  # a broken or garbage-spewing viewer: drop it, train on
        except asyncio.CancelledError:
            pass  # the run is over: nothing more to read
        finally:
            self._drop(writer)

    def _admit(self, writer: asyncio.StreamWriter, welcome: bytes) -> None:
        """Events the session posted before building the Welcome are part of it; the viewer
        receives every event after it, in order."""
        if not writer.is_closing():
            self.viewers.add(writer)
            self._send(writer, welcome)

    @staticmethod
    def _command(line: bytes) -> Command | None:
        try:
            message = decode(line)
        except ProtocolError:
            return None
        return message if isinstance(message, COMMANDS) else None

    # -- the run ----------------------------------------------------------------------------

    async def serve(self) -> ExitReport:
        self.loop = loop = asyncio.get_running_loop()
        self.session.post = self.session.policy.report = self._broadcast
        server = await self._listen()
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            loop.add_signal_handler(signum, self.session.send, Stop(save=True))
        status_task = asyncio.create_task(self._keep_status())
        try:
            report = await asyncio.to_thread(self.session.run)
        except BaseException as exc:
            self._finish("crashed", f"{type(exc).__name__}: {exc}")
            raise
        finally:
            status_task.cancel()
            server.close()
            for writer in list(self.viewers):
                self._drop(writer)
            with contextlib.suppress(FileNotFoundError):
                self.run_dir.socket.unlink()
        state = "finished" if self.session.finished else "stopped"
        self._finish(state, "; ".join(report.errors))
        return report

    async def _listen(self) -> asyncio.AbstractServer:
        path = self.run_dir.socket
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # a stale socket of a dead run: the caller checked it is not live
        old = os.umask(0o177)  # the socket is born 0600: no window where others can connect
        try:
            server = await asyncio.start_unix_server(
                self._viewer, path=str(path), limit=MAX_LINE_BYTES
            )
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        return server

    async def _keep_status(self) -> None:
        while True:
            if self._status_dirty:
                self._status_dirty = False
                self.status.updated = time.time()
                self.run_dir.write_status(self.status.as_dict())
            await asyncio.sleep(STATUS_INTERVAL)

    def _finish(self, state: str, reason: str) -> None:
        trainer = self.session.trainer
        status = self.status
        status.state, status.reason = state, reason
        status.iteration = trainer.iteration
        status.best_val_loss = trainer.best_val_loss
        status.updated = time.time()
        self.run_dir.write_status(status.as_dict())


# -- what other processes ask of a run directory --------------------------------------------


def pid_alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie, exited but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc here: kill's answer is all there is
    return stat_line.rsplit(")", 1)[-1].split()[0] != "Z"


def socket_answers(path: os.PathLike[str] | str, timeout: float = 1.0) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(timeout)
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def describe_state(run_dir: RunDir) -> tuple[str, str]:
    """(state, why) of a run directory: live; finished, stopped or crashed; or not a run.
    A run.json that says live while its process is gone is a crashed run, never a live one."""
    status = run_dir.read_status()
    if status is None:
        if run_dir.latest.exists():
            return "stopped", "not detached (no run.json)"
        return "unknown", "no run.json and no latest.npz"
    state = str(status.get("state", "unknown"))
    if state == "live":
        pid = status.get("pid")
        if not isinstance(pid, int) or not pid_alive(pid):
            return "crashed", "process gone"
        if not socket_answers(run_dir.socket):
            return "crashed", "socket silent"
    return state, str(status.get("reason", ""))
