"""`charrnn train`'s arguments, parsed once into a frozen, typed TrainArgs.

Every front end receives these values (the console, --headless, the --detach launcher, the
background run, `serve --new`), never the argparse Namespace. Processes that train on
elsewhere (--detach, `d` in the console) get their command line back from them (`to_argv`),
so no flag can be lost on the way; `continued` is the one rule for what a run continued in
another process keeps and what it counts again.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui.cli.options import COMMANDS, HYPER_PARAMETERS, OPTIONS, hyper_parameters, parse

TRAIN = COMMANDS["train"]
_HYPER_PARAMETERS = {o.dest: o for o in HYPER_PARAMETERS}


@dataclass(frozen=True)
class TrainArgs:
    """One field per option of `train` in the option table (tui/cli/options.py), and
    `changes`: the hyper-parameters given as flags, as (Config field, value) pairs."""

    corpus: str
    headless: bool
    detach: bool
    background: bool  # the detached process itself (--background, hidden)
    preset: str | None
    iters: int | None  # counted from the iteration the run starts at
    minutes: float | None  # minutes of training time, counted from where the run starts
    seed: int | None
    save: str | None
    force: bool
    resume: str | None
    sample_every: int
    log_every: int
    temperature: float
    run_dir: str | None
    autosave_minutes: float
    fps: int
    theme: str
    cell_file: str | None  # PATH[:CLASS] as the user typed it; every process it trains in loads it
    cell_changed_ok: bool
    debug: bool
    changes: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def from_namespace(cls, args: argparse.Namespace) -> TrainArgs:
        values = {name: getattr(args, name) for name in TRAIN.option_names}
        return cls(**values, changes=tuple(sorted(hyper_parameters(args).items())))

    @classmethod
    def parse(cls, argv: Sequence[str]) -> TrainArgs:
        """`charrnn train ARGV` parsed (argparse's usage errors exit, as on the command line)."""
        return cls.from_namespace(parse(["train", *argv]))

    def to_argv(self) -> list[str]:
        """A `charrnn train` command line that parses back to these arguments exactly."""
        flags, positionals = [], []
        for name in TRAIN.option_names:
            option = OPTIONS[name]
            (positionals if option.positional else flags).extend(
                option.to_argv(getattr(self, name))
            )
        for name, value in self.changes:
            flags += _HYPER_PARAMETERS[name].to_argv(value)
        return ["train", *flags, *(["--", *positionals] if positionals else [])]

    @property
    def config_changes(self) -> dict[str, Any]:
        return dict(self.changes)

    @property
    def front_end(self) -> str:
        """Where the run trains: detach (start a background run and return), background (be
        that run), headless (min-char-rnn's log), or console."""
        for name in ("detach", "background", "headless"):
            if getattr(self, name):
                return name
        return "console"

    def in_background(self, run_dir: Path) -> TrainArgs:
        """The arguments of the background process that trains this run in `run_dir` (named
        explicitly, so that the launcher and the run agree on it)."""
        return dataclasses.replace(
            self, detach=False, headless=False, background=True, run_dir=str(run_dir)
        )

    def continued(
        self, state: Path, left: tuple[int | None, float | None] | None, temperature: float
    ) -> TrainArgs:
        """This run, continued by another process from `state`.

        The checkpoint holds the model and its schedule as trained (a checkpoint loaded in
        the console too), so the hyper-parameter flags are left out: they could only
        conflict with it. --iters and --minutes count from where a run starts, so the new
        process gets what remains of the budget (`left`: iterations and minutes, as
        Session.budget_left says; 0 at the budget, None once the user has trained past it
        or when the run had no --iters or --minutes: it trains on, as this one would have).
        Everything else (--save, --force, --sample-every, --autosave-minutes, ...) is kept,
        with the temperature the run samples at now."""
        iters, minutes = left if left is not None else (None, None)
        return dataclasses.replace(
            self,
            resume=str(state),
            iters=iters,
            minutes=minutes,
            temperature=temperature,
            changes=(),
        )

    @property
    def finished(self) -> bool:
        """Nothing of the budget is left: a continued run would stop before its first step."""
        return self.iters == 0 or self.minutes == 0
