"""The training console: layout, keys, and the reactions to what the run reports.

The console's state (running, paused or diverged; the sampling temperature) lives in the
app's reactives; the status line is bound to them. The run itself is reached through a link
(tui/links.py), so this code is the same whether the run trains in this process or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import ClassVar

from textual import events
from textual.app import App, ComposeResult, ScreenStackError, SystemCommand
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer

from engine.errors import CharrnnError
from engine.snapshot_file import read_snapshot, stats_from_dict
from tui.docs_pointers import explained
from tui.links import InProcessLink, Link, LinkClosed, SessionEvent
from tui.runs.metrics import RunCurves, follow_run
from tui.runs.protocol import (
    Ended,
    Inspect,
    Load,
    Loaded,
    Notice,
    Pause,
    PausedChanged,
    Progress,
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
    TrainerInfo,
    Welcome,
)
from tui.runs.rundir import RunDir
from tui.runs.session import STEP_NEEDS_PAUSE, Session
from tui.screens import ConfirmScreen, HelpScreen, LoadDialog, PrimeDialog, SaveDialog
from tui.screens.curves import CurvesScreen
from tui.screens.help import key_label
from tui.screens.inspect import InspectScreen
from tui.themes import HIGH_CONTRAST, THEMES
from tui.widgets import LossPanel, MessageLine, SamplesPanel, StatusLine

TEMPERATURE_STEP = 0.1
TEMPERATURE_RANGE = (0.1, 3.0)
GIVE_WAY_SECONDS = 0.25  # training steps aside this long after a key, so the UI answers fast
QUIT_TIMEOUT = 5.0  # seconds to wait for the run's final save before leaving anyway
EXIT_GRACE = 2.0  # seconds a signalled process may take to exit normally after saving
SAVED_WORDS = {"autosave": "autosaved", "exit": "saved on exit", "best": "best validation: saved"}
# What q means to a viewer of a detached run: leaving never stops the training.
ATTACHED_TOOLTIPS = {"quit": "Leave this viewer; the run goes on training (attach again later)"}


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
        Binding(
            "i",
            "inspect",
            "Inspect",
            id="inspect",
            tooltip="Inspect the network: predictions, neurons, gates, one step of backprop, "
            "the training window and the gradient through time",
        ),
        Binding(
            "g",
            "curves",
            "Curves",
            id="curves",
            tooltip="Loss curves: training and held-out loss over the whole run",
        ),
        Binding("s", "save", "Save", id="save", tooltip="Save a checkpoint"),
        Binding(
            "l", "load", "Load", show=False, id="load", tooltip="Load a checkpoint and train it"
        ),
        Binding("q", "quit", "Quit", id="quit", tooltip="Save to the run directory and quit"),
        Binding(
            "d",
            "detach",
            "Detach",
            show=False,
            id="detach",
            tooltip="Detach: training goes on in the background (charrnn attach to return)",
        ),
        Binding(
            "Q",
            "stop_run",
            "Stop run",
            show=False,
            id="stop_run",
            tooltip="Stop the run (asks first): save latest.npz and end training",
        ),
        Binding("question_mark", "help", "Help", key_display="?", id="help", tooltip="All keys"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True, id="interrupt"),
    ]

    run_state = reactive("running")  # running, paused or diverged
    temperature = reactive(1.0)

    def __init__(
        self,
        link: Link,
        run_dir: RunDir,
        *,
        theme: str = "dark",
        handle_signals: bool = False,
    ) -> None:
        super().__init__(ansi_color=True if theme == "ansi" else None)
        self.register_theme(HIGH_CONTRAST)
        self.theme = THEMES[theme]
        self.link = link
        self.run_dir = run_dir
        self.sample_length = 200  # the run's own, from its Welcome
        self.handle_signals = handle_signals
        self.exit_signal: int | None = None
        self._quitting = False
        # How the console ended: quit, detach, stopped (by this console), ended (the run
        # said it finished or was stopped), refused (turned away) or lost.
        self.outcome = "quit"
        self.outcome_reason = ""
        self.ended: Ended | None = None  # how the run ended, as it told this console
        self.welcomed = False  # the run has answered at least once
        self.last_save: Path | None = None
        self.curves: RunCurves | None = None  # the curves view's data, read from metrics.jsonl
        self._handlers: dict[type, Callable] = {
            Welcome: self._on_welcome,
            Progress: self._on_progress,
            SampleReady: self._on_sample_ready,
            Notice: self._on_notice,
            PausedChanged: self._on_paused_changed,
            TemperatureChanged: self._on_temperature_changed,
            Saved: self._on_saved,
            Loaded: self._on_loaded,
            SnapshotReady: self._on_snapshot_ready,
        }
        self._awaiting_snapshot = False
        self.latest_sample = ""  # for the inspect screen's `g`

    @property
    def session(self) -> Session | None:
        """The in-process session, when this console trains the run itself."""
        return self.link.session if isinstance(self.link, InProcessLink) else None

    @property
    def paused(self) -> bool:
        return self.run_state != "running"

    # -- layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        # Kept as attributes: App.query_one looks at the active screen, which may be a dialog.
        self.loss_panel = LossPanel(id="loss")
        self.loss_panel.border_title = "loss per character"
        self.loss_panel.border_subtitle = explained("console")
        self.samples = SamplesPanel(id="samples")
        self.samples.border_title = "samples"
        self.status = StatusLine(id="status").data_bind(
            state=ConsoleApp.run_state, temperature=ConsoleApp.temperature
        )
        self.message_line = MessageLine(id="message")
        yield self.loss_panel
        yield self.samples
        yield self.status
        yield self.message_line
        yield Footer()

    def on_mount(self) -> None:
        self.status.run_dir = str(self.run_dir.path)
        self.samples.focus()
        if self.handle_signals:
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGHUP, signal.SIGTERM):
                loop.add_signal_handler(signum, self._on_signal, signum)
        self.link.start(self)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self.link.give_way(GIVE_WAY_SECONDS)
        await super().on_event(event)

    # -- what the run reports -----------------------------------------------------------------

    def on_session_event(self, message: SessionEvent) -> None:
        # Closing, the console's screens are gone before the run's last reports: no reader.
        with contextlib.suppress(ScreenStackError):
            self._handlers[type(message.event)](message.event)

    def _on_welcome(self, event: Welcome) -> None:
        self.welcomed = True
        self.sample_length = event.sample_length
        self.temperature = event.temperature
        self.run_state = "diverged" if event.diverged else "paused" if event.paused else "running"
        self._show_trainer(event.info)
        for sample in event.samples:
            self._on_sample_ready(sample)
        self.samples.flush()

    def _show_trainer(self, info: TrainerInfo) -> None:
        status = self.status
        status.summary, status.corpus = info.summary, info.corpus
        status.iteration, status.elapsed = info.iteration, info.elapsed
        status.lr, status.budget_seconds = info.lr, info.budget_seconds
        status.val_loss, status.val_iteration = info.val_loss, info.val_iteration
        self.loss_panel.reset(info.history, info.smooth_loss, info.val_loss, info.best_val_loss)

    def _on_progress(self, event: Progress) -> None:
        status = self.status
        status.iteration = event.iteration
        status.chars_per_s = event.chars_per_s
        status.elapsed = event.elapsed
        status.lr = event.lr
        status.val_loss, status.val_iteration = event.val_loss, event.val_iteration
        self.loss_panel.add(event.losses, event.smooth_loss, event.val_loss)
        self.samples.flush_if_due()

    def _on_sample_ready(self, event: SampleReady) -> None:
        self.latest_sample = event.text
        if isinstance(self.screen, InspectScreen):
            self.screen.set_latest_sample(event.text)
        self.samples.add_sample(
            event.iteration, event.temperature, event.loss, event.text, event.prime
        )
        if event.requested or self.paused:
            self.samples.flush()  # asked for now: show it now, not with the next report

    def _on_notice(self, event: Notice) -> None:
        self.message_line.show(event.text, event.severity)
        if isinstance(self.screen, InspectScreen):  # it covers the console's message line
            self.screen.say(event.text)

    def _on_paused_changed(self, event: PausedChanged) -> None:
        self.run_state = "diverged" if event.diverged else "paused" if event.paused else "running"
        self.status.iteration = event.iteration

    def _on_temperature_changed(self, event: TemperatureChanged) -> None:
        self.temperature = event.value

    def _on_saved(self, event: Saved) -> None:
        what = SAVED_WORDS.get(event.reason, "saved")
        self.message_line.show(f"{what} iteration {event.iteration:,} to {event.path}")

    def _on_loaded(self, event: Loaded) -> None:
        self._show_trainer(event.info)
        if self.run_state == "diverged":
            self.run_state = "paused"
        self.message_line.show(f"loaded {event.path} at iteration {event.info.iteration:,}")

    # -- actions (keys and palette) -------------------------------------------------------------

    def action_toggle_pause(self) -> None:
        # The screen changes at once; the run obeys before its next step.
        pausing = not self.paused
        self.link.send(Pause() if pausing else Resume())
        if self.run_state != "diverged":
            self.run_state = "paused" if pausing else "running"

    def action_temperature(self, direction: int) -> None:
        low, high = TEMPERATURE_RANGE
        value = min(max(round(self.temperature + direction * TEMPERATURE_STEP, 1), low), high)
        if value == self.temperature:
            self.message_line.show(f"temperature stays at {value:.1f} (range {low}–{high})")
            return
        self.temperature = value
        self.link.send(SetTemperature(value))

    def action_sample_now(self) -> None:
        self.link.send(Sample(self.sample_length))

    def action_prime_sample(self) -> None:
        def chosen(result: tuple[str, int] | None) -> None:
            if result is not None:
                text, length = result
                self.link.send(Sample(length, prime=text))

        self.push_screen(PrimeDialog(self.sample_length), chosen)

    def action_save(self) -> None:
        # The last path used, else model.npz: saving again asks before overwriting it.
        proposed = self.last_save or self.run_dir.path / "model.npz"

        def chosen(path: Path | None) -> None:
            if path is not None:
                self.last_save = path
                self.message_line.show(f"saving to {path} …")
                self.link.send(Save(str(path.resolve())))  # the run may have another cwd

        self.push_screen(SaveDialog(proposed, self.run_dir.path), chosen)

    def action_load(self) -> None:
        try:
            found = self.run_dir.checkpoints()
        except OSError:
            found = []

        def chosen(path: Path | None) -> None:
            if path is not None:
                self.message_line.show(f"loading {path} …")
                self.link.send(Load(str(path.resolve())))

        self.push_screen(LoadDialog(found), chosen)

    def action_inspect(self) -> None:
        if isinstance(self.screen, InspectScreen) or self._awaiting_snapshot:
            return
        self._awaiting_snapshot = True
        self.message_line.show("taking a snapshot of the weights …")
        self.link.send(Inspect())

    def _on_snapshot_ready(self, event: SnapshotReady) -> None:
        """Open the inspect screen on the snapshot this console asked for, or show a step
        (from any viewer) on the screen that is open."""
        screen = self.screen if isinstance(self.screen, InspectScreen) else None
        if not (self._awaiting_snapshot or (screen and event.stats)):
            return
        try:
            snapshot = read_snapshot(Path(event.path))
            stats = stats_from_dict(event.stats) if event.stats else None
        except CharrnnError as exc:
            self.message_line.show(f"inspect failed: {exc}", "error")
            self._awaiting_snapshot = False
            return
        except (KeyError, TypeError):  # a malformed event: skipped, as decode skips one
            self._awaiting_snapshot = False
            return
        if screen is not None and stats is not None:
            screen.show_step(stats, snapshot)
        elif self._awaiting_snapshot:
            self.message_line.show(f"inspecting the weights of iteration {event.iteration:,}")
            self.push_screen(
                InspectScreen(
                    snapshot,
                    latest_sample=self.latest_sample or None,
                    on_step=self._request_step,
                )
            )
        self._awaiting_snapshot = False

    def _request_step(self) -> str | None:
        """`.` on the inspect screen: ask the run for one observed step, or say at once why
        it would refuse (the run's own refusal reaches the screen too, as a Notice)."""
        if self.run_state != "paused":
            return STEP_NEEDS_PAUSE
        self.link.send(Step())
        return None

    def action_curves(self) -> None:
        if isinstance(self.screen, CurvesScreen):
            return
        if self.curves is None:  # read run.json once: which preset and config this run has
            self.curves = follow_run(self.run_dir.path)
        self.push_screen(CurvesScreen(self.curves))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.key_bindings(), docs=explained("console")))

    async def action_quit(self) -> None:
        """In-process: save to latest.npz (between two steps) and leave. Attached: leave the
        run training."""
        if self.link.detaches:
            await self._leave("detach", "leaving: the run goes on training …")
        else:
            await self._leave("quit", f"saving to {self.run_dir.latest} and quitting …")

    async def action_detach(self) -> None:
        """In-process: save the exact state, so that a background run continues from it."""
        await self._leave("detach", f"saving to {self.run_dir.latest} to detach …")

    def action_stop_run(self) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.outcome = "stopped"
                self.message_line.show("stopping the run: saving latest.npz …")
                self.link.send(Stop(save=True))  # the run closes the link once it has saved

        self.push_screen(
            ConfirmScreen("Stop the run? It saves latest.npz and training ends."), answered
        )

    def on_link_closed(self, message: LinkClosed) -> None:
        self.ended = message.ended
        if self.outcome != "stopped":
            kind = "ended" if message.ended else "refused" if message.refused else "lost"
            self.outcome = kind
        self.outcome_reason = message.reason
        crashed = message.ended is not None and message.ended.state == "crashed"
        fine = self.outcome in ("stopped", "ended") and not crashed
        self.exit(return_code=0 if fine else 1)

    async def _leave(self, outcome: str, message: str) -> None:
        if self._quitting:
            return
        self._quitting = True
        self.outcome = outcome
        self.message_line.show(message)
        await self.link.close(QUIT_TIMEOUT)
        self.exit(return_code=128 + self.exit_signal if self.exit_signal else 0)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Stopping a run apart from leaving it only means something to a detached run's viewer.
        return action != "stop_run" or self.link.detaches

    def _on_signal(self, signum: int) -> None:
        self.exit_signal = signum
        threading.Thread(target=self._exit_after_save, args=(signum,), daemon=True).start()
        self.call_later(self.action_quit)

    def _exit_after_save(self, signum: int) -> None:
        """After a hang-up the terminal is gone and Textual's shutdown can block on it forever.
        Once the run has saved its state (or failed to), leave for certain."""
        deadline = time.monotonic() + QUIT_TIMEOUT
        session = self.session
        while session and session.exit_report is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(EXIT_GRACE)  # time for a normal exit that restores the terminal
        os._exit(128 + signum)

    # -- palette and help -------------------------------------------------------------------

    def key_bindings(self) -> list[Binding]:
        """The keys that mean something here, described as they act on this link."""
        found = []
        for b in self.BINDINGS:
            if not isinstance(b, Binding) or b.id == "interrupt":
                continue
            if not self.check_action(b.action, ()):
                continue
            if self.link.detaches and b.action in ATTACHED_TOOLTIPS:
                b = dataclasses.replace(b, tooltip=ATTACHED_TOOLTIPS[b.action])
            found.append(b)
        return found

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
