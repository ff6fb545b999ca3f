"""The `charrnn` command line: train (console or headless), sample, gradcheck, corpora."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

import corpora
from engine.config import CELLS, PRESETS
from engine.errors import CharrnnError
from tui import hparams
from tui.hparams import count, non_negative, size

DEFAULT_FPS = 20
# Kept here, not imported from tui.themes, so `charrnn --help` does not import Textual.
THEME_CHOICES = ("dark", "light", "ansi", "high-contrast")


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit 2), not usage plus error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number (got {text!r})") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number (got {text!r})")
    return value


def dropout_rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1) (got {text!r})") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1) (got {text!r})")
    return value


def build_parser() -> Parser:
    parser = Parser(
        prog="charrnn",
        description=(
            "Train character-level recurrent language models with numpy, watch them learn in a "
            "terminal console, and sample from them. With no command, opens the console "
            f"training the classic preset on the bundled {corpora.DEFAULT!r} corpus."
        ),
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    train = commands.add_parser(
        "train",
        help="train a model (in the console, or --headless for min-char-rnn's plain log)",
        description="Train a model on CORPUS, from scratch or resumed from a checkpoint.",
    )
    train.add_argument(
        "corpus",
        nargs="?",
        default=corpora.DEFAULT,
        metavar="CORPUS",
        help=f"a bundled corpus ({', '.join(corpora.BUNDLED)}) or a path to a UTF-8 text file "
        f"(default: {corpora.DEFAULT})",
    )
    train.add_argument(
        "--headless",
        action="store_true",
        help="no console: print min-char-rnn's log ('iter N, loss: X' and samples) to stdout",
    )
    train.add_argument(
        "--preset",
        default="classic",
        choices=list(PRESETS),
        help="hyper-parameter preset (default: classic, which is min-char-rnn exactly)",
    )
    hparams.add_arguments(train)  # the "model and optimiser" group: overrides of the preset
    train.add_argument(
        "--iters",
        type=count,
        metavar="N",
        help="train N iterations from where the run starts, then save and stop "
        "(the console pauses there instead; default: until Ctrl-C or q)",
    )
    train.add_argument(
        "--seed",
        type=count,
        default=0,
        metavar="N",
        help="seed for weights and sampling (default 0)",
    )
    train.add_argument(
        "--save", metavar="PATH", help="write a checkpoint here at the end and on Ctrl-C"
    )
    train.add_argument(
        "--resume",
        metavar="CKPT",
        help="continue from a checkpoint (its settings win over --preset)",
    )
    train.add_argument(
        "--sample-every",
        type=count,
        metavar="N",
        help="print a sample every N iterations, 0 for never (default: the preset's, 100)",
    )
    train.add_argument(
        "--log-every",
        type=size,
        default=100,
        metavar="N",
        help="print 'iter N, loss: X' every N iterations (default 100)",
    )
    train.add_argument(
        "--temperature",
        type=positive_float,
        default=1.0,
        metavar="T",
        help="sampling temperature: below 1 is safer, above 1 wilder (default 1.0)",
    )
    train.add_argument(
        "--run-dir",
        metavar="DIR",
        help="where latest.npz, autosaves, best.npz (best validation) and metrics.jsonl go "
        "(console default: runs/CORPUS-TIMESTAMP/; headless: only when given)",
    )
    console = train.add_argument_group("console options (ignored with --headless)")
    console.add_argument(
        "--autosave-minutes",
        type=non_negative,
        default=5.0,
        metavar="M",
        help="save the state to DIR/latest.npz every M minutes, 0 for never (default 5)",
    )
    console.add_argument(
        "--fps",
        type=size,
        default=DEFAULT_FPS,
        metavar="N",
        help=f"redraw at most N times a second; lower it over a slow SSH link "
        f"(default {DEFAULT_FPS})",
    )
    console.add_argument(
        "--theme",
        default="dark",
        choices=THEME_CHOICES,
        help="colours: dark, light, ansi (the terminal's own 16 colours) or high-contrast "
        "(default dark; NO_COLOR=1 in the environment turns colour off)",
    )

    sample = commands.add_parser(
        "sample",
        help="generate text from a checkpoint",
        description="Print text generated by the model in CHECKPOINT.",
    )
    sample.add_argument("checkpoint", metavar="CHECKPOINT", help="a .npz saved by charrnn")
    sample.add_argument(
        "--length",
        type=count,
        default=500,
        metavar="N",
        help="characters to generate after the prime (default 500)",
    )
    sample.add_argument(
        "--temperature",
        type=positive_float,
        default=1.0,
        metavar="T",
        help="divide the logits by T: below 1 is safer, above 1 wilder (default 1.0)",
    )
    sample.add_argument(
        "--top-k",
        type=count,
        default=0,
        metavar="K",
        help="sample only among the K likeliest characters (default 0: all)",
    )
    sample.add_argument("--greedy", action="store_true", help="always take the likeliest character")
    sample.add_argument(
        "--prime",
        metavar="TEXT",
        help="text to read first; the output starts with it (default: start after a newline)",
    )
    sample.add_argument(
        "--zero-state",
        action="store_true",
        help="start from a zero hidden state, as at the very start of the corpus, instead of "
        "the state training left in the checkpoint",
    )
    sample.add_argument(
        "--seed",
        type=count,
        metavar="N",
        help="seed for repeatable samples (default: random)",
    )

    grad = commands.add_parser(
        "gradcheck",
        help="compare analytic and numerical gradients",
        description="Check backpropagation on a tiny model against central differences; "
        "exits 0 only if every parameter's relative error is below 1e-5.",
    )
    grad.add_argument(
        "--cell",
        default="rnn",
        choices=CELLS,
        help=f"cell to check: {', '.join(CELLS)} (default rnn)",
    )
    grad.add_argument(
        "--layers", type=size, default=1, metavar="N", help="stacked layers (default 1)"
    )
    grad.add_argument(
        "--embedding",
        type=count,
        default=0,
        metavar="D",
        help="check with a learnt input embedding of width D (default 0: one-hot input)",
    )
    grad.add_argument(
        "--dropout",
        type=dropout_rate,
        default=0.0,
        metavar="P",
        help="dropout between layers, with the same masks for every evaluation (default 0)",
    )

    commands.add_parser(
        "corpora",
        help="list the bundled corpora",
        description="List the bundled corpora with their sizes.",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command is None:
            args = build_parser().parse_args(["train"])
        return run_command(args)
    except CharrnnError as exc:
        print(f"charrnn: error: {exc}", file=sys.stderr)
        return 2


def run_command(args: argparse.Namespace) -> int:
    # Imported here so `charrnn --help` answers at once.
    from tui import commands

    if args.command == "train" and not args.headless:
        # Textual reads its frame-rate cap once, when it is first imported.
        os.environ["TEXTUAL_FPS"] = str(args.fps)

    return {
        "train": commands.train,
        "sample": commands.sample,
        "gradcheck": commands.gradcheck,
        "corpora": commands.list_corpora,
    }[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
