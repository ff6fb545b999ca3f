"""The `charrnn` command line: the option table, the commands, the front ends that train.

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

from engine.cells.guard import print_user_traceback, user_code_error  # noqa: E402
from engine.errors import CharrnnError  # noqa: E402  (after the BLAS setting above)
from tui.cli.options import build_parser, parse  # noqa: E402
from tui.cli.terminal import STDOUT_CLOSED, silence_stdout  # noqa: E402

__all__ = ["build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(list(sys.argv[1:] if argv is None else argv))
    try:
        return run_command(args)
    except CharrnnError as exc:
        print(f"charrnn: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader of stdout has gone: nothing more to say to it
        silence_stdout()
        return STDOUT_CLOSED
    except Exception as exc:  # from a cell file's code, one line (--debug: its traceback)
        line = user_code_error(exc)
        if line is None:
            raise  # charrnn's own bug: its traceback is worth reporting
        if getattr(args, "debug", False):
            print_user_traceback(exc)
        print(f"charrnn: error: {line}", file=sys.stderr)
        return 2


def run_command(args: argparse.Namespace) -> int:
    from tui.cli import attach, cell_commands, commands, export_command, listing, serve, train
    from tui.cli.train_args import TrainArgs

    if getattr(args, "fps", None) and not getattr(args, "headless", False):
        # Textual reads its frame-rate cap once, when it is first imported.
        os.environ["TEXTUAL_FPS"] = str(args.fps)
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "train": lambda args: train.train(TrainArgs.from_namespace(args)),
        "sample": commands.sample,
        "gradcheck": cell_commands.gradcheck,
        "cell": cell_commands.new_cell,
        "corpora": commands.list_corpora,
        "attach": attach.attach,
        "runs": listing.list_runs,
        "serve": serve.serve,
        "compare": commands.compare,
        "inspect": commands.inspect,
        "export": export_command.export,
    }
    return handlers[args.command](args)
