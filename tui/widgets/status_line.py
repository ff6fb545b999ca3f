"""The status line: what the run is doing, how fast, with which model, and where it saves."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from tui.visible import shown


def clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def rate(chars_per_s: float | None) -> str:
    if chars_per_s is None:
        return "—"
    if chars_per_s >= 10_000:
        return f"{chars_per_s / 1000:.0f}k"
    if chars_per_s >= 1000:
        return f"{chars_per_s / 1000:.1f}k"
    return f"{chars_per_s:.0f}"


class StatusLine(Static):
    state = reactive("running")  # running, paused or diverged
    iteration = reactive(0)
    chars_per_s: reactive[float | None] = reactive(None)
    elapsed = reactive(0.0)
    temperature = reactive(1.0)
    val_loss: reactive[float | None] = reactive(None)  # held-out nats/char, if evaluated
    val_iteration: reactive[int | None] = reactive(None)  # `iteration` when it was measured
    lr: reactive[float | None] = reactive(None)  # the rate the next step trains at
    budget_seconds: reactive[float | None] = reactive(None)  # `elapsed` at the time budget's end
    summary = reactive("")
    corpus = reactive("")
    run_dir = reactive("")

    def render(self) -> Text:
        marker = {"running": "▶ running", "paused": "⏸ paused", "diverged": "✖ diverged"}
        speed = rate(self.chars_per_s) if self.state == "running" else "—"
        # With a time budget (--minutes) what is left of it matters more than what was spent.
        time = (
            clock(self.elapsed)
            if self.budget_seconds is None
            else f"{clock(max(self.budget_seconds - self.elapsed, 0.0))} left"
        )
        first = (
            f"{marker.get(self.state, self.state)}  iter {self.iteration:,}  "
            f"{speed} chars/s  {time}  temp {self.temperature:.1f}"
        )
        if self.val_loss is not None:
            # Measured now and then: where, so that an old figure never reads as current.
            at = f" @{self.val_iteration:,}" if self.val_iteration is not None else ""
            first += f"  val {self.val_loss:.3f}{at}"
        # The second line names the model, the corpus and where it saves; the run directory
        # gives way (from the left) when the terminal is narrow. A file's name may hold
        # escape sequences: shown() draws them.
        rate_now = "" if self.lr is None else f"lr {self.lr:.2g} · "
        head = f"{rate_now}{self.summary} · {shown(self.corpus)} · "
        room = max(self.size.width - len(head), 12)
        run_dir = shown(self.run_dir)  # named after the corpus
        where = run_dir if len(run_dir) <= room else "…" + run_dir[-room + 1 :]
        return Text(f"{first}\n{head}{where}", no_wrap=True, overflow="ellipsis")

    def watch_state(self, state: str) -> None:
        for name in ("running", "paused", "diverged"):
            self.set_class(state == name, f"-{name}")
