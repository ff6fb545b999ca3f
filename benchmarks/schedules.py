"""Learning-rate schedules side by side at a fixed number of iterations, as JSON.

    python benchmarks/schedules.py --preset gru --iters 4400 --seeds 0,1 \
        --variants step,anneal,hold:0.4
    python benchmarks/schedules.py --preset gru --iters 20000 --evaluate-at 10000,15000 \
        --variants step:0,step:0.05,step:0.1

A variant is `step` (the preset's decay, with its floor), `step:F` (the decay floored at F
times the rate; 0 for none), `anneal` (engine/schedule.py's: geometric from the rate to the
floor at `--iters`) or `hold:A` (the rate held, then in a straight line to the floor over the
last A of the run: the shape the issue tried, which this script patches in). Iterations,
not seconds, so the figures do not depend on the machine or its load: every variant of a seed
sees the same windows in the same order, and the variants share their training up to the
first iteration where their rates differ (one run, forked there). Each variant's held-out loss
is measured with `Trainer.evaluate`, as benchmarks/quality.py measures it.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, too


@dataclass(frozen=True)
class Variant:
    name: str
    changes: dict  # Config fields
    hold: float | None  # hold:A's decay fraction A; None for the engine's own shapes


def parse_variant(spec: str) -> Variant:
    kind, _, value = spec.partition(":")
    if kind == "step":
        return Variant(
            spec, {"schedule": "step", **({"lr_floor": float(value)} if value else {})}, None
        )
    if kind == "anneal":
        return Variant(spec, {"schedule": "anneal"}, None)
    if kind == "hold":
        return Variant(spec, {"schedule": "anneal"}, float(value or 0.4))
    raise SystemExit(f"unknown variant {spec!r} (step, step:F, anneal, hold:A)")


GEOMETRIC = None  # engine/schedule.py's own anneal, kept while hold variants replace it


def use_shape(variant: Variant) -> None:
    """Make the engine's anneal this variant's shape (for the steps that follow)."""
    from engine import schedule

    global GEOMETRIC
    GEOMETRIC = GEOMETRIC or schedule.annealed
    if variant.hold is None:
        schedule.annealed = GEOMETRIC
        return

    def hold_then_line(lr: float, floor: float, progress: float, a: float = variant.hold) -> float:
        if progress <= 1 - a:
            return lr
        return floor + (lr - floor) * max(1 - (progress - (1 - a)) / a, 0.0)

    schedule.annealed = hold_then_line


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--preset", default="gru")
    p.add_argument("--corpus", default="tinyshakespeare")
    p.add_argument("--iters", type=int, default=4400, help="iterations of every run")
    p.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    p.add_argument("--variants", default="step,anneal")
    p.add_argument(
        "--evaluate-at", default="", help="also evaluate at these iterations (comma-separated)"
    )
    p.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    args = p.parse_args(argv)
    args.seed_list = [int(s) for s in args.seeds.split(",")]
    args.variant_list = [parse_variant(v) for v in args.variants.split(",")]
    args.checkpoints = sorted({int(n) for n in args.evaluate_at.split(",") if n} | {args.iters})
    return args


def fork_point(trainers: dict, variants: list[Variant], iters: int) -> int:
    """The first iteration at which two variants would train at different rates."""
    from engine import schedule

    for n in range(iters):
        rates = set()
        for v in variants:
            use_shape(v)
            t = trainers[v.name]
            rates.add(schedule.learning_rate(t.config, n, t.budget.progress(n, 0.0)))
        if len(rates) > 1:
            return n
    return iters


def run_seed(args: argparse.Namespace, text: str, seed: int) -> dict:
    from engine.config import preset
    from engine.schedule import Budget
    from engine.trainer import Trainer

    base = preset(args.preset).replace(eval_every=0)
    trainers = {}
    for v in args.variant_list:
        t = Trainer(base.replace(**v.changes), text, seed=seed, corpus_name=args.corpus)
        t.budget = Budget(iterations=args.iters)
        trainers[v.name] = t
    shared = fork_point(trainers, args.variant_list, args.iters)
    first = args.variant_list[0]
    lead = trainers[first.name]
    start = time.perf_counter()
    results: dict[str, dict] = {v.name: {} for v in args.variant_list}
    use_shape(first)
    while lead.iteration < shared:
        lead.step()
        if lead.iteration in args.checkpoints:
            loss = round(lead.evaluate(), 4)
            for v in args.variant_list:
                results[v.name][str(lead.iteration)] = loss
    state = copy.deepcopy(lead.state_dict())
    for v in args.variant_list:
        t = trainers[v.name]
        if t is not lead:
            t.load_state_dict(copy.deepcopy(state))
        use_shape(v)
        while t.iteration < args.iters:
            t.step()
            if t.iteration in args.checkpoints:
                results[v.name][str(t.iteration)] = round(t.evaluate(), 4)
    return {
        "seed": seed,
        "shared_iterations": shared,
        "seconds": round(time.perf_counter() - start),
        "held_out": results,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from engine.blas import pin_threads

    pin_threads(args.threads)
    import corpora

    _, text = corpora.load(args.corpus)
    seeds = [run_seed(args, text, seed) for seed in args.seed_list]
    final = str(args.iters)
    summary = {
        v.name: {
            "mean": round(statistics.mean(s["held_out"][v.name][final] for s in seeds), 4),
            "by_seed": [s["held_out"][v.name][final] for s in seeds],
        }
        for v in args.variant_list
    }
    report = {
        "benchmark": "learning-rate schedules at a fixed number of iterations",
        "preset": args.preset,
        "corpus": args.corpus,
        "iterations": args.iters,
        "held_out_at_end": summary,
        "runs": seeds,
        "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
        if argv is None
        else None,
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
