"""The samples panel: every sample so far, newest at the bottom, scrollable."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import RichLog

from tui.visible import shown

MAX_LINES = 5000  # bounded memory over a long run; old samples fall off the top
FLUSH_INTERVAL = 1.0  # seconds: samples arriving faster than this are written together


class SamplesPanel(RichLog):
    def __init__(self, **kwargs) -> None:
        super().__init__(wrap=True, markup=False, max_lines=MAX_LINES, auto_scroll=False, **kwargs)
        self.count = 0  # samples shown, for tests and the border title
        self._pending: list[Text] = []
        self._flushed_at = 0.0

    def flush_if_due(self) -> None:
        # A small model samples several times a second; writing each at once would redraw
        # the panel as often and take interpreter time from training. The app calls this
        # with each progress report, so batching costs no extra wake-ups.
        if self._pending and time.monotonic() - self._flushed_at >= FLUSH_INTERVAL:
            self.flush()

    def add_sample(
        self, iteration: int, temperature: float, loss: float, text: str, prime: str = ""
    ) -> None:
        # The model's text is shown with its control characters made visible: written raw,
        # an escape sequence it learnt would retitle or clear the terminal.
        head = f"── iter {iteration:,} · temp {temperature:.1f} · loss {loss:.3f} nats/char"
        if prime:
            head += f" · prime {prime!r}"  # repr escapes controls itself
        entry = Text(head + "\n", style="bold")
        if prime and text.startswith(prime):
            entry.append(shown(prime), style="bold underline")
            entry.append(shown(text[len(prime) :]))
        else:
            entry.append(shown(text))
        self._pending.append(entry)

    def flush(self) -> None:
        if not self._pending:
            return
        entries, self._pending = self._pending, []
        self._flushed_at = time.monotonic()
        follow = self.at_bottom()
        self.write(Text("\n").join(entries), scroll_end=follow)
        self.count += len(entries)
        self.border_title = f"samples ({self.count})"

    def at_bottom(self) -> bool:
        """Follow new samples only if the reader is already at the end: never yank the view."""
        return self.scroll_y >= self.max_scroll_y - 1
