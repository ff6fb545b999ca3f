"""Pick a checkpoint to load: the run directory's checkpoints, or a typed path."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from engine.errors import CharrnnError
from engine.files import check_regular_file
from tui.visible import shown


def describe(path: Path) -> str:
    """A list entry: the name, where it points if it is a symbolic link, size and time."""
    name = path.name
    if path.is_symlink():
        name += f" → {link_text(path)}"
    try:
        stat = path.stat()
    except OSError:
        return shown(name)
    when = time.strftime("%H:%M:%S", time.localtime(stat.st_mtime))
    return shown(f"{name}  ({stat.st_size / 1024:,.0f} KiB, {when})")


def link_text(path: Path) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return "?"


def link_note(path: Path) -> str:
    """Under the path: where it really leads, when it is a link (links may leave the run
    directory, and the user should see that before loading)."""
    try:
        if not path.is_symlink():
            return ""
        return shown(f"a link to {path.resolve()}")
    except (OSError, RuntimeError):  # a loop of links
        return "a link that leads nowhere"


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
            yield Label(link_note(Path(first)) if first else "", id="load-link", markup=False)
            yield Label("", id="load-error", classes="dialog-error", markup=False)
            yield Label("Enter: load    Tab: list / path    Escape: cancel", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#load-path", Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        text = event.value.strip()
        self.query_one("#load-link", Label).update(
            link_note(Path(text).expanduser()) if text else ""
        )

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
        error = self.query_one("#load-error", Label)
        if not text:
            error.update("type the path of a checkpoint")
            return
        path = Path(text).expanduser()
        if path.exists():  # a missing file is refused by the run, as any failed load
            try:  # a pipe or a device would block whoever opens it: refused here, at once
                check_regular_file(path, "a checkpoint")
            except CharrnnError as exc:
                error.update(shown(str(exc)))
                return
        self.dismiss(path)

    def action_cancel(self) -> None:
        self.dismiss(None)
