"""The quality benchmark's plumbing: budgets, and the PyTorch side's shared validation."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.evaluate import lanes_of

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

    def step() -> float:
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


def test_budgets_stop_on_divergence() -> None:
    quality = load_benchmark("quality")
    losses = iter([2.0, float("nan")])
    points = quality.run_budgets(lambda: next(losses), lambda: 0.0, [60.0], 1)
    assert points == [{"budget_s": 60.0, "diverged_at_iteration": 2}]


def test_pytorch_baseline_validation_is_ours_with_its_model_plugged_in() -> None:
    torch = pytest.importorskip("torch")
    sys.path.insert(0, str(BENCHMARKS))
    try:
        baseline = load_benchmark("torch_baseline")
    finally:
        sys.path.remove(str(BENCHMARKS))
    torch.manual_seed(0)
    model = baseline.CharLSTM(5, 4)
    ids = np.random.RandomState(0).randint(5, size=200)
    value = baseline.evaluate(model, ids)
    inputs, targets = lanes_of(ids)
    total = 0.0
    with torch.no_grad():
        for j in range(inputs.shape[1]):  # each lane alone, in one piece
            logits, _ = model(torch.from_numpy(inputs[:, j : j + 1]), None)
            logp = torch.log_softmax(logits.double(), dim=-1)[:, 0]
            total -= float(logp[torch.arange(len(targets)), torch.from_numpy(targets[:, j])].sum())
    assert value == pytest.approx(total / targets.size, rel=1e-6)
