"""The learning-rate schedule: step decay with its floor, the anneal to a budget, budgets
in checkpoints, and resuming a schedule exactly."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest

from engine import checkpoint
from engine.config import Config
from engine.errors import CharrnnError
from engine.schedule import Budget, learning_rate
from engine.trainer import Trainer

TEXT = "the quick brown fox jumps over the lazy dog. " * 40


def test_step_decay_halves_on_schedule_and_stops_at_the_floor() -> None:
    c = Config(lr=0.1, lr_decay=0.5, lr_decay_every=10, lr_floor=0.05)
    rates = [learning_rate(c, n, 0.0) for n in (0, 9, 10, 19, 20, 35, 45, 10**6)]
    # 0.1 * 0.5**4 = 0.00625 is still above the floor 0.005; 0.5**5 would not be
    assert rates == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.0125, 0.00625, 0.005])
    unfloored = c.replace(lr_floor=0.0)
    assert learning_rate(unfloored, 10**3, 0.0) == pytest.approx(0.1 * 0.5**100)
    assert learning_rate(Config(lr=0.1), 10**6, 0.0) == 0.1  # no decay: exactly lr


def test_the_anneal_falls_geometrically_to_the_floor_at_the_end_and_stays() -> None:
    c = Config(lr=0.1, schedule="anneal", lr_floor=0.05)
    assert learning_rate(c, 0, 0.0) == 0.1
    assert learning_rate(c, 0, 0.5) == pytest.approx(0.1 * 0.05**0.5)  # halfway in log terms
    # it halves every ln 2 / ln 20 of the budget, as a step decay stretched to the budget
    halving = math.log(2) / math.log(20)
    assert learning_rate(c, 0, 0.3 + halving) == pytest.approx(learning_rate(c, 0, 0.3) / 2)
    assert learning_rate(c, 0, 1.0) == learning_rate(c, 0, 7.0) == pytest.approx(0.005)
    # the iteration count means nothing to the anneal, only the progress through the budget
    assert learning_rate(c, 5, 0.9) == learning_rate(c, 50_000, 0.9)
    assert learning_rate(c.replace(lr_floor=0.0), 0, 1.0) == pytest.approx(1e-4)  # lr / 1000


def test_a_budget_ends_at_whichever_limit_comes_first() -> None:
    both = Budget(seconds=60.0, iterations=1000)
    assert both.progress(250, 30.0) == 0.5  # half the time, a quarter of the iterations
    assert not both.spent(999, 59.9)
    assert both.spent(1000, 1.0) and not both.time_ran_out(1000, 1.0)
    assert both.spent(10, 60.0) and both.time_ran_out(10, 60.0)
    assert Budget().progress(10**6, 1e9) == 0.0 and not Budget().spent(10**6, 1e9)
    assert both.seconds_left(45.0) == 15.0 and Budget(iterations=5).seconds_left(1.0) is None


def test_minutes_and_iters_on_resume_count_from_there_and_replace_the_budget() -> None:
    old = Budget(seconds=600.0, iterations=None)
    assert old.extended(4000, 600.0, None, None) is old  # no flags: the budget goes on
    assert old.extended(4000, 600.0, 5.0, None) == Budget(seconds=900.0)
    assert old.extended(4000, 600.0, None, 300) == Budget(iterations=4300)
    assert old.extended(4000, 600.0, 0.5, 10) == Budget(seconds=630.0, iterations=4010)


def test_an_extended_anneal_goes_back_up_to_where_the_longer_schedule_is() -> None:
    # a ten-minute run extended by five is 2/3 of the way through its new budget: its rate
    # goes back up from the floor (1/20) to 20 ** (-2/3), about 1/7.4 of lr
    c = Config(lr=0.1, schedule="anneal", lr_floor=0.05)
    budget = Budget(seconds=600.0).extended(4000, 600.0, 5.0, None)
    rate = learning_rate(c, 4000, budget.progress(4000, 600.0))
    assert rate == pytest.approx(0.1 * 20 ** (-2 / 3))
    assert 0.013 < rate < 0.014


def _anneal_trainer() -> Trainer:
    c = Config(hidden=8, seq_length=5, batch=2, loss="mean", schedule="anneal", lr=0.05)
    trainer = Trainer(c, TEXT)
    trainer.budget = Budget(iterations=20)
    return trainer


def test_the_trainer_anneals_to_an_iteration_budget() -> None:
    trainer = _anneal_trainer()
    rates = [trainer.step().lr for _ in range(24)]
    assert rates[0] == 0.05  # the preset's rate at the start
    assert all(a > b for a, b in itertools.pairwise(rates[:21]))  # falling all the way
    assert rates[10] == pytest.approx(0.05 * 0.05**0.5)  # halfway through the 20 iterations
    assert rates[20:] == pytest.approx([0.05 * 0.05] * 4)  # at the floor from the end on


def test_a_resumed_anneal_continues_exactly(tmp_path: Path) -> None:
    whole = _anneal_trainer()
    straight = [whole.step() for _ in range(20)]
    first = _anneal_trainer()
    for _ in range(9):
        first.step()
    path = checkpoint.save(first, tmp_path / "half.npz")
    resumed = checkpoint.restore(checkpoint.load(path), TEXT, "corpus")
    assert resumed.budget == Budget(iterations=20)
    rest = [resumed.step() for _ in range(11)]
    assert [r.lr for r in rest] == [r.lr for r in straight[9:]]
    assert [r.loss for r in rest] == [r.loss for r in straight[9:]]  # bit-exact
    for name, value in whole.params.items():
        np.testing.assert_array_equal(resumed.params[name], value)


def test_a_time_budget_follows_the_training_time_saved(tmp_path: Path) -> None:
    trainer = Trainer(Config(hidden=8, seq_length=5, schedule="anneal", lr=0.1), TEXT)
    trainer.budget = Budget(seconds=100.0)
    trainer.elapsed = 80.0  # as a checkpoint records it: training time, pauses excluded
    path = checkpoint.save(trainer, tmp_path / "t.npz")
    resumed = checkpoint.restore(checkpoint.load(path), TEXT, "corpus")
    assert resumed.learning_rate == pytest.approx(0.1 * 0.05**0.8)
    assert resumed.step().lr == pytest.approx(0.1 * 0.05**0.8)


def _rewritten(saved: Path, out: Path, edit) -> Path:
    """`saved` with its metadata passed through `edit` (a dict changed in place)."""
    arrays = np.load(saved, allow_pickle=False)
    meta = json.loads(bytes(arrays["meta"]).decode())
    edit(meta)
    entries = {k: arrays[k] for k in arrays.files}
    entries["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(out, **entries)
    return out


@pytest.mark.parametrize(
    ("budget", "says"),
    [
        ({"seconds": -1.0, "iterations": None}, "budget seconds"),
        ({"seconds": None, "iterations": 1.5}, "budget iterations"),
        ({"seconds": "600"}, "budget seconds"),
        ("ten minutes", "budget must be"),
        ({"minutes": 10}, "budget must be"),
    ],
)
def test_a_checkpoint_with_a_bad_budget_is_refused_in_one_line(
    tmp_path: Path, budget: object, says: str
) -> None:
    trainer = Trainer(Config(hidden=8, seq_length=5), TEXT)
    trainer.budget = Budget(iterations=10)
    saved = checkpoint.save(trainer, tmp_path / "ok.npz")
    with pytest.raises(CharrnnError, match=says) as refused:
        checkpoint.load(_rewritten(saved, tmp_path / "bad.npz", lambda m: m.update(budget=budget)))
    assert "\n" not in str(refused.value)


def test_a_checkpoint_without_a_budget_resumes_with_none(tmp_path: Path) -> None:
    trainer = Trainer(Config(hidden=8, seq_length=5), TEXT)
    trainer.budget = Budget(seconds=60.0)
    saved = checkpoint.save(trainer, tmp_path / "ok.npz")
    written = json.loads(bytes(np.load(saved, allow_pickle=False)["meta"]).decode())
    assert written["budget"] == {"seconds": 60.0, "iterations": None}
    # as files written before budgets, and by runs without one, are
    old = _rewritten(saved, tmp_path / "old.npz", lambda m: m.pop("budget"))
    assert checkpoint.restore(checkpoint.load(old), TEXT, "corpus").budget == Budget()


def test_the_schedule_and_floor_are_checked_and_resumable() -> None:
    with pytest.raises(CharrnnError, match="unknown schedule 'cosine'"):
        Config(schedule="cosine").validate()
    with pytest.raises(CharrnnError, match=r"lr_floor must be in \[0, 1\]"):
        Config(lr_floor=1.5).validate()
    assert {"schedule", "lr_floor"} <= Config.RESUMABLE
