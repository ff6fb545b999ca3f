"""Text from a model, a corpus or a file name made safe to show on a terminal.

A model trained on text holding escape sequences learns to write them, and a file name may
hold them too: written raw, `ESC ] 0 ; ... BEL` retitles the terminal and `CSI 2 J` clears
it. Everything that shows such text on a terminal draws control characters as visible
stand-ins, by the one rule below: C0 controls other than newline and tab, DEL, and C1.
"""

from __future__ import annotations

import re
import unicodedata

# C0 without tab (0x09) and newline (0x0a), DEL, and C1.
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def control_picture(ch: str) -> str:
    """The visible stand-in for one control character: ␀ … ␟ (Unicode's Control Pictures)
    for C0, ␡ for DEL, \\xNN for C1 (which has no pictures)."""
    code = ord(ch)
    if code < 0x20:
        return chr(0x2400 + code)
    if code == 0x7F:
        return "␡"
    return f"\\x{code:02x}"


def shown(text: str) -> str:
    """`text` with its control characters drawn visibly; newlines and tabs are kept, so a
    sample still reads as lines."""
    return CONTROL.sub(lambda m: control_picture(m.group()), text)


def visible(ch: str) -> str:
    """How one passage character is drawn where every character must be seen on its own
    (the inspect views): itself, or a stand-in for whitespace (· space, ⏎ newline, → tab)
    and for control, format and unassigned characters."""
    if ch == " ":
        return "·"
    if ch == "\n":
        return "⏎"
    if ch == "\t":
        return "→"
    if CONTROL.fullmatch(ch):
        return control_picture(ch)
    category = unicodedata.category(ch)
    if category in ("Cf", "Co", "Cn", "Cs", "Zl", "Zp"):
        code = ord(ch)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    if category == "Zs":
        return "⍽"  # other spaces (no-break, ideographic, …)
    if category in ("Mn", "Me"):
        return "◌" + ch  # a combining mark, shown on a dotted circle
    return ch
