"""Pick a checkpoint to load: the run directory's checkpoints, or a typed path."""

from __future__ import annotations

import time
from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option


def describe(path: Path) -> str:
    try:
        stat = path.stat()
    except OSError:
        return path.name
    when = time.strftime("%H:%M:%S", time.localtime(stat.st_mtime))
    return f"{path.name}  ({stat.st_size / 1024:,.0f} KiB, {when})"


class LoadDialog(ModalScreen[Path | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="load.cancel")
    ]

    def __init__(self, checkpoints: list[Path]) -> None:
        super().__init__()
        self.checkpoints = checkpoints

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Load a checkpoint", classes="dialog-title")
            if self.checkpoints:
                options = [Option(describe(p), id=str(i)) for i, p in enumerate(self.checkpoints)]
                yield OptionList(*options, id="load-list")
            else:
                yield Label("(no checkpoints in the run directory yet)", classes="dialog-hint")
            first = str(self.checkpoints[0]) if self.checkpoints else ""
            yield Input(first, placeholder="path to a .npz checkpoint", id="load-path")
            yield Label("", id="load-error", classes="dialog-error", markup=False)
            yield Label("Enter: load    Tab: list / path    Escape: cancel", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#load-path", Input).focus()

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_id is not None:
            self.query_one("#load-path", Input).value = str(self.checkpoints[int(event.option_id)])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option_id is not None:
            self.dismiss(self.checkpoints[int(event.option_id)])

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if not text:
            self.query_one("#load-error", Label).update("type the path of a checkpoint")
            return
        self.dismiss(Path(text).expanduser())

    def action_cancel(self) -> None:
        self.dismiss(None)
