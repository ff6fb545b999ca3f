"""Named arrays that are views into one flat buffer, so whole-model element-wise work (the
optimiser's update, gradient clipping) is a handful of numpy calls instead of a handful per
weight matrix. For min-char-rnn's small model that per-call cost is a quarter of a step.

A `Packed` reads as an ordinary dict of arrays (a checkpoint, a test or a viewer sees nothing
different); `buffer` is the flat array behind them, in the dict's order. Its entries are
fixed when it is made: the optimiser updates the buffer, so an entry replaced by another
array (or removed) would leave the model reading weights that never train. Replacing,
adding or removing one raises a TypeError instead (rather than copying into the view, which
would hide a shape or dtype mistake behind numpy's broadcasting and casting); write into the
array in place, `params[name][...] = value`, as everything here does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

import numpy as np


class Packed(dict[str, np.ndarray]):
    """name -> array, each a view into `buffer` (1-D), laid out in the dict's order; the
    entries cannot be replaced, added or removed (see the module's docstring)."""

    def __init__(self, buffer: np.ndarray, views: Iterable[tuple[str, np.ndarray]]) -> None:
        super().__init__(views)  # dict's own initialiser: not the refusing __setitem__
        self.buffer = buffer

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(
            "packed arrays are views into one buffer that the optimiser updates: replacing, "
            "adding or removing one would cut the model off from it; write into the array "
            "in place instead (params[name][...] = value)"
        )

    def __setitem__(self, name: str, value: np.ndarray) -> None:
        # `params[name] *= 2` updates the view in place, then stores that same view back
        if name not in self or value is not dict.__getitem__(self, name):
            self._refuse()

    __delitem__ = update = setdefault = pop = popitem = clear = _refuse

    def __ior__(self, other: Any) -> NoReturn:  # type: ignore[override,misc]
        self._refuse()

    def __copy__(self) -> Packed:
        return Packed(self.buffer, self.items())  # the same views of the same buffer

    def __reduce__(self) -> tuple[Any, ...]:
        return packed, (dict(self),)  # unpickled: copies in a buffer of their own

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
    buffer = np.empty(sum(a.size for a in arrays.values()), dtypes.pop())
    views, start = [], 0
    for name, a in arrays.items():
        views.append((name, buffer[start : start + a.size].reshape(a.shape)))
        start += a.size
    return Packed(buffer, views)


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
