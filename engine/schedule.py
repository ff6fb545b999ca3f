"""The learning-rate schedule, and the budget a run may be given (where it ends).

Two shapes, chosen by `Config.schedule` (docs/presets.md has the measurements behind them):

- step:   lr * lr_decay ** (iteration // lr_decay_every), the presets' decay. It never
          goes below lr * lr_floor: unfloored, halving every 1,800 iterations would leave a
          twenty-minute run training at 2^-36 of its rate, learning nothing.
- anneal: from lr down to lr * lr_floor as the budget ends, geometrically (the rate halves
          every ln 2 / ln(1 / lr_floor) of the budget: 23% with the floor at 1/20), then
          held at the floor. The presets' step decay, stretched to end with the budget
          (docs/presets.md has why: a rate held high for the first 60% of a ten-minute run
          ruined it). It needs a budget.

A budget counts from the run's very start (iteration 0, no training time), so the schedule
is a function of what the checkpoint holds (`iteration`, `elapsed`): a resumed run continues
it exactly, and a budget extended on resume raises the rate to where the longer schedule
would be.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from engine.config import Config
from engine.errors import CharrnnError
from engine.statedict import ITERATION_MAX, shown


@dataclass(frozen=True)
class Budget:
    """Where a run ends: after `seconds` of training time (Trainer.elapsed: evaluations and
    pauses excluded) or at `iterations`, whichever comes first. None: no such limit."""

    seconds: float | None = None
    iterations: int | None = None

    @property
    def limited(self) -> bool:
        return self.seconds is not None or self.iterations is not None

    def progress(self, iteration: int, elapsed: float) -> float:
        """How far through the budget a run is: the larger of its two fractions (the limit
        that comes first), 0 without a budget, 1 or more once it is spent."""
        parts = [0.0]
        if self.seconds is not None:
            parts.append(elapsed / self.seconds if self.seconds > 0 else math.inf)
        if self.iterations is not None:
            parts.append(iteration / self.iterations if self.iterations > 0 else math.inf)
        return max(parts)

    def spent(self, iteration: int, elapsed: float) -> bool:
        return self.limited and self.progress(iteration, elapsed) >= 1

    def time_ran_out(self, iteration: int, elapsed: float) -> bool:
        """The time limit, not the iteration limit, is what ended the budget."""
        return (
            self.seconds is not None
            and elapsed >= self.seconds
            and not (self.iterations is not None and iteration >= self.iterations)
        )

    def seconds_left(self, elapsed: float) -> float | None:
        return None if self.seconds is None else max(self.seconds - elapsed, 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "iterations": self.iterations}

    @classmethod
    def from_dict(cls, d: Any) -> Budget:
        """A budget from a checkpoint's metadata, every value checked."""
        if not isinstance(d, dict) or set(d) - {"seconds", "iterations"}:
            raise CharrnnError(
                f"budget must be an object of seconds and iterations (got {shown(d)})"
            )
        seconds, iterations = d.get("seconds"), d.get("iterations")
        if seconds is not None and (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or seconds < 0
        ):
            raise CharrnnError(
                f"budget seconds must be a number of at least 0 (got {shown(seconds)})"
            )
        if iterations is not None and (
            isinstance(iterations, bool)
            or not isinstance(iterations, int)
            or not 0 <= iterations <= ITERATION_MAX
        ):
            raise CharrnnError(
                f"budget iterations must be a whole number of at least 0 (got {shown(iterations)})"
            )
        return cls(None if seconds is None else float(seconds), iterations)

    def extended(
        self, iteration: int, elapsed: float, minutes: float | None, iters: int | None
    ) -> Budget:
        """The budget of a run given `--minutes`/`--iters` at this point: both count from
        here (as --iters always has), and together they replace the budget it had. Neither
        given: the budget it had goes on."""
        if minutes is None and iters is None:
            return self
        return Budget(
            None if minutes is None else elapsed + minutes * 60.0,
            None if iters is None else iteration + iters,
        )


def learning_rate(config: Config, iteration: int, progress: float) -> float:
    """The rate of the step about to train: iteration `iteration` (counted from 0), at
    `progress` through the run's budget (Budget.progress)."""
    floor = config.lr * config.lr_floor
    if config.schedule == "anneal":
        return annealed(config.lr, floor, progress)
    if config.lr_decay == 1:
        return config.lr
    return max(config.lr * config.lr_decay ** (iteration // config.lr_decay_every), floor)


def annealed(lr: float, floor: float, progress: float) -> float:
    """The anneal at `progress` through the budget: lr * (floor / lr) ** progress, so `lr` at
    the start and `floor` at the end and after (benchmarks/quality.py gives PyTorch the same).
    A floor of 0 (never reached geometrically) ends the run at lr / 1000."""
    end = floor if floor > 0 else lr * 1e-3
    return lr * (end / lr) ** min(max(progress, 0.0), 1.0)
