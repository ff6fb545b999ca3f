"""A run resumed into a run directory of its own shows its whole history: the checkpoint's
losses and held-out evaluations go into metrics.jsonl first, for the curves view and compare."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.config import preset
from engine.smoothing import smoothed_series
from tui.cli import main
from tui.runs.metrics import follow_run, history_records, open_run

TINY = ["blog_sample", "--headless", "--hidden", "8", "--seq-length", "8", "--sample-every",
        "0", "--val-fraction", "0.2", "--eval-every", "100"]  # fmt: skip


def curves(run) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    return [(p.iteration, p.loss) for p in run.metrics.train], [
        (p.iteration, p.loss) for p in run.metrics.val
    ]


def test_a_resumed_run_in_a_new_directory_shows_the_whole_run(tmp_path, capsys):
    model = tmp_path / "m.npz"
    straight, first, resumed = (tmp_path / name for name in ("straight", "first", "resumed"))
    assert main(["train", *TINY, "--iters", "400", "--run-dir", str(straight)]) == 0
    assert (
        main(["train", *TINY, "--iters", "250", "--run-dir", str(first), "--save", str(model)]) == 0
    )
    assert main(["train", *TINY, "--iters", "150", "--resume", str(model),
                 "--run-dir", str(resumed)]) == 0  # fmt: skip
    want_train, want_val = curves(open_run(straight))
    for run in (open_run(resumed), follow_run(resumed)):  # compare's reader, the curves view's
        got_train, got_val = curves(run)
        assert [n for n, _ in got_train] == [0, 100, 200, 300] == [n for n, _ in want_train]
        assert got_train == [(n, pytest.approx(v, abs=2e-6)) for n, v in want_train]
        assert got_val == want_val  # evaluations of the same weights: the same numbers


def test_resuming_in_the_runs_own_directory_adds_no_second_history(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["train", *TINY, "--iters", "250", "--run-dir", str(run_dir)]) == 0
    latest = str(run_dir / "latest.npz")
    assert main(["train", *TINY, "--iters", "100", "--resume", latest,
                 "--run-dir", str(run_dir)]) == 0  # fmt: skip
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in lines if "loss" in r] == [0, 100, 200, 300]


@pytest.mark.parametrize("loss", ["sum", "mean"])  # min-char-rnn's average, the corrected one
def test_a_long_runs_history_in_blocks_follows_the_same_curve(loss):
    config = preset("classic").replace(loss=loss)
    losses = np.repeat([3.0, 2.5, 2.0, 1.8], 400)  # constant within each block of 4
    exact = dict(smoothed_series(losses, config, 30, every=1))
    blocks = losses.reshape(-1, 4).mean(axis=1)
    records = history_records(blocks, [], config, 30, 100, block=4, iterations=len(losses))
    assert [r["iteration"] for r in records] == list(range(3, 1600, 100))  # block ends
    for r in records:
        assert r["loss"] == pytest.approx(exact[r["iteration"]], abs=2e-6)
