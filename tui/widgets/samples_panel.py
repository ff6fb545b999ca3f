"""The samples panel: every sample so far, newest at the bottom, scrollable."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import RichLog

MAX_LINES = 5000  # bounded memory over a long run; old samples fall off the top


class SamplesPanel(RichLog):
    def __init__(self, **kwargs) -> None:
        super().__init__(wrap=True, markup=False, max_lines=MAX_LINES, auto_scroll=False, **kwargs)
        self.count = 0  # samples shown, for tests and the border title

    def add_sample(
        self, iteration: int, temperature: float, loss: float, text: str, prime: str = ""
    ) -> None:
        head = f"── iter {iteration:,} · T {temperature:.1f} · loss {loss:.3f} nats/char"
        if prime:
            head += f" · prime {prime!r}"
        body = Text()
        if prime and text.startswith(prime):
            body.append(prime, style="bold underline")
            body.append(text[len(prime) :])
        else:
            body.append(text)
        follow = self.at_bottom()
        self.write(Text(head, style="bold"), scroll_end=follow)
        self.write(body, scroll_end=follow)
        self.count += 1
        self.border_title = f"samples ({self.count})"

    def at_bottom(self) -> bool:
        """Follow new samples only if the reader is already at the end: never yank the view."""
        return self.scroll_y >= self.max_scroll_y - 1
