"""Where in docs/ each view of the console is explained: one table, which the views show on
screen and tests/test_docs.py checks against the pages' headings.

A view says what its numbers mean in a line or two; the page behind the pointer says why.
"""

from __future__ import annotations

LEARN = "docs/learn.md"

VIEW_DOCS: dict[str, str] = {
    "console": f"{LEARN}#reading-the-loss",
    "curves": f"{LEARN}#the-curves-view-g-and-charrnn-compare",
    "compare": f"{LEARN}#comparing-runs",
    "predictions": f"{LEARN}#predictions-where-the-model-is-surprised",
    "neurons": f"{LEARN}#neurons-finding-a-quote-unit",
    "gates": f"{LEARN}#gates-how-often-they-saturate",
    "step": f"{LEARN}#one-step-at-a-time-backpropagation-in-numbers",
    "window": f"{LEARN}#the-window-view-w-how-min-char-rnn-feeds-its-data",
    "through": f"{LEARN}#backpropagation-through-time",
    "chain": f"{LEARN}#the-chain-rule-at-one-step-enter",
    "keys": "docs/cli.md",
    "remote": "docs/remote.md",
}


def explained(view: str) -> str:
    """The line a view shows: where its numbers are explained."""
    return f"explained in {VIEW_DOCS[view]}"
