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
import dataclasses
import ipaddress
import shlex
import socket
import sys

from engine.cells.user import UserCell
from engine.errors import CharrnnError
from tui.cli.attach import live_run
from tui.cli.cell_file import cell_file_flags, load_user_cell, shown_flags
from tui.cli.train import run_dir_for, train
from tui.cli.train_args import TrainArgs
from tui.runs.rundir import RunDir
from tui.runs.status import describe_state

INSTALL_HINT = (
    "charrnn serve needs the textual-serve package: pip install 'charrnn[serve]' "
    "(in a checkout: pip install -e '.[serve]')"
)


def serve(args: argparse.Namespace) -> int:
    try:
        from tui.cli.web import ConsoleServer
    except ImportError:
        raise CharrnnError(INSTALL_HINT) from None
    if args.new is not None and args.run:
        raise CharrnnError("give a RUN_DIR to serve or --new to start one, not both")
    loopback = _listen_check(args.host, args.port, args.public)
    new = TrainArgs.parse([*args.new, "--detach"]) if args.new is not None else None
    cell = viewer_cell(args, new)
    run_dir = _start_run(new) if new is not None else live_run(args.run, args.cell_file)
    command = viewer_command(run_dir, args, cell)
    server = ConsoleServer(command, args.host, args.port, run_dir, loopback, args.max_viewers)
    _announce(run_dir, args.host, args.port, loopback)
    server.serve()
    state, why = describe_state(run_dir)
    if state == "live":
        typed = new.cell_file if new is not None else args.cell_file
        print(f"server stopped; the run goes on: charrnn attach {run_dir.path}"
              f"{shown_flags(typed)}", flush=True)  # fmt: skip
    else:
        print(f"server stopped; the run is {state}{f' ({why})' if why else ''}", flush=True)
    return 0


def viewer_cell(args: argparse.Namespace, new: TrainArgs | None) -> UserCell | None:
    """The cell file each viewer builds the model with: serve's own --cell-file, or with
    --new the one the run trains. Loaded here first: a bad one is one line, before serving."""
    if new is None:
        return load_user_cell(args)
    if args.cell_file is not None:
        raise CharrnnError(
            "with --new, give --cell-file after it, among train's arguments: the run trains "
            "that cell and the viewers build it"
        )
    return load_user_cell(new)


def viewer_command(run_dir: RunDir, args: argparse.Namespace, cell: UserCell | None) -> str:
    """The shell command textual-serve runs for each browser connection: a plain `attach`
    (exec, so that the viewer itself gets textual-serve's signals, not a shell), with the
    cell file (absolute) when the run trains a cell of the user's own."""
    argv = [sys.executable, "-m", "tui.cli", "attach", str(run_dir.path.resolve())]
    argv += ["--fps", str(args.fps), "--theme", args.theme]
    if cell is not None:
        argv += cell_file_flags(cell.spec, cell.changed_ok)
    return "exec " + shlex.join(argv)


def _start_run(args: TrainArgs) -> RunDir:
    """`charrnn train ... --detach` from serve --new, returning the run directory it trains
    in."""
    run_dir = run_dir_for(args.run_dir, args.corpus)
    train(dataclasses.replace(args, run_dir=str(run_dir.path)))
    return run_dir


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
