"""Sample from a prime text: ask for the text and how many characters to add."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from engine.limits import MAX_PRIME_LENGTH, MAX_SAMPLE_LENGTH


class PrimeDialog(ModalScreen[tuple[str, int] | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="prime.cancel")
    ]

    def __init__(self, length: int, prime: str = "") -> None:
        super().__init__()
        self.length = length
        self.prime = prime

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Sample from a prime text", classes="dialog-title")
            yield Input(
                self.prime,
                placeholder="prime text, e.g. The ",
                max_length=MAX_PRIME_LENGTH,
                id="prime-text",
            )
            yield Input(str(self.length), placeholder="characters to generate", id="prime-length")
            yield Label("", id="prime-error", classes="dialog-error", markup=False)
            yield Label("Tab: next field    Enter: sample    Escape: cancel", classes="dialog-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = self.query_one("#prime-text", Input).value
        length_text = self.query_one("#prime-length", Input).value.strip()
        error = self.query_one("#prime-error", Label)
        if not text:
            error.update("type a prime text for the model to continue")
            return
        if len(text) > MAX_PRIME_LENGTH:
            error.update(f"the prime may be at most {MAX_PRIME_LENGTH:,} characters")
            return
        try:
            length = int(length_text)
        except ValueError:
            error.update(f"length must be a whole number (got {length_text!r})")
            return
        if not 1 <= length <= MAX_SAMPLE_LENGTH:
            error.update(f"length must be between 1 and {MAX_SAMPLE_LENGTH:,} (got {length:,})")
            return
        self.dismiss((text, length))

    def action_cancel(self) -> None:
        self.dismiss(None)
