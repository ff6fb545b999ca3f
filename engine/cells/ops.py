"""Element-wise and indexing helpers shared by the cells and the model."""

from __future__ import annotations

import numpy as np


def sigmoid(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """1 / (1 + exp(-x)). exp is about twice as fast as tanh in numpy, so this beats
    0.5 tanh(x/2) + 0.5. exp(-x) overflows to inf for very negative x, giving exactly 0; call
    it under np.errstate(over="ignore"). Python scalars keep float32 arrays float32."""
    out = np.negative(x, out=out)
    np.exp(out, out=out)
    out += 1
    return np.reciprocal(out, out=out)


def one_hot(ids: np.ndarray, size: int, dtype: np.dtype) -> np.ndarray:
    """(N, size) rows with a single 1 at each id."""
    flat = ids.reshape(-1)
    rows = np.zeros((flat.size, size), dtype)
    rows[np.arange(flat.size), flat] = 1
    return rows


def scatter_rows(ids: np.ndarray, rows: np.ndarray, size: int, out: np.ndarray) -> np.ndarray:
    """out[v] = sum of rows[n] over n with ids[n] == v, for v < size: the gradient of a row
    lookup table[ids]. A one-hot matrix product, because np.add.at is 5-20 times slower."""
    return np.dot(one_hot(ids, size, rows.dtype).T, rows, out=out)


def dot_last(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """x (..., D) times w (D, K) as one 2-D BLAS product: np.dot on 3-D arrays does not use
    BLAS, and matmul loops over the leading axes, one small product each."""
    return np.dot(x.reshape(-1, x.shape[-1]), w).reshape(*x.shape[:-1], w.shape[-1])


_ONES: dict[tuple[int, np.dtype], np.ndarray] = {}


def sum_rows(rows: np.ndarray, out: np.ndarray) -> np.ndarray:
    """rows (N, K) summed over N into out (K,): a BLAS product with ones, several times
    faster than np.sum(axis=0) for the small windows of B=1 training."""
    key = (len(rows), rows.dtype)
    ones = _ONES.get(key)
    if ones is None:
        ones = _ONES[key] = np.ones(len(rows), rows.dtype)
    return np.dot(ones, rows, out=out)
