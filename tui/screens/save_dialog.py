"""Ask where to save; propose a file in the run directory; confirm before overwriting a
checkpoint. What --save refuses (a file that is not a checkpoint, the run's own records) is
refused here at once, and again by the run."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from engine.errors import CharrnnError
from tui.runs.save_target import check_save_target
from tui.screens.confirm import ConfirmScreen


class SaveDialog(ModalScreen[Path | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="save.cancel")
    ]

    def __init__(self, proposed: Path, run_dir: Path | None = None) -> None:
        super().__init__()
        self.proposed = proposed
        self.run_dir = run_dir

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Save a checkpoint to", classes="dialog-title")
            yield Input(str(self.proposed), id="save-path")
            yield Label("", id="save-error", classes="dialog-error", markup=False)
            yield Label("Enter: save    Escape: cancel", classes="dialog-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        error = self.query_one("#save-error", Label)
        if not text:
            error.update("type a file name, e.g. runs/model.npz")
            return
        path = Path(text).expanduser()
        if path.suffix != ".npz" and not path.is_dir():
            path = path.with_name(path.name + ".npz")  # so `l` and the load dialog's list find it
        try:  # a pipe, a directory, a record, not a checkpoint: said here, at once
            check_save_target(path, run_dir=self.run_dir)
        except CharrnnError as exc:
            error.update(str(exc))
            return
        if path.exists():  # a checkpoint, then: replacing it is the user's call

            def answered(yes: bool | None) -> None:
                if yes:
                    self.dismiss(path)  # not awaited: a callback must not wait on its screen

            self.app.push_screen(ConfirmScreen(f"{path} exists. Overwrite it?"), answered)
            return
        self.dismiss(path)

    def action_cancel(self) -> None:
        self.dismiss(None)
