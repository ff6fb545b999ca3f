"""Ask where to save; propose a file in the run directory; confirm before overwriting."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from engine.errors import CharrnnError
from tui.runs.save_target import check_save_target, is_checkpoint
from tui.screens.confirm import ConfirmScreen


class SaveDialog(ModalScreen[Path | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="save.cancel")
    ]

    def __init__(self, proposed: Path) -> None:
        super().__init__()
        self.proposed = proposed

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
        try:  # a pipe, a device or a directory: said here, at once (the run checks again)
            check_save_target(path, force=True)
        except CharrnnError as exc:
            error.update(str(exc))
            return
        if path.exists():

            def answered(yes: bool | None) -> None:
                if yes:
                    self.dismiss(path)  # not awaited: a callback must not wait on its screen

            what = "" if is_checkpoint(path) else " and is not a charrnn checkpoint"
            self.app.push_screen(ConfirmScreen(f"{path} exists{what}. Overwrite it?"), answered)
            return
        self.dismiss(path)

    def action_cancel(self) -> None:
        self.dismiss(None)
