"""textual-serve's Server for `charrnn serve`: same-origin, capped, quiet, and stopped with
its run.

Each tab costs a `charrnn attach` process, so at most `max_viewers` are served at once; a
page or websocket beyond that gets a message saying so, and no process. Junk requests (a bad
request line, a broken websocket handshake, garbage frames) are answered as aiohttp answers
them and logged in one line each, never as a traceback.

Imported only by `charrnn serve` (textual-serve is an optional dependency: importing this
module without it raises ImportError, which serve turns into an install hint).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from textual_serve.server import Server

from tui.runs.rundir import RunDir
from tui.runs.status import describe_state
from tui.visible import shown

WATCH_SECONDS = 2.0  # how often the server checks that its run still lives
LOG_LINE_CHARS = 200  # the longest log line about one request


class OneLine(logging.Filter):
    """Every log record as one line: an exception is named after the message, not traced
    (its text drawn visibly: a junk request's bytes must not reach the terminal raw)."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            text = f"{text} ({type(exc).__name__}: {exc})"
        record.msg, record.args = shown(" ".join(text.split())[:LOG_LINE_CHARS]), ()
        record.exc_info = record.exc_text = record.stack_info = None
        return True


def _is_loopback_name(name: str | None) -> bool:
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name or "").is_loopback
    except ValueError:
        return False


def refusal(host_header: str, origin: str | None, scheme: str, loopback: bool) -> str | None:
    """Why a request must be refused, or None. On loopback the browser must have named a
    loopback host (a rebound DNS name must not reach the run); a websocket must come from
    a page of this server (browsers always send Origin; a foreign page could steer the run)."""
    if loopback and not _is_loopback_name(urlsplit(f"//{host_header}").hostname):
        return f"this server answers only to loopback names, not {host_header!r}"
    if origin is not None and origin != f"{scheme}://{host_header}":
        return f"websockets from pages of {origin!r} are refused"
    return None


class ConsoleServer(Server):  # type: ignore[misc]
    def __init__(
        self,
        command: str,
        host: str,
        port: int,
        run_dir: RunDir,
        loopback: bool,
        max_viewers: int,
    ) -> None:
        super().__init__(command, host=host, port=port, title=f"charrnn {run_dir.path.name}")
        self.run_dir = run_dir
        self.loopback = loopback
        self.max_viewers = max_viewers
        self.viewers: set[asyncio.Task[Any]] = set()

    def initialize_logging(self) -> None:
        # textual-serve logs every request at INFO; our own lines say what matters.
        logging.basicConfig(level=logging.WARNING, format="charrnn serve: %(message)s")
        for handler in logging.getLogger().handlers:
            handler.addFilter(OneLine())

    @property
    def full(self) -> str:
        """Why a tab is turned away, or '' while there is room for one more viewer."""
        if len(self.viewers) < self.max_viewers:
            return ""
        tabs = "tab" if self.max_viewers == 1 else "tabs"
        return (
            f"charrnn serve: this server already shows {self.max_viewers} {tabs} of the run "
            f"(--max-viewers {self.max_viewers}), the most it serves at once; close one of "
            "them, then reload this page"
        )

    def _check(self, request: web.Request, websocket: bool) -> None:
        origin = request.headers.get("Origin") if websocket else None
        why = refusal(request.host, origin, request.scheme, self.loopback)
        if why:
            raise web.HTTPForbidden(text=why + "\n")

    async def handle_index(self, request: web.Request) -> web.StreamResponse:
        self._check(request, websocket=False)
        if self.full:
            raise web.HTTPServiceUnavailable(text=self.full + "\n")
        # The page's links and websocket URL name the host the browser used, so a tunnel to
        # another local port (ssh -L 9000:127.0.0.1:8000) works too. No await comes between
        # this and textual-serve reading it.
        self.public_url = f"{request.scheme}://{request.host}"
        return await super().handle_index(request)

    async def handle_websocket(self, request: web.Request) -> web.StreamResponse:
        self._check(request, websocket=True)
        if not web.WebSocketResponse().can_prepare(request).ok:  # answered here, not traced
            raise web.HTTPBadRequest(text="not a websocket handshake\n")
        if self.full:
            return await self._turn_away(request, self.full)
        task = asyncio.current_task()
        assert task is not None
        self.viewers.add(task)
        try:
            return await super().handle_websocket(request)
        finally:
            self.viewers.discard(task)

    async def _turn_away(self, request: web.Request, why: str) -> web.StreamResponse:
        """A tab whose page loaded but finds no room: the reason, drawn in its terminal (the
        page writes binary frames there), and the socket closed; no viewer process."""
        websocket = web.WebSocketResponse()
        await websocket.prepare(request)
        await websocket.send_bytes(f"\r\n {why}\r\n".encode())
        await websocket.close()
        return websocket

    async def on_startup(self, app: web.Application) -> None:
        app["watch"] = asyncio.create_task(self._watch_run())

    async def on_shutdown(self, app: web.Application) -> None:
        # Otherwise aiohttp waits up to a minute for open tabs; cancelling a tab's handler
        # makes textual-serve tell its viewer to quit, which detaches it.
        app["watch"].cancel()
        for task in list(self.viewers):
            task.cancel()

    async def _watch_run(self) -> None:
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            state, _ = describe_state(self.run_dir)
            if state != "live":
                print(f"the run in {self.run_dir.path} is {state}", flush=True)
                asyncio.get_running_loop().call_soon(self.request_exit)
                return
