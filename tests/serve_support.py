"""`charrnn serve` for tests: a server on a free loopback port, and a browser tab's websocket
spoken as textual-serve's page speaks it (its static/js/textual.js and templates)."""

from __future__ import annotations

import codecs
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import aiohttp
from run_support import wait_until

# CSI (colours, cursor moves, modes), OSC, and two-byte escapes: what remains is the text.
ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
WEBSOCKET_URL = re.compile(r'data-session-websocket-url="([^"]+)"')


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fetch(url: str, timeout: float = 10) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read().decode("utf-8")


class Served:
    """A running `charrnn serve --port FREE ARGV...`, its output collected as it comes."""

    def __init__(self, cwd: Path, *argv: str, timeout: float = 60) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tui.cli", "serve", "--port", str(self.port), *argv],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group, as a shell job has
        )
        self.lines: list[str] = []
        threading.Thread(target=self._collect, daemon=True).start()
        wait_until(lambda: self._answers() or self.proc.poll() is not None, "serve", timeout)
        assert self.proc.poll() is None, f"charrnn serve ended: {self.output}"

    def _collect(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def _answers(self) -> bool:
        if not any(self.url.rstrip("/") in line for line in self.lines):
            return False
        try:
            fetch(self.url, timeout=2)
        except OSError:
            return False
        return True

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def viewers(self) -> list[int]:
        """The `charrnn attach` processes textual-serve started, one per open tab."""
        children = []
        for task in Path(f"/proc/{self.proc.pid}/task").glob("*"):
            with contextlib.suppress(OSError):  # a thread that ended meanwhile
                children += [int(p) for p in (task / "children").read_text().split()]
        return children

    def interrupt(self, timeout: float = 30) -> int:
        """Ctrl+C, as a terminal sends it: to the server and the viewers it started."""
        return self.signal_group(signal.SIGINT, timeout)

    def signal_group(self, sig: int, timeout: float = 30) -> int:
        os.killpg(self.proc.pid, sig)
        return self.proc.wait(timeout)

    def signal_server(self, sig: int, timeout: float = 30) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Tab:
    """One browser tab's connection: the page's websocket, terminal output in, keys out."""

    def __init__(self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse):
        self.session = session
        self.ws = ws
        self.text = ""  # all the terminal output so far, escapes removed
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    @classmethod
    async def open(cls, page_url: str, width: int = 100, height: int = 30) -> Tab:
        page = fetch(page_url)
        found = WEBSOCKET_URL.search(page)
        assert found, "the page names no websocket"
        origin = page_url.rstrip("/")  # the page's own origin, as a browser sends it
        session = aiohttp.ClientSession()
        ws = await session.ws_connect(
            f"{found.group(1)}?width={width}&height={height}", origin=origin
        )
        tab = cls(session, ws)
        await tab.send("resize", {"width": width, "height": height})
        return tab

    async def send(self, kind: str, data: object) -> None:
        await self.ws.send_str(json.dumps([kind, data]))

    async def press(self, keys: str) -> None:
        await self.send("stdin", keys)

    async def read_until(self, text: str, timeout: float = 60) -> str:
        """Read terminal output until `text` has been drawn."""
        deadline = time.monotonic() + timeout
        while text not in self.text:
            left = deadline - time.monotonic()
            assert left > 0, f"{text!r} never came; the screen so far: {self.text[-2000:]!r}"
            message = await self.ws.receive(timeout=left)
            if message.type == aiohttp.WSMsgType.BINARY:
                # Each frame once (re-reading all output per frame grows without bound); an
                # escape split across two frames may leave a few stray characters, no more.
                self.text += ESCAPES.sub("", self._decoder.decode(message.data))
            elif message.type != aiohttp.WSMsgType.TEXT:
                raise AssertionError(f"the websocket ended: {message.type!r}; {self.text[-500:]!r}")
        return self.text

    async def wait_closed(self, timeout: float = 30) -> None:
        """Read on (answering the close handshake, as a browser does) until the server ends
        the connection."""
        while not self.ws.closed:
            message = await self.ws.receive(timeout=timeout)
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                break

    async def close(self) -> None:
        await self.ws.close()
        await self.session.close()
