"""A detached run: one Session behind a Unix socket in the run directory, any number of viewers.

The session trains in a thread as it does under the console; this process's asyncio loop
accepts viewers, hands each a Welcome, forwards their commands to the session and broadcasts
the session's events to all of them as JSON lines, with a Heartbeat every few seconds so
that a viewer can tell a quiet run from one that does not answer. A viewer that is slow,
sends garbage or vanishes is dropped at once (its connection aborted, its queue freed);
training never waits for one. SIGTERM and SIGHUP save latest.npz and end the run cleanly;
the viewers are told how it ended (Ended) before their connections close.

The process owns the run directory (its lock, tui/runs/lock.py) before it listens, so a
socket or link left at control.sock is removed as stale; anything else there is refused.
On the way out it removes only the socket it made.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import stat

from engine.errors import CharrnnError
from tui.runs.endpoint import bindable, file_id
from tui.runs.policy import ExitReport
from tui.runs.protocol import (
    MAX_LINE_BYTES,
    MAX_WELCOME_BYTES,
    MESSAGE_TYPES,
    Ended,
    Event,
    Heartbeat,
    Inspect,
    Notice,
    Pause,
    ProtocolError,
    Resume,
    Sample,
    Save,
    SetTemperature,
    Step,
    Stop,
    decode,
    encode,
)
from tui.runs.protocol import Load as LoadCommand
from tui.runs.rundir import RunDir
from tui.runs.session import Call, Session

COMMANDS = (Pause, Resume, SetTemperature, Sample, Save, LoadCommand, Stop, Inspect, Step)
# What a detached run spends on its viewers is bounded: at most MAX_VIEWERS at once (more are
# told so in one line and closed), each with at most MAX_BACKLOG bytes queued before it is
# dropped as too slow, and a dropped viewer's queue freed at once. MAX_BACKLOG holds a
# Welcome (at most MAX_WELCOME_BYTES) and tens of seconds of a normal run's events (the
# classic preset on tinyshakespeare sent a viewer 18 KB/s, measured 2026-12-04 over 10 s).
MAX_VIEWERS = 8
MAX_BACKLOG = 1 << 20
HEARTBEAT_SECONDS = 1.0  # a viewer that hears nothing for a few of these calls the run silent
GOODBYE_SECONDS = 2.0  # at most this long to deliver Ended to the viewers on the way out
assert all(cls.__name__ in MESSAGE_TYPES for cls in COMMANDS)
assert MAX_WELCOME_BYTES < MAX_BACKLOG


class RunServer:
    def __init__(self, session: Session, run_dir: RunDir) -> None:
        self.session = session
        self.run_dir = run_dir
        self.viewers: set[asyncio.StreamWriter] = set()  # welcomed: every event goes to them
        # Connected, waiting for their Welcome: the lines to send them right after it.
        self.waiting: dict[asyncio.StreamWriter, list[bytes]] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.socket_id: tuple[int, int] | None = None  # the socket this run made
        self.warnings: list[str] = []  # said once the run is over (run.log)

    # -- events out -------------------------------------------------------------------------

    def _broadcast(self, event: Event) -> None:
        """Called by the session's thread: hand the event to the loop thread."""
        assert self.loop is not None
        self.loop.call_soon_threadsafe(self._send_all, event)

    def _send_all(self, event: Event) -> None:
        line = encode(event)
        for writer in list(self.viewers):
            self._send(writer, line)

    def _send(self, writer: asyncio.StreamWriter, line: bytes) -> None:
        """Queue `line` for a viewer; one that cannot keep up is dropped, never waited for."""
        queued = writer.transport.get_write_buffer_size()
        if writer.is_closing() or queued + len(line) > MAX_BACKLOG:
            self._drop(writer)
            return
        writer.write(line)

    def _drop(self, writer: asyncio.StreamWriter) -> None:
        """Forget a viewer and abort its connection: close() would keep its backlog until it
        reads, and one that never reads (or is still writing to us) never would."""
        self.viewers.discard(writer)
        self.waiting.pop(writer, None)
        writer.transport.abort()

    # -- viewers in -------------------------------------------------------------------------

    async def _viewer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self.viewers) + len(self.waiting) >= MAX_VIEWERS:
            self._refuse(writer)
            return
        self.waiting[writer] = []
        loop = asyncio.get_running_loop()

        def welcome(session: Session) -> None:  # in the training thread, between two steps
            line = encode(session.welcome())
            loop.call_soon_threadsafe(self._admit, writer, line)

        self.session.send(Call(welcome))
        try:
            while line := await reader.readline():
                self._command(writer, line)
        except (ConnectionError, ValueError, asyncio.LimitOverrunError):
            pass  # a broken or garbage-spewing viewer: drop it, train on
        except asyncio.CancelledError:
            pass  # the run is over: nothing more to read
        finally:
            self._drop(writer)

    def _refuse(self, writer: asyncio.StreamWriter) -> None:
        """One line a viewer can show, then the door closes: the run serves MAX_VIEWERS."""
        text = (
            f"this run already has {MAX_VIEWERS} viewers, the most it serves at once; "
            "close one of them and attach again"
        )
        writer.write(encode(Notice(text, "error")))
        writer.close()

    def _admit(self, writer: asyncio.StreamWriter, welcome: bytes) -> None:
        """Events the session posted before building the Welcome are part of it; the viewer
        receives every event after it, in order."""
        early = self.waiting.pop(writer, None)
        if early is not None and not writer.is_closing():
            self.viewers.add(writer)
            for line in [welcome, *early]:
                self._send(writer, line)

    def _command(self, writer: asyncio.StreamWriter, line: bytes) -> None:
        """Hand a viewer's command to the session; a line that is not one changes nothing
        and is answered, to that viewer alone, with an error Notice saying why."""
        try:
            message = decode(line)
            if not isinstance(message, COMMANDS):
                raise ProtocolError(f"{type(message).__name__} is not a command")
        except ProtocolError as exc:
            answer = encode(Notice(f"command refused: {exc}", "error"))
            if writer in self.waiting:
                self.waiting[writer].append(answer)  # the Welcome comes first
            else:
                self._send(writer, answer)
            return
        self.session.send(message)

    # -- what every viewer hears ------------------------------------------------------------

    async def _heartbeat(self) -> None:
        line = encode(Heartbeat())
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            for writer in [*self.viewers, *self.waiting]:  # before a Welcome too: it says nothing
                self._send(writer, line)

    async def _goodbye(self, ended: Ended) -> None:
        """Tell every viewer how the run ended, then close their connections (what is queued
        goes first), waiting at most GOODBYE_SECONDS for the slowest."""
        line = encode(ended)
        writers = [*self.viewers, *self.waiting]
        self.viewers.clear()
        self.waiting.clear()
        for writer in writers:
            if writer.transport.get_write_buffer_size() + len(line) <= MAX_BACKLOG:
                writer.write(line)
            writer.close()
        closing = [writer.wait_closed() for writer in writers]
        with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*closing, return_exceptions=True), GOODBYE_SECONDS
            )
        for writer in writers:
            writer.transport.abort()

    # -- the run ----------------------------------------------------------------------------

    async def serve(self) -> ExitReport:
        self.loop = loop = asyncio.get_running_loop()
        self.session.subscribe(self._broadcast)
        server = await self._listen()
        heartbeat = asyncio.create_task(self._heartbeat())
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            loop.add_signal_handler(signum, self.session.send, Stop(save=True))
        ended = Ended("crashed", self.session.trainer.iteration)
        try:
            report = await asyncio.to_thread(self.session.train)  # it writes run.json's end
            state = "finished" if self.session.finished else "stopped"
            ended = Ended(state, report.iteration, report.error)
        finally:
            heartbeat.cancel()
            server.close()
            await self._goodbye(ended)
            self._remove_socket()
        report.warnings += self.warnings
        return report

    async def _listen(self) -> asyncio.AbstractServer:
        path = self.run_dir.socket
        clear_stale(path)
        old = os.umask(0o177)  # the socket is born 0600: no window where others can connect
        try:
            with bindable(path) as name:
                server = await asyncio.start_unix_server(
                    self._viewer, path=name, limit=MAX_LINE_BYTES
                )
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        self.socket_id = file_id(path)
        return server

    def _remove_socket(self) -> None:
        """Remove control.sock if it is still the socket this run made; anything put in its
        place is left alone. A failure is one line in run.log, never a traceback."""
        path = self.run_dir.socket
        found = file_id(path)
        if found is None:
            return
        if found != self.socket_id:
            self.warnings.append(f"{path} is no longer this run's socket; left as it is")
            return
        try:
            path.unlink()
        except OSError as exc:
            self.warnings.append(f"could not remove {path}: {exc.strerror or exc}")


def clear_stale(path: os.PathLike[str]) -> None:
    """Remove what a dead run left at the socket's path: a socket, or a link (never followed).
    Anything else may be someone's file: the run refuses to start rather than delete it."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not (stat.S_ISSOCK(mode) or stat.S_ISLNK(mode)):
        raise CharrnnError(f"{path}: exists and is not a socket; move it away and start again")
    os.unlink(path)
