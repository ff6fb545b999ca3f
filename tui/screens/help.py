"""Every key the console answers to, generated from the app's bindings so it cannot drift."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

KEY_NAMES = {"plus": "+", "equals_sign": "=", "minus": "-", "question_mark": "?"}


def key_label(binding: Binding) -> str:
    return " or ".join(KEY_NAMES.get(k, k) for k in binding.key.split(","))


def key_table(bindings: list[Binding]) -> Table:
    table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for binding in bindings:
        table.add_row(key_label(binding), binding.tooltip or binding.description)
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close", id="help.close"),
        Binding("question_mark", "dismiss", "Close", show=False, id="help.close2"),
        Binding("q", "dismiss", "Close", show=False, id="help.close3"),
    ]

    def __init__(self, bindings: list[Binding], docs: str = "") -> None:
        super().__init__()
        self.keys = bindings
        self.docs = docs  # where the view these keys drive is explained

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="help"):
            yield Label("Keys", classes="dialog-title")
            yield Static(key_table(self.keys), id="help-keys")
            if self.docs:
                yield Label(f"{self.docs}\nevery command and flag: docs/cli.md", id="help-docs")
            yield Label(
                "Ctrl+P: command palette (every action)   Escape or ?: close this help",
                classes="dialog-hint",
            )

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
