"""Named arrays that are views into one flat buffer, so whole-model element-wise work (the
optimiser's update, gradient clipping) is a handful of numpy calls instead of a handful per
weight matrix. For min-char-rnn's small model that per-call cost is a quarter of a step.

A `Packed` is an ordinary dict of arrays (a checkpoint, a test or a viewer sees nothing
different); `buffer` is the flat array behind them, in the dict's order. Arrays are written
in place everywhere, so the views stay views for the life of a run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


class Packed(dict[str, np.ndarray]):
    """name -> array, each a view into `buffer` (1-D), laid out in the dict's order."""

    buffer: np.ndarray

    def __deepcopy__(self, memo: dict[int, Any]) -> Packed:
        # numpy deep-copies each view on its own, which would cut the arrays off from the
        # buffer; copy the buffer once and register the new views, so that a copied
        # optimiser's state dict (which holds these same arrays) gets them too.
        out = packed(self)
        memo[id(self)] = out
        for name, view in self.items():
            memo[id(view)] = out[name]
        return out


def _layout(arrays: Mapping[str, np.ndarray]) -> Packed:
    dtypes = {a.dtype for a in arrays.values()}
    if len(dtypes) != 1:
        raise ValueError(f"packed arrays share one dtype (got {sorted(map(str, dtypes))})")
    packed = Packed()
    packed.buffer = np.empty(sum(a.size for a in arrays.values()), dtypes.pop())
    start = 0
    for name, a in arrays.items():
        packed[name] = packed.buffer[start : start + a.size].reshape(a.shape)
        start += a.size
    return packed


def packed(arrays: Mapping[str, np.ndarray]) -> Packed:
    """Copies of `arrays` laid out in one buffer."""
    out = _layout(arrays)
    for name, a in arrays.items():
        out[name][...] = a
    return out


def empty_like(arrays: Mapping[str, np.ndarray]) -> Packed:
    """Uninitialised arrays shaped as `arrays`, in one buffer."""
    return _layout(arrays)


def zeros_like(arrays: Mapping[str, np.ndarray]) -> Packed:
    out = _layout(arrays)
    out.buffer[...] = 0
    return out


def buffers(*groups: Mapping[str, np.ndarray]) -> list[np.ndarray] | None:
    """Each group's flat buffer when every group is a Packed of the same layout size, else
    None (the caller then works array by array)."""
    flats = [getattr(g, "buffer", None) for g in groups]
    if any(f is None for f in flats):
        return None
    size = flats[0].size  # type: ignore[union-attr]
    return flats if all(f.size == size for f in flats) else None  # type: ignore[union-attr,return-value]


def aligned(*groups: Mapping[str, np.ndarray]) -> list[tuple[np.ndarray, ...]]:
    """What element-wise work over the whole model loops over: the groups' flat buffers as
    one tuple when they are packed alike, else a tuple per name of the first group."""
    flat = buffers(*groups)
    if flat is not None:
        return [tuple(flat)]
    return [tuple(group[name] for group in groups) for name in groups[0]]
