"""`charrnn train`: check what can be checked before any training, build the trainer, and
hand it with typed settings to the front end that trains it (tui/cli/console.py,
headless.py, background.py)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import corpora
from engine import checkpoint
from engine.cells.user import UserCell
from engine.config import preset
from engine.trainer import Trainer
from tui.cli.cell_file import load_user_cell, refuse_both, with_cell
from tui.cli.ownership import own
from tui.cli.terminal import require_terminal
from tui.cli.train_args import TrainArgs
from tui.runs.policy import RunSettings
from tui.runs.rundir import RunDir
from tui.runs.save_target import check_save_target


def train(args: TrainArgs) -> int:
    # A cell file first, whatever the front end: a bad one is one line before any training
    # (the launcher of a background run checks it too, where the user can read it).
    refuse_both(args.config_changes, args.cell_file)
    user = load_user_cell(args)
    corpus_path = corpora.resolve(args.corpus).path
    if args.save is not None:  # before training: a refused target must not cost a run
        records = Path(args.run_dir) if args.run_dir else None  # the run's, never saved over
        check_save_target(Path(args.save), corpus_path, force=args.force, run_dir=records)
        checkpoint.check_writable(Path(args.save))
    front_end = args.front_end
    if front_end == "console":
        require_terminal("use --headless for a plain log, or --detach to train in the background")
    if front_end == "detach":
        from tui.cli.background import launch

        run_dir = run_dir_for(args.run_dir, args.corpus)
        return launch(args, run_dir)
    run_dir = None if front_end == "headless" and not args.run_dir else make_run_dir(args)
    with own(run_dir) if run_dir else contextlib.nullcontext():  # before anything is written
        trainer = build_trainer(args, user)
        settings = run_settings(args, trainer, corpus_path)
        if front_end == "background":
            from tui.cli.background import run_background

            return run_background(args, trainer, settings, run_dir)
        if front_end == "headless":
            from tui.cli.headless import train_headless

            return train_headless(args, trainer, settings, run_dir)
        from tui.cli.console import run_console

        return run_console(args, trainer, settings, run_dir)


def build_trainer(args: TrainArgs, user: UserCell | None = None) -> Trainer:
    """A fresh Trainer, or one resumed from a checkpoint with the allowed changes. A cell
    of the user's own replaces the preset's cell; a checkpoint says which cell it holds
    (and refuses to load if it is a user's cell whose file this process was not given)."""
    name, text = corpora.load(args.corpus)
    if args.resume:
        return checkpoint.restore(checkpoint.load(args.resume), text, name, args.config_changes)
    changes = with_cell(args.config_changes, user)
    config = preset(args.preset or "classic").replace(**changes)
    return Trainer(config, text, seed=args.seed or 0, corpus_name=name)


def run_settings(args: TrainArgs, trainer: Trainer, corpus_path: Path) -> RunSettings:
    """What the run does around its steps; --iters becomes the iteration it stops at."""
    return RunSettings(
        sample_every=args.sample_every,
        temperature=args.temperature,
        autosave_seconds=0.0 if args.headless else args.autosave_minutes * 60.0,
        save_to=None if args.save is None else Path(args.save),
        stop_at=None if args.iters is None else trainer.iteration + args.iters,
        corpus_path=corpus_path,
        force=args.force,
    )


def run_dir_for(path: str | None, corpus: str) -> RunDir:
    """The run directory given, or a new one named after the corpus (not yet created)."""
    return RunDir(Path(path)) if path else RunDir.default_for(corpora.resolve(corpus).name)


def make_run_dir(args: TrainArgs) -> RunDir:
    return run_dir_for(args.run_dir, args.corpus).create()
