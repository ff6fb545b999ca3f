"""The training session: a Trainer driven by one thread, steered by protocol commands.

The worker thread owns the Trainer. Viewers never read or write weights; they send commands,
which the worker applies between two steps, so a save or a sample never sees a half-updated
model. What happens goes out as protocol events to the session's subscribers (`subscribe`),
batched so posting stays cheap. This is the one step loop: the console, the background run
and the headless log all run a Session; where they differ is said in its `Mode`. Nothing
here imports Textual.
"""

from __future__ import annotations

import contextlib
import math
import queue
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine import checkpoint
from engine.errors import CharrnnError
from engine.inspect import StepStats, step_statistics, take_snapshot
from engine.snapshot_file import stats_to_dict, write_snapshot
from engine.trainer import StepResult, Trainer
from tui.runs.policy import (
    ExitReport,
    RunPolicy,
    RunSettings,
    quiet_overflow,
    trainer_info,
    validated_at,
    validation_note,
)
from tui.runs.protocol import (
    Command,
    Event,
    Inspect,
    Load,
    Loaded,
    Notice,
    Pause,
    PausedChanged,
    Progress,
    ProtocolError,
    Resume,
    Sample,
    SampleReady,
    Save,
    Saved,
    SetTemperature,
    SnapshotReady,
    Step,
    Stop,
    TemperatureChanged,
    Welcome,
    fit_welcome,
    from_fields,
)
from tui.runs.rundir import SNAPSHOT, RunDir

IDLE_WAIT = 0.1  # seconds a paused worker sleeps before looking at cancellation again
GIVE_WAY_NAP = 0.002  # seconds the worker sleeps at a time while the UI has priority
REPORT_INTERVAL = 0.25  # seconds between Progress events: looks live, costs the UI little
RECENT_SAMPLES = 20  # samples a newly attached viewer is shown
SNAPSHOT_FILE = SNAPSHOT  # in the run directory: what the inspect screen reads
STEP_NEEDS_PAUSE = "one step at a time needs a paused run: press space first"


@dataclass(frozen=True)
class Mode:
    """Where front ends differ around the one step loop."""

    # At --iters: finish (nobody may be watching to resume it) or pause (a viewer decides).
    finish_at_stop: bool = False
    # On divergence: stop and save nothing (nobody can load a checkpoint) or pause.
    stop_on_divergence: bool = False
    # Periodic samples: posted at once (a log prints them in order with its lines) or with
    # the next progress report (a screen wakes up once for both).
    samples_at_once: bool = False


CONSOLE = Mode()
BACKGROUND = Mode(finish_at_stop=True)
HEADLESS = Mode(finish_at_stop=True, stop_on_divergence=True, samples_at_once=True)


@dataclass(frozen=True)
class Call:
    """Run `fn(session)` in the worker between two steps (in-process only, never sent on a
    socket): how a server reads the trainer without racing the training thread."""

    fn: Callable[[Session], object]


class Session:
    def __init__(
        self,
        trainer: Trainer,
        run_dir: RunDir | None,
        post: Callable[[Event], object] | None = None,
        settings: RunSettings | None = None,
        *,
        text: str | Callable[[], str] | None = None,
        start_paused: bool = False,
        report_interval: float = REPORT_INTERVAL,
        mode: Mode = CONSOLE,
        on_step: Callable[[StepResult], object] | None = None,
    ) -> None:
        """`post`, if given, is the first subscriber; `on_step` is called with every step's
        result, in the training thread (for a front end that logs each step)."""
        self.trainer = trainer
        self.run_dir = run_dir
        self.settings = settings or RunSettings()
        self._subscribers: list[Callable[[Event], object]] = [post] if post else []
        self.policy = RunPolicy(run_dir, self.settings, self.post)
        self.mode = mode
        self._on_step = on_step
        # The corpus (or how to read it), needed only to resume a loaded checkpoint on it.
        self._text = text
        self._commands: queue.SimpleQueue[Command | Call] = queue.SimpleQueue()
        self._wake = threading.Event()  # set whenever a command arrives
        self.paused = start_paused
        self.temperature = self.settings.temperature
        self.report_interval = report_interval
        # The budget (--iters, --minutes) ends the run or pauses it once: space resumes past.
        self.budget_open = self.settings.end_at_budget
        self.budget_reached_at: int | None = None
        # The time budget that finished the run, in words for the log (the iteration an
        # --iters run ends at needs none: the user named it).
        self.ended_by: str | None = None
        self.finished = False
        self.diverged_at: int | None = None  # the iteration that diverged, in a stopped run
        self.recent_samples: deque[SampleReady] = deque(maxlen=RECENT_SAMPLES)
        for record in run_dir.recent_samples(RECENT_SAMPLES) if run_dir else []:
            with contextlib.suppress(ProtocolError):  # a line no viewer could read: skip it
                self.recent_samples.append(from_fields(SampleReady, record))
        self.exit_report: ExitReport | None = None
        self._stopping = False
        self._save_on_exit = True
        self._pending: list[float] = []
        self._pending_chars = 0
        self._pending_samples: list[SampleReady] = []
        self._give_way_until = 0.0

    # -- events out ---------------------------------------------------------------------------

    def subscribe(self, post: Callable[[Event], object]) -> None:
        """Send every event to `post` too (it must be thread-safe: it is called from the
        training thread). Subscribe before `train` starts."""
        self._subscribers.append(post)

    def post(self, event: Event) -> None:
        """Hand `event` to every subscriber (the policy reports through here too)."""
        for subscriber in self._subscribers:
            subscriber(event)

    # -- viewer side: only enqueue ----------------------------------------------------------

    def send(self, command: Command | Call) -> None:
        self._commands.put(command)
        self._wake.set()

    def give_way(self, seconds: float) -> None:
        """Let the UI thread have the interpreter for a moment (the user pressed a key).

        Both threads need the GIL; shared fairly, a screen change takes twice as long while
        training runs. Stepping aside for a fraction of a second after each key keeps the
        console snappy at the cost of a few milliseconds of training per key press.
        """
        self._give_way_until = time.perf_counter() + seconds

    def welcome(self) -> Welcome:
        """The whole picture for a new viewer, cut to fit one protocol line (the recent
        samples can be long). Call before the worker starts, or from it."""
        welcome = Welcome(
            info=trainer_info(self.trainer),
            paused=self.paused,
            temperature=self.temperature,
            sample_length=self.settings.sample_length,
            diverged=self.trainer.diverged,
            samples=list(self.recent_samples),
        )
        return fit_welcome(welcome)

    # -- worker side ------------------------------------------------------------------------

    def train(self, is_cancelled: Callable[[], bool] = lambda: False) -> ExitReport:
        """The worker's body: train until stopped or cancelled, then save the state (only
        then: after a crash the files already saved are worth more than the model)."""
        self._last_report = time.perf_counter()
        self.policy.restart_clock(self.trainer)
        note = validation_note(self.trainer)
        if note:
            self.post(Notice(note))
        try:
            while not self._stopping and not is_cancelled():
                if not self._commands.empty():
                    self._drain()
                elif self.paused:
                    self._report(time.perf_counter())
                    self._wake.wait(IDLE_WAIT)
                    self._wake.clear()
                    self.policy.autosave_if_due(self.trainer, time.perf_counter())
                elif time.perf_counter() < self._give_way_until:
                    time.sleep(GIVE_WAY_NAP)
                    self._last_report += GIVE_WAY_NAP  # not training time: keep it out of chars/s
                else:
                    self._train_one()
        except BaseException as exc:
            self.exit_report = self.policy.crashed(self.trainer, exc)
            raise
        finally:
            self._report(time.perf_counter())
        self.exit_report = self._exit_save()
        reason = "diverged" if self.diverged_at is not None else self.exit_report.error
        self.policy.end(self.trainer, "finished" if self.finished else "stopped", reason)
        return self.exit_report

    def _train_one(self) -> None:
        trainer, policy = self.trainer, self.policy
        n = trainer.iteration
        if self.budget_open and trainer.budget.spent(n, trainer.elapsed):
            self._reached_budget(n)
            return
        if policy.sample_due(trainer):
            self._sample(None, "", requested=False)
        with quiet_overflow():
            result = trainer.step()
        if not math.isfinite(result.loss) or trainer.diverged:
            self._diverged(n, result.loss)
            return
        self._stepped(result)
        now = time.perf_counter()
        if now - self._last_report >= self.report_interval:
            self._report(now)
        policy.autosave_if_due(trainer, now)

    def _stepped(self, result: StepResult) -> None:
        """What follows every finite step: its loss for the next report, the front end's
        look at it, then the policy's records and saves."""
        self._pending.append(result.nats_per_char)
        self._pending_chars += result.chars
        if self._on_step is not None:
            self._on_step(result)
        self.policy.after_step(self.trainer, result)

    def _reached_budget(self, n: int) -> None:
        """--iters or --minutes: finish, or pause (once: space resumes past it)."""
        self.budget_open, self.budget_reached_at = False, n
        trainer = self.trainer
        what = f"reached iteration {n:,} (--iters)"
        if trainer.budget.time_ran_out(n, trainer.elapsed):
            what = self.ended_by = (
                f"spent the time budget at iteration {n:,}, "
                f"{trainer.elapsed / 60:.3g} min of training (--minutes)"
            )
        if self.mode.finish_at_stop:
            self._stopping = self.finished = True
            self.post(Notice(f"{what}: finished"))
            return
        self._set_paused(True)
        self.post(Notice(f"{what}: paused; space resumes"))

    def budget_left(self) -> tuple[int | None, float | None] | None:
        """(iterations, minutes) the budget has left for a run continued elsewhere (`d`),
        None once the user has trained past it (no limit then)."""
        trainer, budget = self.trainer, self.trainer.budget
        if not budget.limited or (
            not self.budget_open and trainer.iteration != self.budget_reached_at
        ):
            return None
        iters = None if budget.iterations is None else max(budget.iterations - trainer.iteration, 0)
        left = budget.seconds_left(trainer.elapsed)
        return iters, None if left is None else left / 60.0

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

    def _apply(self, command: Command | Call) -> None:
        if isinstance(command, Call):
            command.fn(self)
        elif isinstance(command, Pause):
            self._set_paused(True)
        elif isinstance(command, Resume):
            self._resume()
        elif isinstance(command, SetTemperature):
            self.temperature = float(command.value)
            self.post(TemperatureChanged(self.temperature))
        elif isinstance(command, Sample):
            self._sample(int(command.length), str(command.prime), requested=True)
        elif isinstance(command, Save):
            self.policy.save(self.trainer, Path(command.path), "save")
        elif isinstance(command, Load):
            self._load(Path(command.path))
        elif isinstance(command, Stop):
            self._stopping = True
            self._save_on_exit = bool(command.save)
        elif isinstance(command, Inspect):
            self._snapshot(None)
        elif isinstance(command, Step):
            self._observed_step()

    def _resume(self) -> None:
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

    def _set_paused(self, paused: bool) -> None:
        if paused == self.paused:
            return
        self._report(time.perf_counter())
        self.paused = paused
        self.policy.note(self.trainer, paused=paused, force=True)
        # Restart the rate clocks so the pause is not counted as slow training.
        self._last_report = time.perf_counter()
        self.policy.restart_clock(self.trainer)
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
                    smooth_loss=self.trainer.smooth_nats_per_char,
                    chars_per_s=self._pending_chars / seconds,
                    elapsed=self.trainer.elapsed,
                    val_loss=self.trainer.last_val_loss,
                    val_iteration=validated_at(self.trainer),
                    lr=self.trainer.learning_rate,
                )
            )
            self._pending = []  # a new list: the event keeps the old one
            self._pending_chars = 0
        self._last_report = now
        self.policy.flush_records()
        self.policy.note(self.trainer)

    # -- sampling, loading, divergence, exit -------------------------------------------------

    def _sample(self, length: int | None, prime: str, requested: bool) -> None:
        sample = self.policy.sample(self.trainer, self.temperature, length, prime, requested)
        if sample is None:
            return
        self.recent_samples.append(sample)
        if requested or self.mode.samples_at_once:
            self.post(sample)
        else:
            self._pending_samples.append(sample)  # posted with the next report: one wake-up

    def _snapshot(self, stats: StepStats | None) -> None:
        """Write the weights for the inspect screen, between two steps."""
        # Absolute: the viewer that reads it may run in another directory.
        folder = self.run_dir.path.resolve() if self.run_dir else Path(tempfile.gettempdir())
        path = write_snapshot(take_snapshot(self.trainer, stats=stats), folder / SNAPSHOT_FILE)
        as_dict = stats_to_dict(stats) if stats is not None else None
        self.post(SnapshotReady(str(path), self.trainer.iteration, as_dict))

    def _observed_step(self) -> None:
        """Exactly one training step with its statistics (paused runs only)."""
        if not self.paused or self.trainer.diverged:
            self.post(Notice(STEP_NEEDS_PAUSE, "warning"))
            return
        n = self.trainer.iteration
        with quiet_overflow():
            result, stats = step_statistics(self.trainer)
        if not math.isfinite(result.loss) or self.trainer.diverged:
            self._diverged(n, result.loss)
            return
        self._stepped(result)
        self._report(time.perf_counter())
        self._snapshot(stats)

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
        # A loaded checkpoint's budget ends nothing: it trains until it is stopped.
        self.budget_open = False
        self.policy.forget_samples()
        self.policy.restart_clock(trainer)
        self.post(Loaded(str(path), trainer_info(trainer)))

    def _corpus_text(self) -> str:
        if callable(self._text):
            self._text = self._text()
        if self._text is None:
            t = self.trainer
            self._text = t.vocab.decode(np.concatenate([t.train_ids, t.val_ids]).tolist())
        return self._text

    def _diverged(self, n: int, loss: float) -> None:
        self._report(time.perf_counter())
        if self.mode.stop_on_divergence:
            self._stopping, self._save_on_exit, self.diverged_at = True, False, n
            self.post(
                Notice(
                    f"training diverged at iteration {n} (loss is {loss}); nothing saved; "
                    "try a lower learning rate",
                    "error",
                )
            )
            return
        self.paused = True
        self.post(PausedChanged(True, self.trainer.iteration, diverged=True))
        self.post(
            Notice(
                f"training diverged at iteration {n} (loss {loss}): paused. Try a lower "
                "learning rate, or load an earlier checkpoint (l)",
                "error",
            )
        )

    def _exit_save(self) -> ExitReport:
        if not self._save_on_exit:
            return ExitReport(self.trainer.iteration)
        report = self.policy.exit_save(self.trainer)
        for path in report.saved:
            self.post(Saved(str(path), report.iteration, "exit"))
        return report
