"""Generating text from a model: temperature, top-k, greedy, and a prime text."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from engine.cells.base import Params, State
from engine.errors import CharrnnError
from engine.model import CharModel, softmax
from engine.vocab import Vocab


@dataclass(frozen=True)
class SampleSettings:
    length: int = 200
    temperature: float = 1.0
    top_k: int = 0  # 0 keeps every character
    greedy: bool = False

    def validate(self) -> SampleSettings:
        if self.length < 0:
            raise CharrnnError(f"length must be 0 or more (got {self.length})")
        if not (self.temperature > 0 and np.isfinite(self.temperature)):
            raise CharrnnError(f"temperature must be a positive number (got {self.temperature})")
        if self.top_k < 0:
            raise CharrnnError(f"top-k must be 0 (off) or more (got {self.top_k})")
        return self


def next_distribution(logits: np.ndarray, settings: SampleSettings) -> np.ndarray:
    """Probabilities over the vocabulary for one step's logits (V,), as float64."""
    scaled = logits.astype(np.float64) / settings.temperature
    if 0 < settings.top_k < len(scaled):
        cutoff = np.partition(scaled, -settings.top_k)[-settings.top_k]
        scaled[scaled < cutoff] = -np.inf
    return softmax(scaled)


def generate(
    model: CharModel,
    params: Params,
    state: list[State],
    first_id: int,
    settings: SampleSettings,
    rng: np.random.Generator,
) -> Iterator[tuple[int, float]]:
    """Yield (id, probability) for `settings.length` characters following `first_id`.

    `state` (one row, B=1) is the hidden state *before* `first_id` is fed; it is not modified.
    """
    x = np.array([[first_id]])
    for _ in range(settings.length):
        top, _, state = model.run(params, x, state)
        probs = next_distribution(model.logits(params, top)[0, 0], settings)
        idx = int(probs.argmax()) if settings.greedy else int(rng.choice(len(probs), p=probs))
        yield idx, float(probs[idx])
        x = np.array([[idx]])


def prime_state(
    model: CharModel, params: Params, state: list[State], prime_ids: np.ndarray
) -> list[State]:
    """The state after feeding all but the last prime character (which `generate` feeds)."""
    if len(prime_ids) > 1:
        _, _, state = model.run(params, prime_ids[:-1, None], state)
    return state


def sample_text(
    model: CharModel,
    params: Params,
    vocab: Vocab,
    settings: SampleSettings,
    rng: np.random.Generator,
    prime: str | None = None,
    state: list[State] | None = None,
    first_id: int | None = None,
) -> str:
    """Generated text, starting from `state` (default: zero).

    With a prime, the model reads the prime from that state and the result starts with the
    prime. Without, it continues after `first_id` (default: a newline when the vocabulary has
    one), which is not part of the result.

    Callers pass the hidden state training carried: a model trained on a continuous stream
    has rarely seen a zero state, and from one it can babble its rarest characters.
    """
    settings.validate()
    state = state if state is not None else model.zero_state(1)
    if prime:
        prime_ids = vocab.encode(prime, what="prime text")
        state = prime_state(model, params, state, prime_ids)
        first_id = int(prime_ids[-1])
    elif first_id is None:
        first_id = vocab.chars.index("\n") if "\n" in vocab else int(rng.integers(len(vocab)))
    ids = [i for i, _ in generate(model, params, state, first_id, settings, rng)]
    return (prime or "") + vocab.decode(ids)
