"""The smoothed training loss: min-char-rnn's moving average, read two ways.

min-char-rnn keeps `s = 0.999 s + 0.001 loss`, starting from the loss of a uniform guess,
-ln(1/V) per character. After n steps that average still gives its starting value the weight
0.999^n: 61% after 500 steps, 37% after 1000. For `classic` this is the figure people following
min-char-rnn recognise, so it stays exactly. Everywhere else the smoothed training loss is
read beside a held-out loss, so it must not carry the start: the bias-corrected reading
removes the start's remaining weight and renormalises, as Adam does with its moments:

    corrected_n = (s_n - 0.999^n s_0) / (1 - 0.999^n)
                = sum_k 0.999^(n-k) loss_k / sum_k 0.999^(n-k)      (k = 1..n)

i.e. the exactly weighted mean of the losses seen, from the first step on.

Both readings come from the same stored number (min-char-rnn's `s`) and the step count, so a
checkpoint needs nothing beyond the `smooth_loss` and `iteration` it already stores, and a
checkpoint written before this module existed resumes with the exact corrected figure.

Which reading a run gets (`bias_corrected(config)`): the corrected one unless the loss is
summed over the window (`config.loss == "sum"`), which is min-char-rnn's unit and the
`classic` preset's. The rule is on the config, not the preset name, because a checkpoint
stores the config; a classic run with another hidden size still prints min-char-rnn's figure.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from engine.config import Config

DECAY = 0.999  # min-char-rnn: smooth_loss = smooth_loss * 0.999 + loss * 0.001
WEIGHT = 0.001  # written as min-char-rnn writes it, so `classic` matches it bit for bit


def bias_corrected(config: Config) -> bool:
    """Whether a run shows the bias-corrected average (every loss but min-char-rnn's sum)."""
    return config.loss != "sum"


def start_value(vocab_size: int, units: int = 1) -> float:
    """min-char-rnn's starting value: the loss of a uniform guess, -ln(1/V) per character,
    times the characters in one unit of loss (seq_length for a summed window)."""
    return float(-np.log(1.0 / vocab_size) * units)


class LossSmoother:
    """The smoothed loss of a run. `raw` is min-char-rnn's running average (what checkpoints
    store as `smooth_loss`); `value` is what to show: `raw` itself, or its bias-corrected
    reading. Same units as the losses fed to `update`."""

    def __init__(
        self, start: float, corrected: bool, *, raw: float | None = None, count: int = 0
    ) -> None:
        if count < 0:
            raise ValueError(f"count must be 0 or more (got {count})")
        self.start = start
        self.corrected = corrected
        self.raw = start if raw is None else raw
        self.count = count  # losses averaged so far: the trainer's iteration

    @classmethod
    def for_config(
        cls, config: Config, vocab_size: int, *, raw: float | None = None, count: int = 0
    ) -> LossSmoother:
        """The smoother a run with `config` uses; pass a checkpoint's `smooth_loss` as `raw`
        and its `iteration` as `count` to resume it exactly."""
        units = config.seq_length if config.loss == "sum" else 1
        return cls(start_value(vocab_size, units), bias_corrected(config), raw=raw, count=count)

    def update(self, loss: float) -> float:
        """Take one step's loss; return the new `value`."""
        self.raw = self.raw * DECAY + loss * WEIGHT
        self.count += 1
        return self.value

    @property
    def value(self) -> float:
        if not self.corrected or self.count == 0:
            return self.raw
        remaining = DECAY**self.count  # the start's weight still inside `raw`
        return (self.raw - remaining * self.start) / (1.0 - remaining)

    def state(self) -> dict[str, float | int]:
        """All it needs to resume: min-char-rnn's average and the step count."""
        return {"raw": self.raw, "count": self.count}


def smoothed_series(
    losses_per_char: Iterable[float], config: Config, vocab_size: int, every: int = 100
) -> list[tuple[int, float]]:
    """(iteration, smoothed nats/char) after iterations 0, every, 2*every, ... of a run's
    per-iteration loss history (a checkpoint's `history/loss`, from iteration 0): its whole
    smoothed curve, on the iterations metrics.jsonl records. The average is linear, so
    smoothing nats/char from -ln(1/V) equals smoothing the summed loss and dividing by
    seq_length."""
    smoother = LossSmoother(start_value(vocab_size), bias_corrected(config))
    points = []
    for n, loss in enumerate(losses_per_char):
        value = smoother.update(float(loss))
        if n % every == 0:
            points.append((n, value))
    return points
