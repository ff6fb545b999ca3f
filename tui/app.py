"""Placeholder until the console lands (issue 3)."""

from __future__ import annotations

import argparse

from engine.errors import CharrnnError
from engine.trainer import Trainer


def run_console(trainer: Trainer, args: argparse.Namespace) -> int:
    raise CharrnnError("the console is not built yet; use --headless")
