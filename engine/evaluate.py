"""Validation loss: mean nats per character over the held-out text, hidden state carried.

How it is defined (the trainer and `benchmarks/quality.py` both use this module, for our model
and for the PyTorch baseline alike): the held-out ids are cut into `lanes` contiguous pieces,
read side by side as a batch. Each lane starts from a zero state and carries its hidden state
through its whole length, read in chunks of `chunk` steps, so every character is predicted
from everything before it in its lane. Lane j reads ids[j*n : j*n + n] and predicts
ids[j*n + 1 : j*n + n + 1], so every character after the first is predicted exactly once,
except the < `lanes` last ones that do not fill a lane. The result is the mean of
-ln p(target) over all predicted characters, accumulated in float64.

More lanes are faster (bigger matrix products, fewer sequential steps) but each lane's first
few characters are read without context; with 16 lanes over tinyshakespeare's held-out 10%
(~7,000 characters a lane) that cold start is a negligible share.

A pass may be bounded to `limit` predicted characters (the trainer's `val_chars`, 200,000 by
default): each lane then reads only its first limit // lanes characters. The lanes still start
where they would in a full pass, evenly spread over the held-out text, and a pass reads the
same characters every time, so figures stay comparable across a run and between runs. A
held-out text within the limit is read in full, exactly as without one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np

from engine.cells.base import Params, State
from engine.errors import CharrnnError
from engine.model import CharModel

EVAL_LANES = 16
EVAL_CHUNK = 256

S = TypeVar("S")  # whatever recurrent state a model carries between chunks
ChunkNats = Callable[[np.ndarray, np.ndarray, S], tuple[float, S]]


def lane_shape(
    length: int, lanes: int = EVAL_LANES, limit: int | None = None
) -> tuple[int, int, int]:
    """(lanes, distance between lane starts, characters each lane predicts) for `length`
    held-out characters; lanes * the last is how many a pass predicts."""
    if length < 2:
        raise CharrnnError(f"held-out text has {length} characters; validation needs at least 2")
    lanes = min(lanes, length - 1)
    stride = (length - 1) // lanes
    return lanes, stride, (stride if limit is None else max(1, min(stride, limit // lanes)))


def lanes_of(
    ids: np.ndarray, lanes: int = EVAL_LANES, limit: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, targets), each (n, L) time-major, for L = min(lanes, len(ids) - 1) lanes;
    with a limit, n is at most limit // L (at least 1)."""
    lanes, stride, n = lane_shape(len(ids), lanes, limit)
    idx = np.arange(lanes)[None, :] * stride + np.arange(n + 1)[:, None]
    window = ids[idx].astype(np.intp)  # ids are stored small; the model indexes with them
    return window[:-1], window[1:]


def mean_nats_over_lanes(
    chunk_nats: ChunkNats, inputs: np.ndarray, targets: np.ndarray, state: S, chunk: int
) -> float:
    """Feed (n, L) lanes to `chunk_nats` `chunk` steps at a time, carrying its state; the mean
    of the summed nats it returns. Any model can plug in: ours below, PyTorch's in benchmarks."""
    total = 0.0
    for t in range(0, len(inputs), chunk):
        nats, state = chunk_nats(inputs[t : t + chunk], targets[t : t + chunk], state)
        total += nats
    return total / targets.size


def nats_of_logits(logits: np.ndarray, targets: np.ndarray) -> float:
    """Summed -ln softmax(logits)[target] over (T, B, V) logits, via a float64 log-sum-exp."""
    z = logits.astype(np.float64)
    z -= z.max(axis=-1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=-1))
    picked = np.take_along_axis(z, targets[..., None], axis=-1)[..., 0]
    return float((log_norm - picked).sum())


def validation_loss(
    model: CharModel,
    params: Params,
    ids: np.ndarray,
    lanes: int = EVAL_LANES,
    chunk: int = EVAL_CHUNK,
    limit: int | None = None,
) -> float:
    """Mean nats per character of `model` over held-out `ids` (at most `limit` of them
    predicted), as defined above."""
    inputs, targets = lanes_of(ids, lanes, limit)

    def chunk_nats(x: np.ndarray, y: np.ndarray, state: list[State]) -> tuple[float, list[State]]:
        top, _, state = model.forward_layers(params, x, state)
        return nats_of_logits(model.logits(params, top), y), state

    return mean_nats_over_lanes(
        chunk_nats, inputs, targets, model.zero_state(inputs.shape[1]), chunk
    )
