"""The training console: layout, keys, and the reactions to what the session reports."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import ClassVar

from textual import events
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer
from textual.worker import Worker, get_current_worker

import corpora
from engine import checkpoint
from engine.errors import CharrnnError
from engine.trainer import Trainer
from tui.messages import Loaded, Notice, PausedChanged, Progress, SampleReady, Saved
from tui.rundir import RunDir
from tui.screens import HelpScreen, LoadDialog, PrimeDialog, SaveDialog
from tui.screens.help import key_label
from tui.session import (
    ExitReport,
    Load,
    Pause,
    Resume,
    Sample,
    Save,
    Session,
    SessionSettings,
    SetTemperature,
    Stop,
)
from tui.themes import HIGH_CONTRAST, THEMES
from tui.widgets import LossPanel, MessageLine, SamplesPanel, StatusLine

TEMPERATURE_STEP = 0.1
TEMPERATURE_RANGE = (0.1, 3.0)
GIVE_WAY_SECONDS = 0.25  # training steps aside this long after a key, so the UI answers fast
# Seconds between progress reports (4 a second): the counter still looks live, and the UI
# thread's share of the interpreter (which it takes from training) stays small.
REPORT_INTERVAL = 0.25
QUIT_TIMEOUT = 5.0  # seconds to wait for the worker's final save before leaving anyway
EXIT_GRACE = 2.0  # seconds a signalled process may take to exit normally after saving


class ConsoleApp(App[int]):
    CSS_PATH = "console.tcss"
    TITLE = "charrnn"
    # Each key's tooltip doubles as its help-screen line and its command-palette title.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_pause", "Pause", id="pause", tooltip="Pause / resume training"),
        Binding(
            "plus,equals_sign",
            "temperature(1)",
            "Temp",
            key_display="+/-",
            id="temperature_up",
            tooltip="Temperature up by 0.1 (wilder samples; at most 3.0)",
        ),
        Binding(
            "minus",
            "temperature(-1)",
            "Temp down",
            key_display="-",
            show=False,
            id="temperature_down",
            tooltip="Temperature down by 0.1 (safer samples; at least 0.1)",
        ),
        Binding("n", "sample_now", "Sample", id="sample", tooltip="Sample now"),
        Binding(
            "p", "prime_sample", "Prime", show=False, id="prime", tooltip="Sample from a prime text"
        ),
        Binding("s", "save", "Save", id="save", tooltip="Save a checkpoint"),
        Binding(
            "l", "load", "Load", show=False, id="load", tooltip="Load a checkpoint and train it"
        ),
        Binding("q", "quit", "Quit", id="quit", tooltip="Save to the run directory and quit"),
        Binding("question_mark", "help", "Help", key_display="?", id="help", tooltip="All keys"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True, id="interrupt"),
    ]

    def __init__(
        self,
        trainer: Trainer,
        run_dir: RunDir,
        settings: SessionSettings | None = None,
        *,
        text: str | Callable[[], str] | None = None,
        theme: str = "dark",
        handle_signals: bool = False,
    ) -> None:
        super().__init__(ansi_color=True if theme == "ansi" else None)
        self.register_theme(HIGH_CONTRAST)
        self.theme = THEMES[theme]
        self.run_dir = run_dir
        self.session = Session(trainer, run_dir, self.post_message, settings, text=text)
        self.temperature = self.session.temperature
        self.paused = self.session.paused
        self.iteration = trainer.iteration
        self.sample_length = self.session.settings.sample_length
        self.handle_signals = handle_signals
        self.exit_signal: int | None = None
        self.worker: Worker | None = None
        self._quitting = False
        self.last_save: Path | None = None

    # -- layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        # Kept as attributes: App.query_one looks at the active screen, which may be a dialog.
        self.loss_panel = LossPanel(id="loss")
        self.loss_panel.border_title = "loss per character"
        self.samples = SamplesPanel(id="samples")
        self.samples.border_title = "samples"
        self.status = StatusLine(id="status")
        self.message_line = MessageLine(id="message")
        yield self.loss_panel
        yield self.samples
        yield self.status
        yield self.message_line
        yield Footer()

    def on_mount(self) -> None:
        info = self.session.info()  # before the worker starts: the only time the UI reads it
        self._show_trainer(info.summary, info.corpus, info.iteration, info.elapsed)
        self.loss_panel.reset(info.history, info.smooth_loss, info.val_loss)
        self.status.val_loss = info.val_loss
        status = self.status
        status.temperature = self.temperature
        status.run_dir = str(self.run_dir.path)
        status.state = "paused" if self.paused else "running"
        self.samples.focus()
        if self.handle_signals:
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGHUP, signal.SIGTERM):
                loop.add_signal_handler(signum, self._on_signal, signum)
        self.worker = self.run_worker(self._train, thread=True, name="training", group="training")

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self.session.give_way(GIVE_WAY_SECONDS)
        await super().on_event(event)

    def _train(self) -> ExitReport:
        worker = get_current_worker()
        return self.session.run(lambda: worker.is_cancelled)

    def _show_trainer(self, summary: str, corpus: str, iteration: int, elapsed: float) -> None:
        status = self.status
        status.summary, status.corpus = summary, corpus
        status.iteration, status.elapsed = iteration, elapsed
        self.iteration = iteration

    # -- what the session reports -------------------------------------------------------------

    def on_progress(self, msg: Progress) -> None:
        self.iteration = msg.iteration
        status = self.status
        status.iteration = msg.iteration
        status.chars_per_s = msg.chars_per_s
        status.elapsed = msg.elapsed
        status.val_loss = msg.val_loss
        self.loss_panel.add(msg.losses, msg.smooth_loss, msg.val_loss)
        self.samples.flush_if_due()

    def on_sample_ready(self, msg: SampleReady) -> None:
        self.samples.add_sample(msg.iteration, msg.temperature, msg.loss, msg.text, msg.prime)
        if msg.requested or self.paused:
            self.samples.flush()  # asked for now: show it now, not with the next report

    def on_notice(self, msg: Notice) -> None:
        self.message_line.show(msg.text, msg.severity)

    def on_paused_changed(self, msg: PausedChanged) -> None:
        self.paused = msg.paused
        self.status.state = "diverged" if msg.diverged else ("paused" if msg.paused else "running")
        self.status.iteration = self.iteration = msg.iteration

    def on_saved(self, msg: Saved) -> None:
        what = {
            "autosave": "autosaved",
            "exit": "saved on exit",
            "best": "best validation so far: saved",
        }.get(msg.reason, "saved")
        self.message_line.show(f"{what} iteration {msg.iteration:,} to {msg.path}")

    def on_loaded(self, msg: Loaded) -> None:
        info = msg.info
        self._show_trainer(info.summary, info.corpus, info.iteration, info.elapsed)
        self.loss_panel.reset(info.history, info.smooth_loss, info.val_loss)
        self.status.val_loss = info.val_loss
        if self.status.state == "diverged":
            self.status.state = "paused"
        self.message_line.show(f"loaded {msg.path} at iteration {info.iteration:,}")

    # -- actions (keys and palette) -------------------------------------------------------------

    def action_toggle_pause(self) -> None:
        # The screen changes at once; the worker obeys before its next step.
        self.paused = not self.paused
        self.session.send(Pause() if self.paused else Resume())
        if self.status.state != "diverged":
            self.status.state = "paused" if self.paused else "running"

    def action_temperature(self, direction: int) -> None:
        low, high = TEMPERATURE_RANGE
        value = round(self.temperature + direction * TEMPERATURE_STEP, 1)
        value = min(max(value, low), high)
        if value == self.temperature:
            self.message_line.show(f"temperature stays at {value:.1f} (range {low}–{high})")
            return
        self.temperature = value
        self.status.temperature = value
        self.session.send(SetTemperature(value))

    def action_sample_now(self) -> None:
        self.session.send(Sample(self.sample_length))

    def action_prime_sample(self) -> None:
        def chosen(result: tuple[str, int] | None) -> None:
            if result is not None:
                text, length = result
                self.session.send(Sample(length, prime=text))

        self.push_screen(PrimeDialog(self.sample_length), chosen)

    def action_save(self) -> None:
        # The last path used, else model.npz: saving again asks before overwriting it.
        proposed = self.last_save or self.run_dir.path / "model.npz"

        def chosen(path: Path | None) -> None:
            if path is not None:
                self.last_save = path
                self.message_line.show(f"saving to {path} …")
                self.session.send(Save(path))

        self.push_screen(SaveDialog(proposed), chosen)

    def action_load(self) -> None:
        try:
            found = self.run_dir.checkpoints()
        except OSError:
            found = []

        def chosen(path: Path | None) -> None:
            if path is not None:
                self.message_line.show(f"loading {path} …")
                self.session.send(Load(path))

        self.push_screen(LoadDialog(found), chosen)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.key_bindings()))

    async def action_quit(self) -> None:
        """Save to the run directory's latest.npz (in the worker, between steps) and leave."""
        if self._quitting:
            return
        self._quitting = True
        self.message_line.show(f"saving to {self.run_dir.latest} and quitting …")
        self.session.send(Stop(save=True))
        worker = self.worker
        deadline = asyncio.get_running_loop().time() + QUIT_TIMEOUT
        while worker is not None and not worker.is_finished:
            if asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.005)
        self.exit(return_code=128 + self.exit_signal if self.exit_signal else 0)

    def _on_signal(self, signum: int) -> None:
        self.exit_signal = signum
        threading.Thread(target=self._exit_after_save, args=(signum,), daemon=True).start()
        self.call_later(self.action_quit)

    def _exit_after_save(self, signum: int) -> None:
        """After a hang-up the terminal is gone and Textual's shutdown can block on it forever.
        Once the worker has saved the state (or failed to), leave for certain."""
        deadline = time.monotonic() + QUIT_TIMEOUT
        while self.session.exit_report is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(EXIT_GRACE)  # time for a normal exit that restores the terminal
        os._exit(128 + signum)

    # -- palette and help -------------------------------------------------------------------

    def key_bindings(self) -> list[Binding]:
        return [b for b in self.BINDINGS if isinstance(b, Binding) and b.id != "interrupt"]

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for binding in self.key_bindings():
            title = binding.tooltip or binding.description
            key = key_label(binding)
            yield SystemCommand(
                title, f"key: {key}", lambda action=binding.action: self.run_action(action)
            )
        for command in super().get_system_commands(screen):
            if command.title not in ("Quit", "Keys"):  # ours save first; ? lists our keys
                yield command


def run_console(trainer: Trainer, args: argparse.Namespace) -> int:
    """Open the console on `trainer`; on the way out, say where the state was saved."""
    run_dir = (
        RunDir(Path(args.run_dir)) if args.run_dir else RunDir.default_for(trainer.corpus.name)
    ).create()
    fps = args.fps
    settings = SessionSettings(
        temperature=args.temperature,
        sample_every=trainer.config.sample_every,
        sample_length=trainer.config.sample_length,
        report_interval=max(REPORT_INTERVAL, 1.0 / fps),
        autosave_seconds=args.autosave_minutes * 60.0,
        pause_at=None if args.iters is None else trainer.iteration + args.iters,
    )

    def text() -> str:  # read again only if a checkpoint is loaded: startup stays fast
        return corpora.load(args.corpus)[1]

    app = ConsoleApp(trainer, run_dir, settings, text=text, theme=args.theme, handle_signals=True)
    app.run()
    report = app.session.exit_report
    if report is None:
        # The worker never finished (it should have): save from here, it is idle now.
        report = _save_after(app.session.trainer, run_dir)
    final = app.session.trainer
    if args.save and report.path is not None:
        checkpoint.save(final, args.save)
        _say(f"saved iteration {report.iteration:,} to {args.save}")
    if report.path is not None:
        _say(f"saved iteration {report.iteration:,} to {report.path}")
        _say(f"resume with: charrnn train {args.corpus} --resume {report.path}")
    elif report.error:
        _say(f"charrnn: state not saved: {report.error}")
    return app.return_code or 0  # 1 if the app crashed, 128+N after signal N


def _save_after(trainer: Trainer, run_dir: RunDir) -> ExitReport:
    if trainer.diverged:
        return ExitReport(trainer.iteration, None, "the model diverged; nothing saved")
    try:
        return ExitReport(trainer.iteration, checkpoint.save(trainer, run_dir.latest), None)
    except (CharrnnError, OSError) as exc:
        return ExitReport(trainer.iteration, None, str(exc))


def _say(line: str) -> None:
    with contextlib.suppress(OSError):  # after SIGHUP the terminal is gone; the file matters
        print(line, file=sys.stderr, flush=True)
