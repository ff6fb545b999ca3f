"""The quality benchmark's plumbing: budgets count training time only and stop on divergence."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_budgets_count_training_time_only_and_evaluate_once_each() -> None:
    quality = load_benchmark("quality")
    now = [0.0]
    evaluations = []

    def clock() -> float:
        return now[0]

    progress = []

    def step(at: float) -> float:
        progress.append(at)
        now[0] += 0.3
        return 2.0

    def evaluate() -> float:
        now[0] += 100.0  # evaluation time must not count against the budget
        evaluations.append(now[0])
        return 1.5

    points = quality.run_budgets(step, evaluate, [1.0, 2.0], 10, clock)
    assert [p["iterations"] for p in points] == [4, 7]
    assert len(evaluations) == 2
    assert points[1]["val_nats_per_char"] == 1.5
    assert points[0]["chars_per_s"] == round(40 / 1.2)
    # what an anneal follows: the time trained so far over the last budget
    assert progress[:3] == [0.0, 0.15, 0.3] and max(progress) < 1


def test_budgets_stop_on_divergence() -> None:
    quality = load_benchmark("quality")
    losses = iter([2.0, float("nan")])
    points = quality.run_budgets(lambda _at: next(losses), lambda: 0.0, [60.0], 1)
    assert points == [{"budget_s": 60.0, "diverged_at_iteration": 2}]


def test_the_table_puts_each_preset_and_schedule_beside_pytorch() -> None:
    quality = load_benchmark("quality")
    runs = [
        {"preset": "gru", "schedule": "anneal", "points": [{"budget_s": 120.0, "val_nats_per_char": 1.51}]},
        {"preset": "pytorch", "schedule": "anneal", "points": [{"budget_s": 120.0, "val_nats_per_char": 1.54}]},
        {"preset": "gru", "schedule": "step", "points": [{"budget_s": 120.0, "diverged_at_iteration": 9}]},
    ]  # fmt: skip
    assert quality.table(runs) == [
        {"budget_s": 120.0, "gru anneal": 1.51, "pytorch anneal": 1.54, "gru step": "diverged"}
    ]
