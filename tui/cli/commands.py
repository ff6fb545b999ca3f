"""The commands that read a checkpoint or a corpus and print: sample, inspect, gradcheck,
corpora, and compare (which opens its own small app). Each turns its parsed arguments into
typed values at once; nothing it calls sees the argparse Namespace. `train` is in train.py.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

import numpy as np

import corpora
from engine import checkpoint
from engine.errors import CharrnnError
from engine.sampling import SampleSettings, read_prime_file, stream_sample
from tui.cli.cell_file import load_user_cell
from tui.visible import shown


def sample(args: argparse.Namespace) -> int:
    if args.prime is not None and args.prime_file is not None:
        raise CharrnnError("give --prime or --prime-file, not both")
    if args.zero_state and args.carried_state:
        raise CharrnnError("give --zero-state or --carried-state, not both")
    prime = read_prime_file(args.prime_file) if args.prime_file else args.prime
    load_user_cell(args)  # a checkpoint of the user's own cell names it; this builds it
    ckpt = checkpoint.load(args.checkpoint)
    model, params = checkpoint.load_model(ckpt)
    settings = SampleSettings(
        length=args.length, temperature=args.temperature, top_k=args.top_k or 0, greedy=args.greedy
    )
    start = "zero" if args.zero_state else "carried" if args.carried_state else "auto"
    pieces = stream_sample(
        model,
        params,
        ckpt.vocab,
        settings,
        np.random.default_rng(args.seed),
        prime=prime,
        carried=checkpoint.sampling_state(ckpt, model),
        start=start,
    )
    write_stream(pieces, sys.stdout)
    return 0


def write_stream(pieces: Iterable[str], out: TextIO) -> None:
    """Each piece as it is made: on a terminal it shows at once (a long sample is progress,
    not a pause) with control characters drawn visibly, so an escape sequence the model
    learnt cannot take the terminal over; into a pipe or file, the model's exact text."""
    live = out.isatty()
    for piece in pieces:
        out.write(shown(piece) if live else piece)
        if live:
            out.flush()
    out.write("\n")


def inspect(args: argparse.Namespace) -> int:
    from tui.inspect_text import backprop_report, report

    load_user_cell(args)
    width = shutil.get_terminal_size().columns
    if args.window or args.through_time:
        others = args.unit is not None or args.find_units or args.gates
        sys.stdout.write(
            backprop_report(
                args.checkpoint,
                args.text,
                args.text_file,
                args.corpus_text,
                args.window,
                others or (args.window and args.through_time),
                args.json,
                width,
            )
            + "\n"
        )
        return 0
    if args.corpus_text is not None:
        raise CharrnnError("--corpus goes with --window or --through-time")
    colour = sys.stdout.isatty() and "NO_COLOR" not in os.environ and not args.json
    text = report(
        args.checkpoint,
        text=args.text,
        text_file=args.text_file,
        top_k=5 if args.top_k is None else args.top_k,
        unit=args.unit,
        find=args.find_units,
        gates=args.gates,
        json_out=args.json,
        color=colour,
        width=width,
    )
    sys.stdout.write(text + "\n")
    return 0


def list_corpora(args: argparse.Namespace) -> int:
    print(f"{'name':<16} {'bytes':>10} {'chars':>10} {'unique':>7}  description")
    for name, (_, description) in corpora.BUNDLED.items():
        path = corpora.bundled_path(name)
        text = path.read_text(encoding="utf-8")
        size = path.stat().st_size
        print(f"{name:<16} {size:>10,} {len(text):>10,} {len(set(text)):>7}  {description}")
    return 0


def compare(args: argparse.Namespace) -> int:
    from tui.cli.terminal import require_terminal
    from tui.compare import run_compare  # Textual only when it is needed

    # Without a terminal the chart could only spin (it read keys from a pipe forever).
    require_terminal("compare draws its chart there; metrics.jsonl is JSON lines for scripts")
    return run_compare([Path(p) for p in args.runs])
