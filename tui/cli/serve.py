"""`charrnn serve`: a detached run's console in a web browser, through Textualize's textual-serve.

textual-serve starts one `charrnn attach RUN_DIR` process per browser connection, so each tab
is one more viewer of the run: closing a tab detaches that viewer, and Ctrl+C stops the server
and its viewers, never the run, which is a process of its own (`train --detach`).

textual-serve has no authentication: whoever can open a websocket to the port drives the
console. So it listens on loopback unless told otherwise (--public), and on top of
textual-serve this server refuses websockets opened by pages of another origin, and on
loopback requests naming a non-loopback host, so that a web page in the user's own browser
cannot steer the run (cross-site websockets, DNS rebinding).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import shlex
import socket
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from engine.errors import CharrnnError
from tui.cli import detach
from tui.runs.rundir import RunDir
from tui.runs.status import describe_state

INSTALL_HINT = (
    "charrnn serve needs the textual-serve package: pip install 'charrnn[serve]' "
    "(in a checkout: pip install -e '.[serve]')"
)
WATCH_SECONDS = 2.0  # how often the server checks that its run still lives


def serve(args: argparse.Namespace) -> int:
    server_class = _server_class()
    if args.new is not None and args.run:
        raise CharrnnError("give a RUN_DIR to serve or --new to start one, not both")
    loopback = _listen_check(args.host, args.port, args.public)
    run_dir = _start_run(args.new) if args.new is not None else detach.live_run(args.run)
    server = server_class(viewer_command(run_dir, args), args.host, args.port, run_dir, loopback)
    _announce(run_dir, args.host, args.port, loopback)
    server.serve()
    state, why = describe_state(run_dir)
    if state == "live":
        print(f"server stopped; the run goes on: charrnn attach {run_dir.path}", flush=True)
    else:
        print(f"server stopped; the run is {state}{f' ({why})' if why else ''}", flush=True)
    return 0


def viewer_command(run_dir: RunDir, args: argparse.Namespace) -> str:
    """The shell command textual-serve runs for each browser connection: a plain `attach`
    (exec, so that the viewer itself gets textual-serve's signals, not a shell)."""
    argv = [sys.executable, "-m", "tui.cli", "attach", str(run_dir.path.resolve())]
    return "exec " + shlex.join([*argv, "--fps", str(args.fps), "--theme", args.theme])


def _start_run(train_args: list[str]) -> RunDir:
    """`charrnn train <train_args> --detach`, returning the run directory it trains in."""
    from tui.cli import commands
    from tui.cli.options import parse

    argv = ["train", *train_args, "--detach"]
    args = parse(argv)
    args.run_dir = args.run_dir or str(detach.run_dir_for(None, args.corpus).path)
    args.argv = argv
    commands.train(args)
    return RunDir(Path(args.run_dir))


# -- where to listen ------------------------------------------------------------------------


def _listen_check(host: str, port: int, public: bool) -> bool:
    """Whether `host` is loopback only; a CharrnnError if it is not and --public was not
    given, or if the port is taken (found by binding it, as the server will)."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CharrnnError(f"--host {host}: cannot resolve it ({exc.strerror})") from None
    loopback = all(ipaddress.ip_address(address[0]).is_loopback for *_, address in found)
    if not loopback and not public:
        raise CharrnnError(
            f"--host {host} is reachable from other machines, and anyone who reaches the port "
            "can steer the run (there is no password); add --public to listen there anyway, "
            "or keep the loopback default and use an SSH tunnel"
        )
    for family, kind, proto, _, address in found:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp does
            try:
                probe.bind(address)
            except OSError as exc:
                raise CharrnnError(
                    f"cannot listen on {host} port {port}: {exc.strerror} "
                    "(choose another with --port)"
                ) from None
    return loopback


def _announce(run_dir: RunDir, host: str, port: int, loopback: bool) -> None:
    name = _bracketed(socket.gethostname() if _is_any(host) else host)
    print(f"serving the console of {run_dir.path} at http://{name}:{port}")
    if loopback:
        print(f"from another machine: ssh -L {port}:{name}:{port} {socket.gethostname()}  "
              f"then open http://127.0.0.1:{port}")  # fmt: skip
    else:
        print(
            f"charrnn: warning: listening on {host} port {port} with no authentication: anyone "
            "who can reach it can watch and steer the run (pause it, stop it, save checkpoints)",
            file=sys.stderr,
        )
    print("each browser tab is one viewer; closing it leaves the run training. "
          "Ctrl+C stops this server, not the run.", flush=True)  # fmt: skip


def _bracketed(host: str) -> str:
    """An IPv6 address as URLs and ssh -L write it."""
    return f"[{host}]" if ":" in host else host


def _is_any(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


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


# -- the server -----------------------------------------------------------------------------


def _server_class() -> type[Any]:
    """textual-serve's Server, made same-origin, quiet, and stoppable with the run."""
    try:
        from aiohttp import web
        from textual_serve.server import Server
    except ImportError:
        raise CharrnnError(INSTALL_HINT) from None

    class ConsoleServer(Server):  # type: ignore[misc]
        def __init__(
            self, command: str, host: str, port: int, run_dir: RunDir, loopback: bool
        ) -> None:
            super().__init__(command, host=host, port=port, title=f"charrnn {run_dir.path.name}")
            self.run_dir = run_dir
            self.loopback = loopback
            self.viewers: set[asyncio.Task[Any]] = set()

        def initialize_logging(self) -> None:
            # textual-serve logs every request at INFO; our own lines say what matters.
            logging.basicConfig(level=logging.WARNING, format="charrnn serve: %(message)s")

        def _check(self, request: web.Request, websocket: bool) -> None:
            origin = request.headers.get("Origin") if websocket else None
            why = refusal(request.host, origin, request.scheme, self.loopback)
            if why:
                raise web.HTTPForbidden(text=why + "\n")

        async def handle_index(self, request: web.Request) -> web.StreamResponse:
            self._check(request, websocket=False)
            # The page's links and websocket URL name the host the browser used, so a tunnel
            # to another local port (ssh -L 9000:127.0.0.1:8000) works too. No await comes
            # between this and textual-serve reading it.
            self.public_url = f"{request.scheme}://{request.host}"
            return await super().handle_index(request)

        async def handle_websocket(self, request: web.Request) -> web.StreamResponse:
            self._check(request, websocket=True)
            task = asyncio.current_task()
            assert task is not None
            self.viewers.add(task)
            try:
                return await super().handle_websocket(request)
            finally:
                self.viewers.discard(task)

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

    return ConsoleServer
