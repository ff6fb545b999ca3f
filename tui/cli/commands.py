"""What each `charrnn` command does, once its arguments have been parsed.

Each command turns the parsed arguments into typed values once and hands those on; nothing
below this module sees an argparse Namespace.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

import numpy as np

import corpora
from engine import checkpoint
from engine.config import preset
from engine.errors import CharrnnError
from engine.sampling import SampleSettings, read_prime_file, stream_sample
from engine.trainer import Trainer
from tui.cli.options import hyper_parameters
from tui.runs.policy import RunSettings
from tui.runs.rundir import RunDir
from tui.runs.save_target import check_save_target
from tui.visible import shown


def build_trainer(
    corpus: str, preset_name: str | None, changes: dict[str, Any], seed: int, resume: str | None
) -> Trainer:
    """A fresh Trainer, or one resumed from a checkpoint with the allowed changes."""
    name, text = corpora.load(corpus)
    if resume:
        return checkpoint.restore(checkpoint.load(resume), text, name, changes)
    config = preset(preset_name or "classic").replace(**changes)
    return Trainer(config, text, seed=seed, corpus_name=name)


def train(args: argparse.Namespace) -> int:
    corpus_path = corpora.resolve(args.corpus).path
    save_to = None if args.save is None else Path(args.save)
    if save_to is not None:  # before training: a refused target must not cost a run
        records = Path(args.run_dir) if args.run_dir else None  # the run's, never saved over
        check_save_target(save_to, corpus_path, force=args.force, run_dir=records)
        checkpoint.check_writable(save_to)
    if not (args.headless or args.detach or args.background):
        from tui.cli.console import require_terminal

        require_terminal("use --headless for a plain log, or --detach to train in the background")
    if args.detach:
        from tui.cli import detach

        run_dir = detach.run_dir_for(args.run_dir, args.corpus)
        return detach.launch(detach.detach_argv(args.argv, run_dir), run_dir)
    trainer = build_trainer(
        args.corpus, args.preset, hyper_parameters(args), args.seed or 0, args.resume
    )
    settings = RunSettings(
        sample_every=args.sample_every,
        temperature=args.temperature,
        autosave_seconds=0.0 if args.headless else args.autosave_minutes * 60.0,
        save_to=save_to,
        stop_at=None if args.iters is None else trainer.iteration + args.iters,
        corpus_path=corpus_path,
        force=args.force,
    )
    run_dir = Path(args.run_dir) if args.run_dir else None
    if args.background:
        from tui.cli import detach

        rundir = make_run_dir(run_dir, trainer.corpus.name)
        return detach.run_background(trainer, settings, rundir, args.corpus, args.preset)
    if args.headless:
        from tui.cli.headless import train_headless

        return train_headless(
            trainer, settings, run_dir, args.log_every, (args.corpus, args.preset)
        )
    from tui.cli.console import ConsoleOptions, run_console

    options = ConsoleOptions(args.corpus, args.fps, args.theme, args.preset)
    return run_console(trainer, settings, run_dir, options)


def sample(args: argparse.Namespace) -> int:
    if args.prime is not None and args.prime_file is not None:
        raise CharrnnError("give --prime or --prime-file, not both")
    if args.zero_state and args.carried_state:
        raise CharrnnError("give --zero-state or --carried-state, not both")
    prime = read_prime_file(args.prime_file) if args.prime_file else args.prime
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
    from tui.cli.console import require_terminal
    from tui.compare import run_compare  # Textual only when it is needed

    # Without a terminal the chart could only spin (it read keys from a pipe forever).
    require_terminal("compare draws its chart there; metrics.jsonl is JSON lines for scripts")
    return run_compare([Path(p) for p in args.runs])


def make_run_dir(path: Path | None, corpus_name: str) -> RunDir:
    return (RunDir(path) if path else RunDir.default_for(corpus_name)).create()
