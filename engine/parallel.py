"""A minibatch's forward and backward passes split across threads, one slice of streams each.

Streams are independent until the loss is summed, so the window of B streams is cut into
`threads` slices of rows, each slice runs the model's own forward and backward on a thread,
and the gradients are added, weighted by each slice's share of the characters when the loss
is a mean. numpy lets go of the GIL inside BLAS products and element-wise loops, so the
threads use separate cores. Only the order of floating-point sums differs from one pass over
the whole batch; dropout masks come from one generator per slice, seeded from the
trainer's, so a run still repeats exactly (and resumes exactly) at a given thread count.
"""

from __future__ import annotations

import itertools
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np

from engine import packed
from engine.cells.base import Params, State
from engine.model import Forward

if TYPE_CHECKING:
    from engine.model import CharModel

Slice = tuple[Forward, Params, list[State]]  # one slice's (or the whole batch's) results

_POOLS: dict[int, ThreadPoolExecutor] = {}  # helper threads by count, made on first use


def _pool(helpers: int) -> ThreadPoolExecutor:
    pool = _POOLS.get(helpers)
    if pool is None:
        pool = _POOLS[helpers] = ThreadPoolExecutor(helpers, thread_name_prefix="charrnn-slice")
    return pool


def slices(batch: int, parts: int) -> list[slice]:
    """`parts` runs of consecutive rows covering 0..batch, as even as they can be."""
    edges = np.linspace(0, batch, parts + 1).round().astype(int)
    return [slice(int(a), int(b)) for a, b in itertools.pairwise(edges)]


def slice_generators(rng: np.random.Generator, parts: int) -> list[np.random.Generator]:
    """One generator per slice for its dropout masks, seeded from the trainer's `rng`."""
    return [np.random.default_rng(seed) for seed in rng.integers(2**63, size=parts)]


def split_loss_and_grads(
    model: CharModel,
    params: Params,
    inputs: np.ndarray,
    targets: np.ndarray,
    state: list[State],
    rng: np.random.Generator | None,
    parts: int,
) -> Slice:
    """model.loss_and_grads over the whole batch, computed as `parts` slices on threads."""
    rows = slices(inputs.shape[1], parts)
    rngs: list[np.random.Generator | None] = [None] * parts
    if rng is not None and model.config.dropout > 0:
        rngs = list(slice_generators(rng, parts))

    def run(i: int) -> Slice:
        part = rows[i]
        sliced = [tuple(a[part] for a in layer) for layer in state]
        fwd, new_state = model.forward(params, inputs[:, part], targets[:, part], sliced, rngs[i])
        return fwd, model.backward(params, fwd, targets[:, part]), new_state

    pending: list[Future[Slice]] = [_pool(parts - 1).submit(run, i) for i in range(1, parts)]
    results = [run(0)] + [f.result() for f in pending]  # slice 0 on the calling thread
    return combine(results, [r.stop - r.start for r in rows], mean=model.config.loss == "mean")


def combine(results: list[Slice], widths: list[int], *, mean: bool) -> Slice:
    """One Forward, gradients and state for the whole batch from the slices' own (the first
    slice's gradient arrays are reused)."""
    total_rows = sum(widths)
    fwds = [fwd for fwd, _, _ in results]
    # Each slice's mean loss covers its own characters: weight by the share of rows.
    weights = [w / total_rows if mean else 1.0 for w in widths]
    grads = results[0][1]
    # Whole buffers at once (the slices' gradients are packed alike); the other slices'
    # gradients are scaled in place, as nothing reads them after this.
    if mean:
        for (g,) in packed.aligned(grads):
            g *= weights[0]
    for (_, other, _), weight in zip(results[1:], weights[1:], strict=True):
        for g, o in packed.aligned(grads, other):
            if mean:
                o *= weight
            g += o
    nats = sum(f.nats_per_char * w for f, w in zip(fwds, widths, strict=True)) / total_rows
    loss = sum(f.loss * w for f, w in zip(fwds, weights, strict=True))
    new_state = [
        tuple(np.concatenate(parts_, axis=0) for parts_ in zip(*layers, strict=True))
        for layers in zip(*(s for _, _, s in results), strict=True)
    ]
    fwd = Forward(
        loss=loss,
        nats_per_char=nats,
        probs=np.concatenate([f.probs for f in fwds], axis=1),
        cache=None,  # backward is done: the slices' traces are not one trace
        top=np.concatenate([f.top for f in fwds], axis=1),
    )
    return fwd, grads, new_state
