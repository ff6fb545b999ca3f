"""The smoothed training loss: min-char-rnn's moving average for `classic`, an honest one
for every other configuration.

min-char-rnn keeps `s = 0.999 s + 0.001 loss`, starting from the loss of a uniform guess,
-ln(1/V) per character. After n steps that average still gives its starting value the weight
0.999^n: 61% after 500 steps, 37% after 1000. For `classic` this is the figure people following
min-char-rnn recognise, so it stays exactly. Everywhere else the smoothed training loss is
read beside a held-out loss, so it must not carry the start, nor lag the model by a thousand
steps. There it is a shorter moving average (0.99: about the last hundred steps) read with
Adam's bias correction, which removes the start's remaining weight and renormalises:

    corrected_n = (s_n - d^n s_0) / (1 - d^n)
                = sum_k d^(n-k) loss_k / sum_k d^(n-k)      (k = 1..n)

i.e. the exactly weighted mean of the losses seen, from the first step on. Measured on a GRU
(hidden 128) on tinyshakespeare, with held-out loss 1.84 at iteration 600 and the last 20
steps' training loss at 1.70: min-char-rnn's average said 3.19, the corrected 0.999 average
2.01 (it is the mean of the whole run so far), the corrected 0.99 average 1.76.

Both readings come from one stored number (the average `s`) and the step count, so a
checkpoint needs nothing beyond the `smooth_loss` and `iteration` it already stores.

Which a run gets (`bias_corrected(config)`): min-char-rnn's when the loss is summed over the
window (`config.loss == "sum"`), its unit and the `classic` preset's; the corrected short one
otherwise. The rule is on the config, not the preset name, because a checkpoint stores the
config; a classic run with another hidden size still prints min-char-rnn's figure.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from engine.config import Config

# (decay, weight) of the moving average: s = s * decay + loss * weight
MIN_CHAR_RNN = (0.999, 0.001)  # written as min-char-rnn writes it: `classic` matches bit for bit
RECENT = (0.99, 0.01)  # about the last hundred steps, for every other configuration


def bias_corrected(config: Config) -> bool:
    """Whether a run shows the bias-corrected average (every loss but min-char-rnn's sum)."""
    return config.loss != "sum"


def start_value(vocab_size: int, units: int = 1) -> float:
    """min-char-rnn's starting value: the loss of a uniform guess, -ln(1/V) per character,
    times the characters in one unit of loss (seq_length for a summed window)."""
    # + 0.0: with one character -ln(1) is -0.0, which would print as "-0.000000".
    return float(-np.log(1.0 / vocab_size) * units) + 0.0


class LossSmoother:
    """The smoothed loss of a run. `raw` is the running average from `start` (what
    checkpoints store as `smooth_loss`); `value` is what to show: `raw` itself (min-char-rnn)
    or its bias-corrected reading. Same units as the losses fed to `update`."""

    def __init__(
        self, start: float, corrected: bool, *, raw: float | None = None, count: int = 0
    ) -> None:
        if count < 0:
            raise ValueError(f"count must be 0 or more (got {count})")
        self.start = start
        self.corrected = corrected
        self.decay, self.weight = RECENT if corrected else MIN_CHAR_RNN
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
        self.raw = self.raw * self.decay + loss * self.weight
        self.count += 1
        return self.value

    @property
    def value(self) -> float:
        if not self.corrected or self.count == 0:
            return self.raw
        remaining = self.decay**self.count  # the start's weight still inside `raw`
        return (self.raw - remaining * self.start) / (1.0 - remaining)

    def state(self) -> dict[str, float | int]:
        """All it needs to resume: the running average and the step count."""
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
