"""`charrnn serve`: a detached run's console over textual-serve's page and websocket.

The server runs as a user runs it (a subprocess on a free loopback port); the tests speak to
it as textual-serve's page does, and check what the run itself says (a raw protocol viewer),
never the screen, for what a key did.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import aiohttp
import pytest
from run_support import (
    Viewer,
    alive,
    charrnn,
    run_pid,
    stop_run,
    wait_until,
)
from serve_support import Served, Tab, fetch, free_port

from tui.runs.protocol import PausedChanged, Progress, Resume, Welcome
from tui.runs.rundir import RunDir
from tui.runs.status import describe_state


@pytest.fixture
def served(tmp_path, detached):
    server = Served(tmp_path, "run")
    yield server
    server.close()


def next_progress(viewer) -> int:
    return viewer.wait_for(lambda e: isinstance(e, Progress)).iteration


async def test_a_tab_shows_the_console_and_its_space_pauses_the_run(served, detached):
    page = fetch(served.url)
    assert f'data-session-websocket-url="ws://127.0.0.1:{served.port}/ws"' in page
    tab = await Tab.open(served.url)
    # The status line: the run's corpus (from the run's Welcome) and its directory (whose
    # start gives way to "…" on a narrow screen).
    await tab.read_until("blog_sample")
    await tab.read_until(f"{detached.path.parent.name[-20:]}/{detached.path.name}")
    assert len(served.viewers()) == 1  # one `charrnn attach` for the tab
    watcher = Viewer(detached)
    assert isinstance(watcher.next_event(), Welcome)
    await tab.press(" ")
    paused = await asyncio.to_thread(
        watcher.wait_for, lambda e: isinstance(e, PausedChanged) and e.paused
    )
    assert paused.paused
    await tab.close()
    # Closing the tab ends its viewer, never the run: it still answers and, resumed, trains.
    await asyncio.to_thread(wait_until, lambda: not served.viewers(), "the tab's viewer to end")
    watcher.send(Resume())
    first = await asyncio.to_thread(next_progress, watcher)
    assert await asyncio.to_thread(next_progress, watcher) > first
    watcher.close()


@pytest.mark.parametrize(
    "stop",
    [Served.interrupt, lambda served: served.signal_server(signal.SIGTERM)],
    ids=["Ctrl+C in its terminal", "SIGTERM to the server"],
)
async def test_stopping_the_server_ends_its_tabs_never_the_run(served, detached, stop):
    tab = await Tab.open(served.url)
    await tab.read_until("blog_sample")
    viewers = served.viewers()
    assert len(viewers) == 1
    ended = asyncio.create_task(tab.wait_closed())  # the tab answers, as a browser does
    assert await asyncio.to_thread(stop, served) == 0
    await ended
    assert "the run goes on: charrnn attach run" in served.output
    await asyncio.to_thread(wait_until, lambda: not any(map(alive, viewers)), "viewers to end")
    assert describe_state(detached) == ("live", "")
    await tab.close()


async def test_pages_of_other_sites_and_other_host_names_are_refused(served):
    # A page of another site in the user's browser must not reach the run...
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(
                f"ws://127.0.0.1:{served.port}/ws", origin="http://evil.example"
            )
    assert refused.value.status == 403
    # ...nor one whose DNS name was rebound to 127.0.0.1.
    request = urllib.request.Request(served.url, headers={"Host": f"evil.example:{served.port}"})
    with pytest.raises(urllib.error.HTTPError) as forbidden:
        urllib.request.urlopen(request, timeout=10)
    assert forbidden.value.code == 403
    assert served.proc.poll() is None


def test_new_starts_a_run_and_the_server_ends_with_it(tmp_path):
    server = Served(tmp_path, "--new", "blog_sample", "--run-dir", "fresh", "--hidden", "8")
    try:
        run_dir = RunDir(tmp_path / "fresh")
        assert describe_state(run_dir) == ("live", "")
        assert "training in the background: fresh" in server.output
        stop_run(run_dir)  # the run stops (here: SIGTERM): the server says so and ends
        assert server.proc.wait(30) == 0
        assert "the run in fresh is stopped" in server.output
    finally:
        server.close()
        stop_run(RunDir(tmp_path / "fresh"))
    dead = charrnn("serve", "fresh", "--port", str(free_port()), cwd=tmp_path)
    assert dead.returncode == 2
    assert dead.stderr.startswith("charrnn: error: fresh: the run is stopped")
    assert "--resume fresh/latest.npz" in dead.stderr and dead.stderr.count("\n") == 1


# -- one line, exit 2 --------------------------------------------------------------------------


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("charrnn: error: ") and done.stderr.count("\n") == 1
    assert not done.stdout
    return done.stderr


def test_a_port_in_use_is_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = charrnn("serve", str(tmp_path), "--port", str(port), cwd=tmp_path)
    assert f"cannot listen on 127.0.0.1 port {port}: Address already in use" in one_line_error(done)


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (lambda p: (p / "empty").mkdir(), "empty: not a run directory"),
        (lambda p: None, "empty: no such run directory"),
    ],
    ids=["a directory that is not a run", "no such directory"],
)
def test_a_directory_that_is_not_a_run_is_one_line(tmp_path, make, said):
    make(tmp_path)
    done = charrnn("serve", "empty", "--port", str(free_port()), cwd=tmp_path)
    assert said in one_line_error(done)


def test_another_host_needs_public(tmp_path):
    done = charrnn("serve", "--host", "0.0.0.0", "--port", str(free_port()), cwd=tmp_path)
    assert "add --public" in one_line_error(done)


def test_a_run_dir_and_new_together_are_one_line(tmp_path):
    done = charrnn("serve", "run", "--new", "blog_sample", cwd=tmp_path)
    assert "not both" in one_line_error(done)
    assert not (tmp_path / "runs").exists()  # nothing was started


def test_bad_train_flags_after_new_are_one_line_and_start_nothing(tmp_path):
    done = charrnn("serve", "--port", str(free_port()), "--new", "blog_sample", "--hidden", "0",
                   cwd=tmp_path)  # fmt: skip
    assert "--hidden" in one_line_error(done)
    assert not (tmp_path / "runs").exists()


def test_a_port_out_of_range_is_one_line(tmp_path):
    done = charrnn("serve", "--port", "70000", cwd=tmp_path)
    assert "a port number from 1 to 65535" in one_line_error(done)


def test_without_textual_serve_it_says_how_to_install_it(tmp_path):
    # As if textual-serve were not installed: its import fails.
    script = (
        "import sys; sys.modules['textual_serve'] = None; from tui.cli import main; "
        "sys.exit(main(['serve', 'run']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert "pip install 'charrnn[serve]'" in one_line_error(done)


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM], ids=["SIGHUP", "SIGTERM"])
async def test_a_signalled_tab_viewer_detaches(served, detached, sig):
    """What textual-serve or a dying server may send a tab's viewer never stops the run."""
    tab = await Tab.open(served.url)
    await tab.read_until("blog_sample")
    (viewer,) = served.viewers()
    os.kill(viewer, sig)
    await asyncio.to_thread(wait_until, lambda: not alive(viewer), "the viewer to end")
    await tab.close()
    assert describe_state(detached) == ("live", "")
    assert alive(run_pid(detached))


def junk_exchange(port: int, request: bytes) -> bytes:
    """Send `request` raw and return the first bytes of the answer ('' if none came)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(request)
        try:
            return conn.recv(4096)
        except (TimeoutError, ConnectionResetError):
            return b""


def upgrade(port: int, key: bytes, frames: bytes = b"") -> bytes:
    return (f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n").encode() + \
        b"Sec-WebSocket-Key: " + key + b"\r\n\r\n" + frames  # fmt: skip


def test_junk_requests_are_answered_without_a_traceback(served):
    """The issue: 5 tracebacks (51 lines) on stderr for junk whose answers were right."""
    port = served.port
    good_key = b"dGhlIHNhbXBsZSBub25jZQ=="
    masked_text = bytes([0x81, 0x80 | 7, 0, 0, 0, 0]) + b"garbage"  # a text frame, not JSON
    answers = {
        "bad request line": junk_exchange(port, b"GARBAGE \x1b]0;owned\x07\r\n\r\n"),
        "oversized header": junk_exchange(
            port, f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX: {'a' * 20000}\r\n\r\n".encode()
        ),
        "bad websocket key": junk_exchange(port, upgrade(port, b"garbage")),
        "garbage frames": junk_exchange(port, upgrade(port, good_key, masked_text)),
    }
    assert answers["bad request line"].startswith(b"HTTP/1.0 400")
    assert answers["oversized header"].startswith(b"HTTP/1.0 400")
    assert answers["bad websocket key"].startswith(b"HTTP/1.1 400")
    assert answers["garbage frames"].startswith(b"HTTP/1.1 101")
    wait_until(lambda: not served.viewers(), "the garbage tab's viewer to end")
    assert served.proc.poll() is None  # still serving
    assert "Traceback" not in served.output
    said = [line for line in served.output.splitlines() if line.startswith("charrnn serve:")]
    assert len(said) <= len(answers), said  # at most one line each
    assert not any("\x1b" in line for line in said)  # junk bytes never reach the terminal raw


def test_a_tab_beyond_max_viewers_gets_a_message_and_no_process(tmp_path, detached):
    server = Served(tmp_path, "run", "--max-viewers", "1")
    try:
        asyncio.run(_one_tab_then_one_too_many(server))
    finally:
        server.close()


async def _one_tab_then_one_too_many(server: Served) -> None:
    first = await Tab.open(server.url)
    await first.read_until("blog_sample")
    assert len(server.viewers()) == 1
    full = "this server already shows 1 tab of the run (--max-viewers 1)"
    with pytest.raises(urllib.error.HTTPError) as refused:  # a new page says so
        fetch(server.url)
    assert refused.value.code == 503 and full in refused.value.read().decode()
    async with aiohttp.ClientSession() as session:  # a page loaded earlier: its terminal says so
        origin = server.url.rstrip("/")
        ws = await session.ws_connect(f"ws://127.0.0.1:{server.port}/ws", origin=origin)
        message = await ws.receive(timeout=10)
        assert message.type == aiohttp.WSMsgType.BINARY and full in message.data.decode()
        assert (await ws.receive(timeout=10)).type in (aiohttp.WSMsgType.CLOSE,
                                                       aiohttp.WSMsgType.CLOSED)  # fmt: skip
        await ws.close()
    assert len(server.viewers()) == 1  # no process for the tab turned away
    await first.close()
