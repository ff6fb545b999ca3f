"""The `charrnn` command line: the option table, the commands, the headless loop.

Nothing here imports Textual until the console opens, so `charrnn --help`, `sample` and
`train --headless` start fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from engine.blas import pin_threads

# One BLAS thread per training thread, set before numpy is first imported: charrnn uses the
# machine's cores by splitting minibatches (--workers), and BLAS threads on top of those
# would wait for cores that are busy (a run slows down many times over on a loaded
# machine). A value the user set is kept.
pin_threads(1, keep_set=True)

from engine.errors import CharrnnError  # noqa: E402  (after the BLAS setting above)
from tui.cli.options import build_parser, parse  # noqa: E402

__all__ = ["build_parser", "main"]

# The exit status of a program whose output pipe closed: 128 + SIGPIPE, as the shell reports
# a program the signal killed (`charrnn sample ... | head`).
STDOUT_CLOSED = 141


def silence_stdout() -> None:
    """Send what is still to be written to /dev/null once stdout's reader has gone, so the
    interpreter's flush at exit does not fail again with a traceback."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse(argv)
    args.argv = argv or ["train"]  # what a detached run is started with
    try:
        return run_command(args)
    except CharrnnError as exc:
        print(f"charrnn: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader of stdout has gone: nothing more to say to it
        silence_stdout()
        return STDOUT_CLOSED


def run_command(args: argparse.Namespace) -> int:
    from tui.cli import cell_commands, commands, detach, export_command, serve

    if getattr(args, "fps", None) and not getattr(args, "headless", False):
        # Textual reads its frame-rate cap once, when it is first imported.
        os.environ["TEXTUAL_FPS"] = str(args.fps)
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "train": commands.train,
        "sample": commands.sample,
        "gradcheck": cell_commands.gradcheck,
        "cell": cell_commands.new_cell,
        "corpora": commands.list_corpora,
        "attach": detach.attach,
        "runs": detach.list_runs,
        "serve": serve.serve,
        "compare": commands.compare,
        "inspect": commands.inspect,
        "export": export_command.export,
    }
    return handlers[args.command](args)
