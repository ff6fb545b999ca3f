"""One line for what just happened: saved, loaded, refused, diverged."""

from __future__ import annotations

from textual.widgets import Static

from tui.visible import shown


class MessageLine(Static):
    def __init__(self, **kwargs) -> None:
        super().__init__("", markup=False, **kwargs)  # file names may hold [ and ]
        self.text = ""
        self.severity = "information"
        self.history: list[tuple[str, str]] = []  # every message shown, oldest first

    def show(self, text: str, severity: str = "information") -> None:
        self.text, self.severity = text, severity
        self.history.append((severity, text))
        for name in ("information", "warning", "error"):
            self.set_class(severity == name, f"-{name}")
        self.update(shown(text))  # messages name files, and a name may hold escapes
