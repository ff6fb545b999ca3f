"""The loss history: every iteration while it fits, then evenly spaced block means, bounded."""

from __future__ import annotations

import numpy as np
import pytest

from engine import history
from engine.errors import CharrnnError
from engine.history import LossHistory


@pytest.fixture
def small_bound(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(history, "HISTORY_POINTS", 8)
    return 8


def filled(losses) -> LossHistory:
    h = LossHistory()
    for x in losses:
        h.append(float(x))
    return h


def block_means(losses: np.ndarray, block: int) -> np.ndarray:
    """Means of consecutive blocks, the last one of whatever is left."""
    return np.array([losses[i : i + block].mean() for i in range(0, len(losses), block)])


def test_every_iteration_is_kept_while_it_fits() -> None:
    losses = np.linspace(4.0, 1.0, 1000)
    h = filled(losses)
    assert h.block == 1 and len(h) == 1000
    np.testing.assert_array_equal(h.values(), losses.astype(np.float32))


def test_a_long_run_is_held_in_bounded_points_spread_over_all_of_it() -> None:
    n = 3 * history.HISTORY_POINTS + 5
    losses = 4.0 / np.sqrt(1 + np.arange(n))  # a learning curve
    h = filled(losses)
    assert h.block == 4 and len(h) == -(-n // 4) <= history.HISTORY_POINTS
    assert h.iterations == n
    np.testing.assert_allclose(h.values(), block_means(losses, 4), rtol=1e-6)


@pytest.mark.parametrize("n", [1, 7, 8, 9, 16, 17, 50, 64, 100])
def test_block_means_at_every_length(small_bound: int, n: int) -> None:
    losses = np.random.default_rng(n).random(n)
    h = filled(losses)
    assert len(h) <= small_bound
    np.testing.assert_allclose(h.values(), block_means(losses, h.block), rtol=1e-6)


@pytest.mark.parametrize("n", [0, 1, 5, 8, 13, 64, 99])
def test_points_read_back_continue_as_if_never_written(small_bound: int, n: int) -> None:
    losses = np.random.default_rng(n).random(n + 30)
    written = filled(losses[:n])
    points = written.values()
    back = LossHistory.from_points([points[:3], points[3:]], len(points), n)
    assert back.block == written.block
    np.testing.assert_allclose(back.values(), points, rtol=1e-6)
    for x in losses[n:]:
        written.append(float(x))
        back.append(float(x))
    np.testing.assert_allclose(back.values(), written.values(), rtol=1e-6)


@pytest.mark.parametrize("n", [9, 30, 100])
def test_an_old_one_point_per_iteration_history_is_merged_on_reading(
    small_bound: int, n: int
) -> None:
    losses = np.random.default_rng(n).random(n).astype(np.float32)  # a format-1 history/loss
    chunks = [losses[i : i + 7] for i in range(0, n, 7)]  # read a piece at a time
    back = LossHistory.from_points(chunks, n, n)
    direct = filled(losses)
    assert back.block == direct.block > 1
    np.testing.assert_allclose(back.values(), direct.values(), rtol=1e-6)


def test_a_history_cut_short_counts_one_iteration_a_point() -> None:
    back = LossHistory.from_points([np.array([3.0, 2.0, 1.0])], 3, 100)  # fits no block
    assert back.block == 1 and back.iterations == 3
    np.testing.assert_array_equal(back.values(), [3.0, 2.0, 1.0])


def test_more_points_than_iterations_is_refused() -> None:
    with pytest.raises(CharrnnError, match="4 points for 3 iterations"):
        LossHistory.from_points([np.ones(4)], 4, 3)
