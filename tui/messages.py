"""What the training worker tells the UI. Plain data only: no arrays, no live model objects."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual.message import Message


class SessionMessage(Message):
    """Base for everything the session posts; the app handles each kind in one place."""


@dataclass
class TrainerInfo:
    """What the screen shows about the model; re-sent whenever the model is swapped."""

    summary: str
    corpus: str
    iteration: int
    smooth_loss: float  # nats per character
    elapsed: float
    history: list[float]  # finite nats/char per point, already downsampled for the sparkline
    val_loss: float | None = None  # latest held-out nats/char, when the model has a split
    best_val_loss: float | None = None


class Progress(SessionMessage):
    """A batch of training steps since the last report (posted at most a few times a second)."""

    def __init__(
        self,
        iteration: int,
        losses: list[float],
        smooth_loss: float,
        chars_per_s: float,
        elapsed: float,
        val_loss: float | None = None,
    ) -> None:
        super().__init__()
        self.iteration = iteration  # the next iteration to train
        self.losses = losses  # finite nats/char of each step in the batch
        self.smooth_loss = smooth_loss
        self.chars_per_s = chars_per_s
        self.elapsed = elapsed
        self.val_loss = val_loss  # filled in by trainers that hold out a validation split


class SampleReady(SessionMessage):
    def __init__(
        self,
        iteration: int,
        temperature: float,
        loss: float,
        text: str,
        prime: str = "",
        requested: bool = False,
    ) -> None:
        super().__init__()
        self.requested = requested  # asked for by a key, not a periodic sample
        self.iteration = iteration
        self.temperature = temperature
        self.loss = loss
        self.text = text
        self.prime = prime


class Notice(SessionMessage):
    """A one-line report for the message line; severity is 'information', 'warning' or 'error'."""

    def __init__(self, text: str, severity: str = "information") -> None:
        super().__init__()
        self.text = text
        self.severity = severity


class PausedChanged(SessionMessage):
    """The worker paused or resumed (by request, or by itself on divergence)."""

    def __init__(self, paused: bool, iteration: int, diverged: bool = False) -> None:
        super().__init__()
        self.paused = paused
        self.iteration = iteration
        self.diverged = diverged


class Saved(SessionMessage):
    def __init__(self, path: Path, iteration: int, reason: str) -> None:
        super().__init__()
        self.path = path
        self.iteration = iteration
        self.reason = reason  # "save", "autosave" or "exit"


class Loaded(SessionMessage):
    def __init__(self, path: Path, info: TrainerInfo) -> None:
        super().__init__()
        self.path = path
        self.info = info
