"""How the console reaches a run: a link carries commands out and events back.

The console has one code path whatever drives the run; only the link differs. The in-process
link trains a Session in one of the app's thread workers; the socket link is one viewer of a
detached run (tui/runs/server.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from textual.message import Message
from textual.worker import get_current_worker

from tui.runs.policy import ExitReport
from tui.runs.protocol import (
    MAX_LINE_BYTES,
    Command,
    Event,
    Notice,
    ProtocolError,
    Stop,
    Welcome,
    decode,
    encode,
)
from tui.runs.session import Session

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
    """The run is out of reach: it stopped, or it could not be reached at all."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class SocketLink:
    """A viewer of a detached run, over its Unix socket; closing the console detaches."""

    detaches = True

    def __init__(self, path: Path) -> None:
        self.path = path
        self.writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self, app: App) -> None:
        self._task = asyncio.create_task(self._receive(app))

    async def _receive(self, app: App) -> None:
        try:
            reader, self.writer = await asyncio.open_unix_connection(
                str(self.path), limit=MAX_LINE_BYTES
            )
        except OSError as exc:
            app.post_message(LinkClosed(f"cannot reach the run at {self.path}: {exc.strerror}"))
            return
        welcomed, refusal = False, ""  # a Notice before any Welcome: why it turned us away
        try:
            while line := await reader.readline():
                try:
                    event = decode(line)
                except ProtocolError:
                    continue  # from a newer charrnn, or malformed: skip what we cannot read
                welcomed = welcomed or isinstance(event, Welcome)
                if isinstance(event, Notice) and not welcomed:
                    refusal = event.text
                app.post_message(SessionEvent(event))  # type: ignore[arg-type]
        except (ConnectionError, ValueError):
            pass
        app.post_message(LinkClosed(refusal or "the run ended"))

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
