"""The loss of every iteration, in bounded memory, still showing the whole run.

Each point is the mean loss (nats per character) of `block` consecutive iterations, the last
point of however many have been trained since its block began. `block` is a power of two: 1
until the points would pass `HISTORY_POINTS`, then it doubles, and neighbouring points are
merged pairwise. So the first 65,536 iterations are kept one by one, and a run of any length
is held in at most 65,536 points (256 KB) spread evenly over it: points are evenly spaced in
iterations, so a plot of them is the run's learning curve. After a day of `classic`
(~140 million iterations) a point is the mean of 4,096 iterations.

The block size is not stored: it is the power of two for which the number of points is
ceil(iterations / block), which is how a checkpoint's `history/loss` is read back. Older
checkpoints hold one point per iteration (block 1) and are merged on loading.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from engine.errors import CharrnnError

HISTORY_POINTS = 65536  # even, so that merging pairs halves it exactly


class LossHistory:
    def __init__(self) -> None:
        self.block = 1  # iterations per point, a power of two
        self._points = np.zeros(HISTORY_POINTS, np.float32)  # completed blocks' means
        self._done = 0  # how many of _points are filled
        self._partial_sum = 0.0  # the block in progress, accumulated in float64
        self._partial_count = 0

    def __len__(self) -> int:
        return self._done + (self._partial_count > 0)

    @property
    def iterations(self) -> int:
        """How many iterations the points stand for."""
        return self._done * self.block + self._partial_count

    def append(self, loss: float) -> None:
        self._partial_sum += loss
        self._partial_count += 1
        if self._partial_count == self.block:
            self._complete_block()

    def values(self) -> np.ndarray:
        """The points, oldest first, as float32 (a new array)."""
        done = self._points[: self._done]
        if not self._partial_count:
            return done.copy()
        return np.append(done, np.float32(self._partial_sum / self._partial_count))

    def _complete_block(self) -> None:
        self._points[self._done] = self._partial_sum / self._partial_count
        self._done += 1
        self._partial_sum, self._partial_count = 0.0, 0
        self._merge_if_full()

    def _merge_if_full(self) -> None:
        if self._done == HISTORY_POINTS:
            half = HISTORY_POINTS // 2
            self._points[:half] = self._points.reshape(-1, 2).mean(axis=1, dtype=np.float64)
            self._done = half
            self.block *= 2

    @classmethod
    def from_points(cls, chunks: Iterable[np.ndarray], length: int, iterations: int) -> LossHistory:
        """The history whose `length` points (in `chunks`, oldest first, any float type)
        stood for `iterations` iterations, merged as far as the bound needs, holding one
        chunk at a time. Points that fit no block size (a file whose history was cut short)
        are taken as the last `length` iterations, one each."""
        if length > iterations:
            raise CharrnnError(f"loss history has {length} points for {iterations} iterations")
        file_block = stored_block(length, iterations)
        covered = iterations if file_block else length
        file_block = file_block or 1
        history = cls()
        history.block = file_block
        while -(-covered // history.block) > HISTORY_POINTS:
            history.block *= 2
        group = history.block // file_block  # file points per point kept
        pending, seen = np.zeros(0), 0
        for chunk in chunks:
            flat = np.asarray(chunk, np.float64).reshape(-1)
            seen += len(flat)
            if seen > length:
                break
            pending = np.concatenate([pending, flat])
            # Keep back the group holding the last point: it may stand for fewer iterations.
            full = max(len(pending) - (seen == length), 0) // group
            history._add_means(pending[: full * group].reshape(-1, group).mean(axis=1))
            pending = pending[full * group :]
        if seen != length:
            raise CharrnnError(f"loss history holds {seen} points, not {length}")
        if length:
            last_count = covered - (length - 1) * file_block
            history._partial_count = (len(pending) - 1) * file_block + last_count
            history._partial_sum = float(pending[:-1].sum()) * file_block
            history._partial_sum += float(pending[-1]) * last_count
            if history._partial_count == history.block:
                history._complete_block()
        return history

    def _add_means(self, means: np.ndarray) -> None:
        self._points[self._done : self._done + len(means)] = means
        self._done += len(means)


def stored_block(length: int, iterations: int) -> int | None:
    """The power-of-two block for which `length` points stand for `iterations` iterations
    (ceil(iterations / block) == length), or None if there is none."""
    if length == 0:
        return 1 if iterations == 0 else None
    block = 1
    while block <= iterations:
        if -(-iterations // block) == length:
            return block
        block *= 2
    return block if length == 1 else None
