"""A detached run: one Session behind a Unix socket in the run directory, any number of viewers.

The session trains in a thread as it does under the console; this process's asyncio loop
accepts viewers, hands each a Welcome, forwards their commands to the session and broadcasts
the session's events to all of them as JSON lines. A viewer that is slow, sends garbage or
vanishes is dropped; training never waits for one. SIGTERM and SIGHUP save latest.npz and
end the run cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

from tui.runs.protocol import (
    MAX_LINE_BYTES,
    MESSAGE_TYPES,
    Command,
    Event,
    Inspect,
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
from tui.runs.policy import ExitReport
from tui.runs.rundir import RunDir
from tui.runs.session import Call, Session

COMMANDS = (Pause, Resume, SetTemperature, Sample, Save, LoadCommand, Stop, Inspect, Step)
MAX_BACKLOG = 4 << 20  # bytes queued for one viewer before it is dropped as too slow
assert all(cls.__name__ in MESSAGE_TYPES for cls in COMMANDS)


class RunServer:
    def __init__(self, session: Session, run_dir: RunDir) -> None:
        self.session = session
        self.run_dir = run_dir
        self.viewers: set[asyncio.StreamWriter] = set()
        self.loop: asyncio.AbstractEventLoop | None = None

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
        if writer.is_closing() or writer.transport.get_write_buffer_size() > MAX_BACKLOG:
            self._drop(writer)  # a viewer that cannot keep up is dropped, never waited for
            return
        writer.write(line)

    def _drop(self, writer: asyncio.StreamWriter) -> None:
        self.viewers.discard(writer)
        writer.close()

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
        self.session.subscribe(self._broadcast)
        server = await self._listen()
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            loop.add_signal_handler(signum, self.session.send, Stop(save=True))
        try:
            return await asyncio.to_thread(self.session.train)  # it writes run.json's end state
        finally:
            server.close()
            for writer in list(self.viewers):
                self._drop(writer)
            with contextlib.suppress(FileNotFoundError):
                self.run_dir.socket.unlink()

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
