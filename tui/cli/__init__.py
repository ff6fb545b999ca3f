"""The `charrnn` command line: the option table, the commands, the headless loop.

Nothing here imports Textual until the console opens, so `charrnn --help`, `sample` and
`train --headless` start fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from engine.errors import CharrnnError
from tui.cli.options import build_parser, parse

__all__ = ["build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse(argv)
    args.argv = argv or ["train"]  # what a detached run is started with
    try:
        return run_command(args)
    except CharrnnError as exc:
        print(f"charrnn: error: {exc}", file=sys.stderr)
        return 2


def run_command(args: argparse.Namespace) -> int:
    from tui.cli import commands, detach, serve

    if getattr(args, "fps", None) and not getattr(args, "headless", False):
        # Textual reads its frame-rate cap once, when it is first imported.
        os.environ["TEXTUAL_FPS"] = str(args.fps)
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "train": commands.train,
        "sample": commands.sample,
        "gradcheck": commands.gradcheck,
        "corpora": commands.list_corpora,
        "attach": detach.attach,
        "runs": detach.list_runs,
        "serve": serve.serve,
        "compare": commands.compare,
        "inspect": commands.inspect,
    }
    return handlers[args.command](args)
