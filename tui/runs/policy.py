"""A run's policy, shared by every front end (console worker, headless loop, background run).

When to sample, what to save and where (latest, best, the user's --save, autosaves), the
metrics records, and what the exit report says. It never prints and never imports Textual:
it tells its front end what happened through `report`, as protocol events.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine import checkpoint
from engine.cells.guard import user_code_error
from engine.cells.record import record_for
from engine.errors import CharrnnError
from engine.evaluate import lane_shape
from engine.sampling import SampleSettings
from engine.trainer import StepResult, Trainer
from tui.runs.metrics import history_records, train_record, val_record
from tui.runs.protocol import Event, Notice, SampleReady, Saved, TrainerInfo
from tui.runs.rundir import RunDir
from tui.runs.save_target import check_save_target
from tui.runs.status import RunStatus

HISTORY_POINTS = 300  # points of past loss handed to a viewer's sparkline
STATUS_INTERVAL = 2.0  # seconds between run.json updates while training


@dataclass(frozen=True)
class RunSettings:
    """What a run does around its training steps; the same fields for every front end."""

    sample_every: int = 100  # iterations between samples, 0 for only on request
    sample_length: int = 200
    temperature: float = 1.0
    metrics_every: int = 100  # iterations between metrics.jsonl records
    autosave_seconds: float = 0.0  # save latest.npz this often, 0 for never
    save_to: Path | None = None  # --save: also written when the run ends
    # --iters or --minutes was given: the trainer's budget ends the run (or pauses the
    # console). Without them a resumed run trains on, its schedule still ending where it did.
    end_at_budget: bool = False
    corpus_path: Path | None = None  # the file trained on: never saved over
    force: bool = False  # --force: --save may replace a file that is not a checkpoint


@dataclass
class ExitReport:
    iteration: int
    saved: list[Path] = field(default_factory=list)  # where the state was written on the way out
    errors: list[str] = field(default_factory=list)  # why it was not, where it was meant to be
    warnings: list[str] = field(default_factory=list)  # what else went wrong on the way out

    @property
    def path(self) -> Path | None:
        """The run directory's latest.npz (or the only target), if it was written."""
        return self.saved[-1] if self.saved else None

    @property
    def error(self) -> str:
        """Every save that failed, in one line ('' if none did)."""
        return "; ".join(self.errors)


def trainer_info(trainer: Trainer, points: int = HISTORY_POINTS) -> TrainerInfo:
    history = np.asarray(trainer.loss_history, dtype=np.float32)
    history = history[np.isfinite(history)]
    if len(history) > points:
        # Whole history in `points` means, so a loaded model shows its entire learning curve.
        edges = np.linspace(0, len(history), points + 1).astype(int)
        history = np.add.reduceat(history, edges[:-1]) / np.diff(edges)
    return TrainerInfo(
        summary=trainer.summary(),
        corpus=trainer.corpus.name,
        iteration=trainer.iteration,
        smooth_loss=trainer.smooth_nats_per_char,
        elapsed=trainer.elapsed,
        history=[float(x) for x in history],
        val_loss=trainer.last_val_loss,
        best_val_loss=trainer.best_val_loss,
        val_iteration=validated_at(trainer),
        lr=trainer.learning_rate,
        budget_seconds=trainer.budget.seconds,
    )


def validated_at(trainer: Trainer) -> int | None:
    """The iteration count (iterations trained, as the status line counts) when the latest
    held-out loss was measured: evaluation k follows step k, so it is k + 1."""
    return trainer.val_history[-1][0] + 1 if trainer.val_history else None


class RunPolicy:
    def __init__(
        self,
        run_dir: RunDir | None,
        settings: RunSettings,
        report: Callable[[Event], object],
    ) -> None:
        self.run_dir = run_dir
        self.settings = settings
        self.report = report
        self._last_sampled = -1
        self._metrics: list[dict[str, float]] = []
        self._samples: list[dict[str, object]] = []
        self._records_broken = False
        self._rate_mark = (time.perf_counter(), 0)
        self._next_autosave = self._autosave_deadline(time.perf_counter())
        self.status: RunStatus | None = None
        self._status_written = 0.0

    # -- run.json ---------------------------------------------------------------------------

    def begin(self, trainer: Trainer, corpus: str, preset: str | None, detached: bool) -> None:
        """Say in run.json that this run is live, what it trains and who runs it. A resumed
        run starting a run directory of its own first writes the checkpoint's history into
        metrics.jsonl: the curves view and compare then show the whole run."""
        if self.run_dir is None:
            return
        self._write_history(trainer)
        self.status = RunStatus(
            pid=os.getpid(),
            corpus=corpus,
            preset=preset,
            model=trainer.summary(),
            config=trainer.config.to_dict(),
            detached=detached,
            cell_file=record_for(trainer.config.cell),
            iteration=trainer.iteration,
        )
        self._write_status(trainer)

    def note(self, trainer: Trainer, *, paused: bool | None = None, force: bool = False) -> None:
        """Refresh run.json's figures, at most every STATUS_INTERVAL unless forced."""
        if self.status is None:
            return
        if paused is not None:
            self.status.paused = paused
        if force or time.monotonic() - self._status_written >= STATUS_INTERVAL:
            self._write_status(trainer)

    def end(self, trainer: Trainer, state: str, reason: str = "") -> None:
        if self.status is not None:
            self.status.state, self.status.reason = state, reason
            self._write_status(trainer)

    def _write_history(self, trainer: Trainer) -> None:
        history = trainer.history
        # Nothing to add where the records already are (`d` resumes in its own directory),
        # nor a history that does not reach back to iteration 0 (cut short in an old file).
        if not trainer.iteration or history.iterations != trainer.iteration:
            return
        if self.run_dir is None or self.run_dir.metrics.exists():
            return
        self._metrics[:0] = history_records(
            history.values(),
            trainer.val_history,
            trainer.config,
            len(trainer.vocab),
            self.settings.metrics_every,
            block=history.block,
            iterations=trainer.iteration,
        )
        self.flush_records()

    def _write_status(self, trainer: Trainer) -> None:
        status = self.status
        assert status is not None and self.run_dir is not None
        status.iteration = trainer.iteration
        status.model = trainer.summary()
        smooth = trainer.smooth_nats_per_char
        status.smooth_loss = smooth if math.isfinite(smooth) else None
        status.best_val_loss = trainer.best_val_loss
        status.budget = trainer.budget.to_dict() if trainer.budget.limited else None
        self._status_written = time.monotonic()
        with contextlib.suppress(OSError):  # run.json informs; a full disk is said by the saves
            status.write(self.run_dir)

    # -- sampling ---------------------------------------------------------------------------

    def sample_due(self, trainer: Trainer) -> bool:
        """Whether a periodic sample comes before this iteration (once per iteration)."""
        n, every = trainer.iteration, self.settings.sample_every
        if every and n % every == 0 and n != self._last_sampled:
            self._last_sampled = n
            return True
        return False

    def forget_samples(self) -> None:
        """A different model was loaded: its iterations have not been sampled."""
        self._last_sampled = -1

    def sample(
        self,
        trainer: Trainer,
        temperature: float,
        length: int | None = None,
        prime: str = "",
        requested: bool = False,
    ) -> SampleReady | None:
        settings = SampleSettings(
            length=self.settings.sample_length if length is None else length,
            temperature=temperature,
        )
        try:
            text = trainer.sample(settings, prime=prime or None)
        except CharrnnError as exc:
            self.report(Notice(str(exc), "error"))
            return None
        loss = trainer.smooth_nats_per_char
        sample = SampleReady(trainer.iteration, temperature, loss, text, prime, requested)
        self._samples.append(dataclasses.asdict(sample))
        return sample

    # -- after each step --------------------------------------------------------------------

    def after_step(self, trainer: Trainer, result: StepResult) -> None:
        """Metrics records, and best.npz when validation found a new best."""
        n = result.iteration
        if n % self.settings.metrics_every == 0:
            self._record_metrics(trainer, n, result.smooth_nats_per_char)
        if result.val_loss is not None:
            self._metrics.append(val_record(n, result.val_loss))
            if result.val_best and self.run_dir is not None:
                self.save(trainer, self.run_dir.best, "best")

    def restart_clock(self, trainer: Trainer) -> None:
        """Pauses and swapped models must not count as slow training in chars/s."""
        self._rate_mark = (time.perf_counter(), chars_trained(trainer))

    def _record_metrics(self, trainer: Trainer, n: int, smooth: float) -> None:
        now = time.perf_counter()
        since, chars_then = self._rate_mark
        chars = chars_trained(trainer)
        self._rate_mark = (now, chars)
        speed = (chars - chars_then) / max(now - since, 1e-9)
        self._metrics.append(train_record(n, smooth, speed, trainer.elapsed, time.time()))

    def flush_records(self) -> None:
        """Append pending records to metrics.jsonl and samples.jsonl; a full disk is said
        once, and training goes on."""
        metrics, self._metrics = self._metrics, []
        samples, self._samples = self._samples, []
        if self._records_broken or self.run_dir is None:
            return
        try:
            self.run_dir.append_metrics(metrics)
            self.run_dir.append_samples(samples)
        except OSError as exc:
            self._records_broken = True
            self.report(Notice(f"metrics not written: {exc.strerror or exc}", "warning"))

    # -- saving -----------------------------------------------------------------------------

    def save(self, trainer: Trainer, path: Path, reason: str) -> bool:
        """Write a checkpoint; a failure is reported and the run goes on."""
        if trainer.diverged:
            self.report(Notice("not saved: the training loss is no longer finite", "error"))
            return False
        try:
            # The run's own latest.npz and best.npz are replaced whatever is there; a save a
            # viewer asked for follows --save's rule: over a checkpoint only, never a record.
            saved = self._save_checked(trainer, path, force=reason != "save")
        except (CharrnnError, OSError) as exc:
            severity = "warning" if reason == "best" else "error"
            self.report(Notice(f"save failed: {_reason(path, exc)}", severity))
            return False
        self.report(Saved(str(saved), trainer.iteration, reason))
        return True

    def autosave_if_due(self, trainer: Trainer, now: float) -> None:
        if now < self._next_autosave or self.run_dir is None:
            return
        self._next_autosave = self._autosave_deadline(now)
        if not trainer.diverged:
            self.save(trainer, self.run_dir.latest, "autosave")

    def _autosave_deadline(self, now: float) -> float:
        every = self.settings.autosave_seconds
        return now + every if every > 0 else math.inf

    def exit_save(self, trainer: Trainer) -> ExitReport:
        """Save where the run's state belongs on the way out: --save, then latest.npz."""
        report = ExitReport(trainer.iteration)
        targets = [self.settings.save_to] if self.settings.save_to else []
        targets += [self.run_dir.latest] if self.run_dir is not None else []
        if not targets:
            return report
        if trainer.diverged:
            report.errors.append("the model diverged; nothing saved")
            return report
        for target in targets:
            # --save was checked before training; what is there now is checked again.
            force = self.settings.force or target != self.settings.save_to
            try:
                report.saved.append(self._save_checked(trainer, target, force))
            except (CharrnnError, OSError) as exc:  # an older file there is intact (atomic)
                report.errors.append(f"not saved to {_reason(target, exc)}")
        return report

    def crashed(self, trainer: Trainer, exc: BaseException) -> ExitReport:
        """A run that ended with an error saves nothing (the files already there are worth
        more than a model in an unknown state): record it, and say why in one line."""
        self.flush_records()
        reason = user_code_error(exc) or f"{type(exc).__name__}: {exc}"
        self.end(trainer, "crashed", reason)
        n = trainer.iteration
        return ExitReport(
            n, errors=[f"training stopped at iteration {n} ({reason}); nothing saved"]
        )

    def _save_checked(self, trainer: Trainer, path: Path, force: bool) -> Path:
        run_dir = self.run_dir.path if self.run_dir is not None else None
        check_save_target(path, self.settings.corpus_path, force=force, run_dir=run_dir)
        return checkpoint.save(trainer, path)


def quiet_overflow() -> contextlib.AbstractContextManager[object]:
    """Around a training step: a run that diverges overflows in numpy first, and its warnings
    would print before the one line that says the run diverged (which is checked from the
    loss after each step). Only overflow and invalid values are silenced."""
    return np.errstate(over="ignore", invalid="ignore")


def validation_note(trainer: Trainer) -> str | None:
    """Said once at the start when a validation pass reads only part of the held-out text."""
    predicted, held_out = trainer.validation_scope
    if not (trainer.config.eval_every and trainer.config.val_chars and held_out):
        return None
    lanes, stride, _ = lane_shape(held_out)  # a full pass, for comparison
    if predicted >= lanes * stride:
        return None
    return (
        f"validation on {predicted:,} of {held_out:,} held-out characters (--val-chars 0 for all)"
    )


def chars_trained(trainer: Trainer) -> int:
    return trainer.iteration * trainer.config.batch * trainer.config.seq_length


def _reason(path: Path, exc: Exception) -> str:
    if isinstance(exc, OSError):
        return f"{path}: {exc.strerror or exc}"
    return str(exc)
