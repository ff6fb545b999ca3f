"""The training session: a Trainer driven by one thread, steered by commands from the UI.

The worker thread owns the Trainer. The UI never reads or writes weights; it puts commands
on a queue, which the worker applies between two steps, so a save or a sample never sees a
half-updated model. Progress goes back as messages, batched so that posting stays cheap.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine import checkpoint
from engine.errors import CharrnnError
from engine.sampling import SampleSettings
from engine.trainer import Trainer
from tui.messages import (
    Loaded,
    Notice,
    PausedChanged,
    Progress,
    SampleReady,
    Saved,
    SessionMessage,
    TrainerInfo,
)
from tui.rundir import RunDir

HISTORY_POINTS = 300  # points of past loss handed to the sparkline on start and on load
IDLE_WAIT = 0.1  # seconds a paused worker sleeps before looking at cancellation again
GIVE_WAY_NAP = 0.002  # seconds the worker sleeps at a time while the UI has priority


# -- commands (UI thread -> worker) -----------------------------------------------------


@dataclass(frozen=True)
class Pause:
    pass


@dataclass(frozen=True)
class Resume:
    pass


@dataclass(frozen=True)
class SetTemperature:
    value: float


@dataclass(frozen=True)
class Sample:
    length: int
    prime: str = ""


@dataclass(frozen=True)
class Save:
    path: Path


@dataclass(frozen=True)
class Load:
    path: Path


@dataclass(frozen=True)
class Stop:
    save: bool = True  # save the state to the run directory's latest.npz on the way out


Command = Pause | Resume | SetTemperature | Sample | Save | Load | Stop


@dataclass
class SessionSettings:
    temperature: float = 1.0
    sample_every: int = 100  # 0: only on request
    sample_length: int = 200
    report_interval: float = 0.25  # seconds between Progress messages (4 a second)
    autosave_seconds: float = 300.0  # 0: never
    metrics_every: int = 100  # iterations between metrics.jsonl records
    start_paused: bool = False
    pause_at: int | None = None  # pause on reaching this iteration (`train --iters N`)


@dataclass
class ExitReport:
    iteration: int
    path: Path | None  # where the state was saved on the way out, if it was
    error: str | None  # why it was not, if it was meant to be


def trainer_info(trainer: Trainer, points: int = HISTORY_POINTS) -> TrainerInfo:
    history = np.frombuffer(trainer.loss_history, dtype=np.float32)
    history = history[np.isfinite(history)]
    if len(history) > points:
        # Whole history in `points` means, so a loaded model shows its entire learning curve.
        edges = np.linspace(0, len(history), points + 1).astype(int)
        history = np.add.reduceat(history, edges[:-1]) / np.diff(edges)
    smooth = trainer.smooth_loss / trainer.loss_units
    return TrainerInfo(
        summary=trainer.summary(),
        corpus=trainer.corpus.name,
        iteration=trainer.iteration,
        smooth_loss=smooth,
        elapsed=trainer.elapsed,
        history=[float(x) for x in history],
        val_loss=trainer.last_val_loss,
        best_val_loss=trainer.best_val_loss,
    )


class Session:
    def __init__(
        self,
        trainer: Trainer,
        run_dir: RunDir,
        post: Callable[[SessionMessage], object],
        settings: SessionSettings | None = None,
        text: str | Callable[[], str] | None = None,
    ) -> None:
        self.trainer = trainer
        self.run_dir = run_dir
        self.settings = settings or SessionSettings()
        self.post = post  # thread-safe (App.post_message)
        # The corpus (or how to read it), needed only to resume a loaded checkpoint on it.
        self._text = text
        self._commands: queue.SimpleQueue[Command] = queue.SimpleQueue()
        self._wake = threading.Event()  # set whenever a command arrives
        self.paused = self.settings.start_paused
        self.temperature = self.settings.temperature
        self.exit_report: ExitReport | None = None
        self._stopping = False
        self._save_on_exit = True
        self._last_sampled = -1
        self._pending: list[float] = []
        self._pending_chars = 0
        self._pending_samples: list[SampleReady] = []
        self._metrics: list[dict[str, float]] = []
        self._metrics_broken = False
        self._give_way_until = 0.0

    # -- UI side: only enqueue ------------------------------------------------------------

    def send(self, command: Command) -> None:
        self._commands.put(command)
        self._wake.set()

    def give_way(self, seconds: float) -> None:
        """Let the UI thread have the interpreter for a moment (the user pressed a key).

        Both threads need the GIL; shared fairly, a screen change takes twice as long while
        training runs. Stepping aside for a fraction of a second after each key keeps the
        console snappy at the cost of a few milliseconds of training per key press.
        """
        self._give_way_until = time.perf_counter() + seconds

    def info(self) -> TrainerInfo:
        """Call before the worker starts (or after it ends): it reads the trainer."""
        return trainer_info(self.trainer)

    # -- worker side ------------------------------------------------------------------------

    def run(self, is_cancelled: Callable[[], bool] = lambda: False) -> ExitReport:
        """The worker's body: train until stopped or cancelled, then save the state."""
        now = time.perf_counter()
        self._last_report = now
        self._next_autosave = self._autosave_deadline(now)
        self._metric_mark = (now, self._chars_total())
        try:
            while not self._stopping and not is_cancelled():
                if not self._commands.empty():
                    self._drain()
                    continue
                if self.paused:
                    self._report(time.perf_counter())
                    self._wake.wait(IDLE_WAIT)
                    self._wake.clear()
                    self._maybe_autosave(time.perf_counter())
                    continue
                if time.perf_counter() < self._give_way_until:
                    time.sleep(GIVE_WAY_NAP)
                    # Not training time: keep it out of the chars/s shown.
                    self._last_report += GIVE_WAY_NAP
                    continue
                self._train_one()
        finally:
            self._report(time.perf_counter())
            self.exit_report = self._exit_save()
        return self.exit_report

    def _train_one(self) -> None:
        trainer = self.trainer
        n = trainer.iteration
        every = self.settings.sample_every
        if every and n % every == 0 and n != self._last_sampled:
            self._last_sampled = n
            self._sample(self.settings.sample_length, "", requested=False)
        if n == self.settings.pause_at:
            self.settings.pause_at = None  # once: space resumes past it
            self._set_paused(True)
            self.post(Notice(f"reached iteration {n:,} (--iters): paused; space resumes"))
            return
        result = trainer.step()
        if not math.isfinite(result.loss) or trainer.diverged:
            self._diverged(n, result.loss)
            return
        self._pending.append(result.nats_per_char)
        self._pending_chars += result.chars
        if n % self.settings.metrics_every == 0:
            self._record_metrics(n, result.smooth_nats_per_char)
        if result.val_loss is not None:
            self._metrics.append({"iteration": n, "val_loss": round(result.val_loss, 6)})
            if result.val_best:  # keep the best model beside the latest
                self._save(self.run_dir.best, "best")
        now = time.perf_counter()
        if now - self._last_report >= self.settings.report_interval:
            self._report(now)
        if now >= self._next_autosave:
            self._maybe_autosave(now)

    def _drain(self) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            try:
                self._apply(command)
            except Exception as exc:  # a failed command must never end the session
                self.post(Notice(f"{type(command).__name__.lower()} failed: {exc}", "error"))

    def _apply(self, command: Command) -> None:
        if isinstance(command, Pause):
            self._set_paused(True)
        elif isinstance(command, Resume):
            if self.trainer.diverged:
                self.post(
                    Notice(
                        "cannot resume: the model diverged; load a checkpoint (l) "
                        "or restart with a lower learning rate",
                        "error",
                    )
                )
                self.post(PausedChanged(True, self.trainer.iteration, diverged=True))
            else:
                self._set_paused(False)
        elif isinstance(command, SetTemperature):
            self.temperature = command.value
        elif isinstance(command, Sample):
            self._sample(command.length, command.prime, requested=True)
        elif isinstance(command, Save):
            self._save(command.path, "save")
        elif isinstance(command, Load):
            self._load(command.path)
        elif isinstance(command, Stop):
            self._stopping = True
            self._save_on_exit = command.save

    def _set_paused(self, paused: bool) -> None:
        if paused == self.paused:
            return
        self._report(time.perf_counter())
        self.paused = paused
        # Restart the rate clocks so the pause is not counted as slow training.
        now = time.perf_counter()
        self._last_report = now
        self._metric_mark = (now, self._chars_total())
        self.post(PausedChanged(paused, self.trainer.iteration))

    def _report(self, now: float) -> None:
        for sample in self._pending_samples:
            self.post(sample)
        self._pending_samples = []
        if self._pending:
            seconds = max(now - self._last_report, 1e-9)
            self.post(
                Progress(
                    iteration=self.trainer.iteration,
                    losses=self._pending,
                    smooth_loss=self.trainer.smooth_loss / self.trainer.loss_units,
                    chars_per_s=self._pending_chars / seconds,
                    elapsed=self.trainer.elapsed,
                    val_loss=self.trainer.last_val_loss,
                )
            )
            self._pending = []  # a new list: the message keeps the old one
            self._pending_chars = 0
        self._last_report = now
        self._flush_metrics()

    # -- sampling, saving, loading -----------------------------------------------------------

    def _sample(self, length: int, prime: str, requested: bool) -> None:
        trainer = self.trainer
        settings = SampleSettings(length=length, temperature=self.temperature)
        try:
            text = trainer.sample(settings, prime=prime or None)
        except CharrnnError as exc:
            self.post(Notice(str(exc), "error"))
            return
        loss = trainer.smooth_loss / trainer.loss_units
        sample = SampleReady(trainer.iteration, self.temperature, loss, text, prime, requested)
        if requested:
            self.post(sample)
        else:
            self._pending_samples.append(sample)  # posted with the next report: one wake-up

    def _save(self, path: Path, reason: str) -> bool:
        if self.trainer.diverged:
            self.post(Notice("not saved: the model diverged (its weights are not finite)", "error"))
            return False
        try:
            saved = checkpoint.save(self.trainer, path)
        except CharrnnError as exc:
            self.post(Notice(f"save failed: {exc}", "error"))
            return False
        except OSError as exc:  # full disk, quota, I/O error: report, keep training
            self.post(Notice(f"save failed: {path}: {exc.strerror or exc}", "error"))
            return False
        self.post(Saved(saved, self.trainer.iteration, reason))
        return True

    def _load(self, path: Path) -> None:
        try:
            ckpt = checkpoint.load(path)
            trainer = checkpoint.restore(ckpt, self._corpus_text(), self.trainer.corpus.name)
        except CharrnnError as exc:
            self.post(Notice(f"load refused: {exc}", "error"))
            return
        except OSError as exc:
            self.post(Notice(f"load failed: {path}: {exc.strerror or exc}", "error"))
            return
        self._report(time.perf_counter())
        self.trainer = trainer
        self._last_sampled = -1
        self._metric_mark = (time.perf_counter(), self._chars_total())
        self.post(Loaded(Path(path), trainer_info(trainer)))

    def _corpus_text(self) -> str:
        if callable(self._text):
            self._text = self._text()
        if self._text is None:
            t = self.trainer
            self._text = t.vocab.decode(np.concatenate([t.train_ids, t.val_ids]).tolist())
        return self._text

    def _diverged(self, n: int, loss: float) -> None:
        self._report(time.perf_counter())
        self.paused = True
        self.post(PausedChanged(True, self.trainer.iteration, diverged=True))
        self.post(
            Notice(
                f"training diverged at iteration {n} (loss {loss}): paused. Try a lower "
                "learning rate, or load an earlier checkpoint (l)",
                "error",
            )
        )

    def _autosave_deadline(self, now: float) -> float:
        every = self.settings.autosave_seconds
        return now + every if every > 0 else math.inf

    def _maybe_autosave(self, now: float) -> None:
        if now < self._next_autosave:
            return
        self._next_autosave = self._autosave_deadline(now)
        if not self.trainer.diverged:
            self._save(self.run_dir.latest, "autosave")

    def _exit_save(self) -> ExitReport:
        iteration = self.trainer.iteration
        if not self._save_on_exit:
            return ExitReport(iteration, None, None)
        if self.trainer.diverged:
            return ExitReport(iteration, None, "the model diverged; nothing saved")
        try:
            path = checkpoint.save(self.trainer, self.run_dir.latest)
        except (CharrnnError, OSError) as exc:
            return ExitReport(iteration, None, str(exc))
        self.post(Saved(path, iteration, "exit"))
        return ExitReport(iteration, path, None)

    # -- metrics.jsonl --------------------------------------------------------------------------

    def _record_metrics(self, n: int, smooth: float) -> None:
        now = time.perf_counter()
        since, chars_then = self._metric_mark
        chars = self._chars_total()
        rate = (chars - chars_then) / max(now - since, 1e-9)
        self._metric_mark = (now, chars)
        self._metrics.append(
            {
                "iteration": n,
                "loss": round(smooth, 6),
                "chars_per_s": round(rate, 1),
                "time": round(self.trainer.elapsed, 3),
                "wall": round(time.time(), 3),
            }
        )

    def _chars_total(self) -> int:
        t = self.trainer
        return t.iteration * t.config.batch * t.config.seq_length

    def _flush_metrics(self) -> None:
        if not self._metrics or self._metrics_broken:
            self._metrics.clear()
            return
        try:
            self.run_dir.append_metrics(self._metrics)
        except OSError as exc:
            self._metrics_broken = True  # say it once, keep training
            self.post(Notice(f"metrics not written: {exc.strerror or exc}", "warning"))
        self._metrics = []
