"""Numerical versus analytic gradients for every parameter of a small model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.config import Config
from engine.model import CharModel

STEP = 1e-5
TOLERANCE = 1e-5


@dataclass(frozen=True)
class ParamCheck:
    name: str
    shape: tuple[int, ...]
    rel_error: float  # ||analytic - numeric|| / (||analytic|| + ||numeric||)

    @property
    def ok(self) -> bool:
        return self.rel_error < TOLERANCE


def check(config: Config, vocab_size: int = 7, batch: int = 2, seed: int = 0) -> list[ParamCheck]:
    """Central differences on every entry of every parameter (the model is tiny), float64.

    Weights start larger than training's 0.01 so that every gradient is well above rounding,
    and the hidden state starts non-zero so its path is exercised too. With dropout, every
    evaluation draws the same masks (a generator restarted from the same seed).
    """
    config = config.replace(dtype="float64", batch=batch, init_scale=0.3)
    model = CharModel(config, vocab_size)
    params = model.init_params(seed)
    rs = np.random.RandomState(seed + 1)
    inputs = rs.randint(vocab_size, size=(config.seq_length, batch))
    targets = rs.randint(vocab_size, size=(config.seq_length, batch))
    state = [tuple(rs.randn(*a.shape) * 0.5 for a in s) for s in model.zero_state(batch)]

    def rng() -> np.random.Generator | None:
        return np.random.default_rng(seed + 2) if config.dropout > 0 else None

    def loss() -> float:
        return model.forward(params, inputs, targets, state, rng())[0].loss

    _, grads, _ = model.loss_and_grads(params, inputs, targets, state, rng())
    results = []
    for name, p in params.items():
        numeric = np.zeros_like(p)
        flat, nflat = p.reshape(-1), numeric.reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + STEP
            plus = loss()
            flat[i] = old - STEP
            minus = loss()
            flat[i] = old
            nflat[i] = (plus - minus) / (2 * STEP)
        analytic = grads[name]
        denom = np.linalg.norm(analytic) + np.linalg.norm(numeric)
        rel = float(np.linalg.norm(analytic - numeric) / denom) if denom > 0 else 0.0
        results.append(ParamCheck(name, p.shape, rel))
    return results
