"""Shared helpers for the console tests: a tiny model and waiting on the running app."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import corpora
from engine.config import Config
from engine.schedule import Budget
from engine.trainer import Trainer
from tui.app import ConsoleApp
from tui.links import InProcessLink
from tui.runs.policy import RunSettings
from tui.runs.rundir import RunDir
from tui.runs.session import Session

SIZE = (80, 24)
TINY = Config(hidden=12, seq_length=10)
TINY_RUN = RunSettings(sample_every=50, sample_length=40, autosave_seconds=0.0)


def tiny_trainer(hidden: int = 12, iterations: int = 0, seed: int = 0) -> Trainer:
    name, text = corpora.load("blog_sample")
    trainer = Trainer(TINY.replace(hidden=hidden), text, seed=seed, corpus_name=name)
    for _ in range(iterations):
        trainer.step()
    return trainer


def make_session(
    run_dir: Path,
    trainer: Trainer | None = None,
    post=lambda event: None,
    *,
    start_paused: bool = False,
    report_interval: float | None = None,
    pause_at: int | None = None,
    **settings: object,
) -> Session:
    """A session on the tiny model; `settings` are RunSettings fields (TINY_RUN's by default);
    `pause_at` is an iteration budget, as --iters gives."""
    _, text = corpora.load("blog_sample")
    trainer = trainer or tiny_trainer()
    if pause_at is not None:
        trainer.budget = Budget(iterations=pause_at)
        settings["end_at_budget"] = True
    extra = {} if report_interval is None else {"report_interval": report_interval}
    return Session(
        trainer,
        RunDir(run_dir).create(),
        post,
        dataclasses.replace(TINY_RUN, **settings),  # type: ignore[arg-type]
        text=text,
        start_paused=start_paused,
        **extra,  # type: ignore[arg-type]
    )


def make_app(run_dir: Path, trainer: Trainer | None = None, **settings: object) -> ConsoleApp:
    session = make_session(run_dir, trainer, **settings)  # type: ignore[arg-type]
    return ConsoleApp(InProcessLink(session), session.run_dir)  # type: ignore[arg-type]


async def wait_for(pilot, predicate: Callable[[], object], timeout: float = 10.0) -> None:
    """Poll the app until `predicate()` holds; fail with a clear message after `timeout`."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")
        await pilot.pause(0.02)


async def settle(seconds: float) -> None:
    await asyncio.sleep(seconds)


CHARS = {
    "space": " ",
    "plus": "+",
    "minus": "-",
    "equals_sign": "=",
    "question_mark": "?",
    "enter": "\r",
    "tab": "\t",
    "escape": "\x1b",
    "full_stop": ".",
}


def key_event(key: str):
    from textual import events

    char = CHARS.get(key, key if len(key) == 1 else None)
    return events.Key(key, char)


async def press(pilot, *keys: str) -> None:
    """Press keys as a terminal would deliver them.

    Pilot.press waits for the *process* to go idle after each key, which never happens while
    the worker trains (up to a second a key), so post the events ourselves and wait only for
    the screen to handle them.
    """
    for key in keys:
        screen = pilot.app.screen
        pilot.app.post_message(key_event(key))
        await pilot.pause(0.01)
        if pilot.app.screen is not screen:  # a dialog opened or closed: let it settle
            await pilot.pause(0.05)


async def fill(pilot, selector: str, text: str) -> None:
    """Put text in a dialog's input (typing it key by key is what `press` is for)."""
    pilot.app.screen.query_one(selector).value = text
    await pilot.pause(0.005)
