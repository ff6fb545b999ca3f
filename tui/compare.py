"""`charrnn compare RUN_DIR...`: several runs' loss curves on one chart, live.

Each run directory's metrics.jsonl is read once to open, then looked at twice a second
(one stat when unchanged), so runs still training keep drawing. A legend names each run by
its letter, preset and the hyper-parameters that tell runs apart.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Footer, Static

from engine.errors import CharrnnError
from tui.runs.metrics import POLL_SECONDS, RunCurves, open_run
from tui.screens.curves import CURVE_BINDINGS, CurvesActions
from tui.widgets.curves import LETTERS, LossCurves


def open_runs(paths: Sequence[Path]) -> list[RunCurves]:
    """Every run, or a CharrnnError naming the first that has nothing to show."""
    if not paths:
        raise CharrnnError("compare needs at least one run directory")
    if len(paths) > len(LETTERS):
        raise CharrnnError(f"compare shows at most {len(LETTERS)} runs (got {len(paths)})")
    return [open_run(Path(p)) for p in paths]


def skipped_notes(runs: Sequence[RunCurves]) -> list[str]:
    """One line per run whose metrics had unreadable lines (skipped, not fatal)."""
    return [note for run in runs if run.source and (note := run.source.skipped_note())]


def default_shown(runs: Sequence[RunCurves]) -> str:
    """Held-out loss is what tells runs apart; with six curves a small chart is a tangle, so
    start with it alone when every run has it (v shows the training curves too)."""
    with_val = [bool(run.metrics.val) for run in runs]
    if all(with_val):
        return "held-out"
    return "both" if any(with_val) else "training"


class CompareApp(CurvesActions, App[int]):
    TITLE = "charrnn compare"
    CSS = """
    #compare-notes { height: auto; max-height: 3; padding: 0 1; color: $warning; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q,escape", "quit", "Quit", id="compare.quit"),
        *CURVE_BINDINGS,
    ]

    def __init__(self, runs: Sequence[RunCurves]) -> None:
        super().__init__()
        self.runs = list(runs)

    def compose(self) -> ComposeResult:
        # Several runs: +/- zoom and the arrows pan when the chart has focus, r resets.
        self.curves = LossCurves(self.runs, zoom_keys=True, id="curves")
        self.curves.shown = default_shown(self.runs)
        self.notes = Static(id="compare-notes")
        yield self.curves
        yield self.notes
        yield Footer()

    def on_mount(self) -> None:
        self._show_notes()
        self.set_interval(POLL_SECONDS, self.poll)

    def poll(self) -> None:
        """Read what the runs appended; the chart redraws on its own when they changed."""
        if any([run.poll() for run in self.runs]):  # a list: poll every run, not the first
            self._show_notes()

    def _show_notes(self) -> None:
        notes = skipped_notes(self.runs)
        self.notes.update("\n".join(notes))
        self.notes.display = bool(notes)

    def action_quit(self) -> None:
        self.exit(0)


def run_compare(paths: list[Path]) -> int:
    """The `charrnn compare` command: the exit status. A run that cannot be shown is a
    CharrnnError (one line; the CLI prints it and exits 2); unreadable lines are skipped
    and said on stderr, before the chart opens and under it."""
    runs = open_runs(paths)
    for note in skipped_notes(runs):
        print(f"charrnn: warning: {note}", file=sys.stderr)
    app = CompareApp(runs)
    app.run()
    return app.return_code or 0
