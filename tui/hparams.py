"""`charrnn train`'s hyper-parameter flags: one argparse group, each flag overriding the preset.

Every flag defaults to None ("the preset's value"), so what the user typed is known exactly.
Sizes and rates are checked here for their form (a whole number, a positive number), and the
resulting Config checks its ranges; either way the user gets one line and exit status 2.
On --resume the checkpoint's model and data layout win: a flag that would change them is an
error, while the training schedule (lr, clipping, decay, evaluation) may be changed.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.config import CELLS, DTYPES, LOSS_REDUCTIONS, OPTIMIZERS, Config
from engine.errors import CharrnnError

# Fields a resumed run may change: they steer the optimiser, not the model or the data layout.
RESUMABLE = frozenset({"lr", "clip", "clip_norm", "lr_decay", "lr_decay_every", "eval_every"})


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number (got {text!r})") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number (got {text!r})")
    return value


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number (got {text!r})") from None


def size(text: str) -> int:
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more (got {text!r})")
    return value


def count(text: str) -> int:
    value = _whole(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more (got {text!r})")
    return value


def positive(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number (got {text!r})")
    return value


def non_negative(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more (got {text!r})")
    return value


def fraction(text: str) -> float:
    value = _number(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1 (got {text!r})")
    return value


def decay(text: str) -> float:
    value = _number(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be above 0 and at most 1 (got {text!r})")
    return value


@dataclass(frozen=True)
class Flag:
    field: str  # the Config field it sets
    help: str
    type: Callable[[str], Any] | None = None
    choices: tuple[str, ...] | None = None
    metavar: str | None = None

    @property
    def option(self) -> str:
        return "--" + self.field.replace("_", "-")


FLAGS: tuple[Flag, ...] = (
    Flag("cell", "recurrent cell", choices=CELLS),
    Flag("hidden", "hidden units per layer", size, metavar="N"),
    Flag("layers", "stacked recurrent layers", size, metavar="N"),
    Flag("embedding", "input embedding width, 0 for one-hot input", count, metavar="N"),
    Flag("dropout", "dropout between layers, in [0, 1)", fraction, metavar="P"),
    Flag("dtype", "float32 (fast) or float64 (classic, gradient checks)", choices=DTYPES),
    Flag("seq_length", "characters per window (backpropagation through time)", size, metavar="T"),
    Flag("batch", "parallel streams over the training text", size, metavar="B"),
    Flag("loss", "sum over the window (min-char-rnn) or mean per character", choices=LOSS_REDUCTIONS),
    Flag("optimizer", "adagrad (min-char-rnn's), adagrad-torch (eps outside the root), adam", choices=OPTIMIZERS),
    Flag("lr", "learning rate", positive, metavar="LR"),
    Flag("beta1", "Adam's first-moment decay", fraction, metavar="B"),
    Flag("beta2", "Adam's second-moment decay", fraction, metavar="B"),
    Flag("clip", "clip each gradient element to +-C; 0 off", non_negative, metavar="C"),
    Flag("clip_norm", "scale gradients so their joint L2 norm is at most C; 0 off", non_negative, metavar="C"),
    Flag("lr_decay", "multiply the learning rate by F every --lr-decay-every iterations; 1 off", decay, metavar="F"),
    Flag("lr_decay_every", "iterations between learning-rate decays", size, metavar="N"),
    Flag("val_fraction", "hold out this tail of the corpus for validation; 0 none", fraction, metavar="F"),
    Flag("eval_every", "validate every N iterations; 0 never", count, metavar="N"),
    Flag("init_scale", "initial weights ~ randn * S", positive, metavar="S"),
)  # fmt: skip


def available_flags() -> tuple[Flag, ...]:
    """The flags whose Config field exists in this build."""
    fields = {f.name for f in dataclasses.fields(Config)}
    return tuple(f for f in FLAGS if f.field in fields)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "model and optimiser",
        "Each overrides the --preset's value. On --resume the checkpoint's model and data "
        "layout are kept; only --lr, --clip, --clip-norm, --lr-decay, --lr-decay-every and "
        "--eval-every may change.",
    )
    for flag in available_flags():
        group.add_argument(
            flag.option,
            dest=f"hp_{flag.field}",
            type=flag.type,
            choices=flag.choices,
            metavar=flag.metavar,
            help=flag.help,
        )


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The Config fields the user set on the command line."""
    found = {}
    for flag in available_flags():
        value = getattr(args, f"hp_{flag.field}", None)
        if value is not None:
            found[flag.field] = value
    return found


def fresh_config(base: Config, changes: dict[str, Any]) -> Config:
    return base.replace(**changes)


def resumed_config(saved: Config, changes: dict[str, Any], source: str) -> Config:
    """The checkpoint's config with the schedule changes applied; any flag that would change
    the model or data layout to something other than what was saved is an error."""
    conflicts = [
        f"--{k.replace('_', '-')} {v} (checkpoint: {getattr(saved, k)})"
        for k, v in changes.items()
        if k not in RESUMABLE and getattr(saved, k) != v
    ]
    if conflicts:
        raise CharrnnError(
            f"{source} keeps the model and data layout it was saved with; conflicting flags: "
            f"{', '.join(conflicts)} (drop them, or train a fresh model)"
        )
    return saved.replace(**{k: v for k, v in changes.items() if k in RESUMABLE})
