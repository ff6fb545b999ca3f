"""The --theme choices: Textual's dark and light, the terminal's own ANSI colours, and a
high-contrast theme for poor terminals and bright rooms."""

from __future__ import annotations

from textual.theme import Theme

HIGH_CONTRAST = Theme(
    name="charrnn-high-contrast",
    primary="#ffff00",
    secondary="#00ffff",
    accent="#ffff00",
    warning="#ffaf00",
    error="#ff5f5f",
    success="#00ff00",
    foreground="#ffffff",
    background="#000000",
    surface="#000000",
    panel="#000000",
    dark=True,
)

# --theme NAME -> Textual theme. "ansi" also switches the app to the terminal's own palette.
THEMES = {
    "dark": "textual-dark",
    "light": "textual-light",
    "ansi": "ansi-dark",
    "high-contrast": HIGH_CONTRAST.name,
}
