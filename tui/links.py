"""How the console reaches a run: a link carries commands out and events back.

The console has one code path whatever drives the run; only the link differs. The in-process
link trains a Session in one of the app's thread workers; the socket link is one viewer of a
detached run (tui/runs/server.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from textual.message import Message
from textual.worker import get_current_worker

from tui.runs.endpoint import Unreachable, connect
from tui.runs.policy import ExitReport
from tui.runs.protocol import (
    MAX_LINE_BYTES,
    Command,
    Ended,
    Event,
    Heartbeat,
    Notice,
    ProtocolError,
    Stop,
    Welcome,
    decode,
    encode,
)
from tui.runs.rundir import RunDir
from tui.runs.session import Session
from tui.runs.status import live_owner

CONNECT_TIMEOUT = 5.0  # seconds to connect (a run whose backlog is full does not accept)
NOT_ANSWERING = 5.0  # seconds without a line before the console says the run is not answering
WATCH_EVERY = 0.5  # seconds between two looks at the line

if TYPE_CHECKING:
    from textual.app import App
    from textual.worker import Worker


class SessionEvent(Message):
    """A protocol event, delivered to the app's message queue."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class Link(Protocol):
    detaches: bool  # True: closing the console leaves the run training

    def start(self, app: App) -> None:
        """Begin delivering events to `app`; the first is a Welcome."""

    def send(self, command: Command) -> None: ...

    def give_way(self, seconds: float) -> None:
        """The user pressed a key: let the UI have the interpreter for a moment."""

    async def close(self, timeout: float) -> None:
        """The console is closing: end what must end with it, waiting at most `timeout`."""


class InProcessLink:
    """A Session trained by a thread worker of the app; closing the console stops the run."""

    detaches = False

    def __init__(self, session: Session) -> None:
        self.session = session
        self.worker: Worker | None = None
        self._app: App | None = None
        session.subscribe(self._deliver)

    def _deliver(self, event: Event) -> None:
        if self._app is not None:
            self._app.post_message(SessionEvent(event))  # thread-safe

    def start(self, app: App) -> None:
        self._app = app
        self._deliver(self.session.welcome())  # before the worker starts: only time it's read
        self.worker = app.run_worker(self._train, thread=True, name="training", group="training")

    def _train(self) -> ExitReport:
        worker = get_current_worker()
        try:
            return self.session.train(lambda: worker.is_cancelled)
        except Exception as exc:  # the session said why in its exit report and saved nothing
            if self._app is not None:
                self._app.post_message(LinkClosed(f"{type(exc).__name__}: {exc}"))
            assert self.session.exit_report is not None
            return self.session.exit_report

    def send(self, command: Command) -> None:
        self.session.send(command)

    def give_way(self, seconds: float) -> None:
        self.session.give_way(seconds)

    async def close(self, timeout: float) -> None:
        """Stop the run, which saves latest.npz between two steps, and wait for it."""
        self.session.send(Stop(save=True))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.worker is not None and not self.worker.is_finished:
            if loop.time() > deadline:
                break
            await asyncio.sleep(0.005)


class LinkClosed(Message):
    """The run is out of reach: it ended (`ended` says how), it turned this viewer away
    (`refused`), or it could not be reached at all."""

    def __init__(self, reason: str, *, ended: Ended | None = None, refused: bool = False) -> None:
        super().__init__()
        self.reason = reason
        self.ended = ended
        self.refused = refused


class SocketLink:
    """A viewer of a detached run, over its Unix socket; closing the console detaches.

    It connects only to the process that owns the run (tui/runs/endpoint.py), and watches
    the line: a run sends something at least every HEARTBEAT_SECONDS, so after
    NOT_ANSWERING seconds of silence the console is told the run is not answering (stopped
    with SIGSTOP, say), and told again when it answers."""

    detaches = True

    def __init__(self, path: Path) -> None:
        self.path = path
        self.owner: int | None = None  # the run's PID, as its lock says
        self.writer: asyncio.StreamWriter | None = None
        self.silent = False  # said not to answer, and has not answered since
        self._heard = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self, app: App) -> None:
        self._task = asyncio.create_task(self._receive(app))

    async def _receive(self, app: App) -> None:
        try:
            reader, self.writer = await self._connect()
        except Unreachable as exc:
            app.post_message(LinkClosed(f"cannot reach the run: {exc}"))
            return
        self._heard = asyncio.get_running_loop().time()
        watchdog = asyncio.create_task(self._watch(app))
        try:
            ended, refusal = await self._read(reader, app)
        finally:
            watchdog.cancel()
        app.post_message(LinkClosed(refusal or "the run ended", ended=ended, refused=bool(refusal)))

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        def connected() -> socket.socket:  # blocking calls, kept off the UI's loop
            self.owner = live_owner(RunDir(self.path.parent))
            return connect(self.path, self.owner, CONNECT_TIMEOUT)

        sock = await asyncio.to_thread(connected)
        return await asyncio.open_unix_connection(sock=sock, limit=MAX_LINE_BYTES)

    async def _read(self, reader: asyncio.StreamReader, app: App) -> tuple[Ended | None, str]:
        """Deliver the run's events until it closes the line: (its Ended, if it said how it
        ended; the Notice it sent before any Welcome, which says why it turned us away)."""
        welcomed, refusal, ended = False, "", None
        with contextlib.suppress(ConnectionError, ValueError):
            while line := await reader.readline():
                self._heard_from(app)
                try:
                    event = decode(line)
                except ProtocolError:
                    continue  # from a newer charrnn, or malformed: skip what we cannot read
                if isinstance(event, Ended):
                    ended = event
                    continue
                if isinstance(event, Heartbeat):
                    continue
                welcomed = welcomed or isinstance(event, Welcome)
                if isinstance(event, Notice) and not welcomed:
                    refusal = event.text
                app.post_message(SessionEvent(event))  # type: ignore[arg-type]
        return ended, refusal

    def _heard_from(self, app: App) -> None:
        self._heard = asyncio.get_running_loop().time()
        if self.silent:
            self.silent = False
            app.post_message(SessionEvent(Notice("the run answers again")))

    async def _watch(self, app: App) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(WATCH_EVERY)
            quiet = loop.time() - self._heard
            if quiet >= NOT_ANSWERING and not self.silent:
                self.silent = True
                app.post_message(SessionEvent(Notice(self.silence_text(quiet), "warning")))

    def silence_text(self, seconds: float) -> str:
        pid = self.owner if self.owner is not None else "?"
        return (
            f"the run has not answered for {seconds:.0f} s: its process (pid {pid}) may be "
            f"stopped (kill -CONT {pid} resumes it) or overloaded; q leaves it as it is"
        )

    def send(self, command: Command) -> None:
        if self.writer is not None and not self.writer.is_closing():
            self.writer.write(encode(command))

    def give_way(self, seconds: float) -> None:
        """Training runs in another process: nothing to step aside from."""

    async def close(self, timeout: float) -> None:
        """Detach: the run goes on. Only this connection ends."""
        if self._task is not None:
            self._task.cancel()
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.writer.wait_closed(), timeout)
