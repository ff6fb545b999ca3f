"""`charrnn train`: check what can be checked before any training, build the trainer, and
hand it with typed settings to the front end that trains it (tui/cli/console.py,
headless.py, background.py)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import corpora
from engine import checkpoint
from engine.cells.user import UserCell
from engine.config import preset
from engine.errors import CharrnnError
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
    check_schedule(args)
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
        settings = run_settings(args, corpus_path)
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
    changes = schedule_changes(args)
    if args.resume:
        trainer = checkpoint.restore(checkpoint.load(args.resume), text, name, changes)
    else:
        config = preset(args.preset or "classic").replace(**with_cell(changes, user))
        trainer = Trainer(config, text, seed=args.seed or 0, corpus_name=name)
    trainer.budget = trainer.budget.extended(
        trainer.iteration, trainer.elapsed, args.minutes, args.iters
    )
    if trainer.config.schedule == "anneal" and not trainer.budget.limited:
        raise CharrnnError(NO_END)
    return trainer


NO_END = "--schedule anneal needs an end to anneal to: give --minutes M or --iters N"


def schedule_changes(args: TrainArgs) -> dict[str, Any]:
    """The hyper-parameter flags, with the anneal that a time budget brings unless
    --schedule says otherwise (a budget in minutes ends at an iteration no one can know in
    advance, so a step decay cannot be tuned to it)."""
    changes = args.config_changes
    if args.minutes is not None and "schedule" not in changes:
        changes = {**changes, "schedule": "anneal"}
    return changes


def check_schedule(args: TrainArgs) -> None:
    """An anneal asked for with no end, refused before anything starts (a resumed run's end
    may be in its checkpoint: build_trainer checks that)."""
    no_end = args.minutes is None and args.iters is None and not args.resume
    if args.config_changes.get("schedule") == "anneal" and no_end:
        raise CharrnnError(NO_END)


def run_settings(args: TrainArgs, corpus_path: Path) -> RunSettings:
    """What the run does around its steps (where it ends is the trainer's budget)."""
    return RunSettings(
        sample_every=args.sample_every,
        temperature=args.temperature,
        autosave_seconds=0.0 if args.headless else args.autosave_minutes * 60.0,
        save_to=None if args.save is None else Path(args.save),
        end_at_budget=args.iters is not None or args.minutes is not None,
        corpus_path=corpus_path,
        force=args.force,
    )


def run_dir_for(path: str | None, corpus: str) -> RunDir:
    """The run directory given, or a new one named after the corpus (not yet created)."""
    return RunDir(Path(path)) if path else RunDir.default_for(corpora.resolve(corpus).name)


def make_run_dir(args: TrainArgs) -> RunDir:
    return run_dir_for(args.run_dir, args.corpus).create()
