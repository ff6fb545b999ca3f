"""Quality per second: held-out loss after fixed wall-clock training budgets, as JSON.

    python benchmarks/quality.py                      # best preset, 60/120/300 s, + PyTorch
    python benchmarks/quality.py --quick              # 15/30 s budgets, a few minutes in all
    python benchmarks/quality.py --preset gru --no-torch
    python benchmarks/quality.py --preset gru,long --budgets 120,600 --schedule both

With `--schedule anneal` each budget is a run of its own, as `charrnn train --minutes M`
trains it: the learning rate falls geometrically from the preset's rate to its floor as the
budget ends (engine/schedule.py), and PyTorch's Adam gets the same schedule from its own rate. With
`--schedule step` (the default) one run per preset passes every budget, with the preset's
step decay, and PyTorch keeps its tuned constant rate. `both` does each, side by side.

Trains a preset on tinyshakespeare (first 90% for training, last 10% held out) and, each time
its training wall time passes a budget, evaluates the held-out text with `Trainer.evaluate`
(engine/evaluate.py: mean nats per character, 16 lanes, hidden state carried). Evaluation time
is not counted in the budget. Then, when `torch` is importable, the same for the baseline:
PyTorch nn.LSTM 256 set up as a PyTorch user would (benchmarks/torch_baseline.py: nn.Embedding
input, Adam, B=64, at the best settings found in tuning; change them with --torch-set), fed
by the same batch stream and evaluated by the same code. BLAS threads are pinned for each
side (--threads, --torch-threads).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, too

DEFAULT_PRESET = "gru"  # the best held-out loss per second in tuning
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--preset",
        default=DEFAULT_PRESET,
        help=f"preset(s) to train, comma-separated (default {DEFAULT_PRESET})",
    )
    p.add_argument(
        "--schedule",
        choices=("step", "anneal", "both"),
        default="step",
        help="the learning rate's schedule (default step: the presets' decay)",
    )
    p.add_argument(
        "--budgets", default="60,120,300", help="seconds of training at which to evaluate"
    )
    p.add_argument("--quick", action="store_true", help="budgets 15,30 (a few minutes in all)")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="OpenBLAS threads for numpy (default 1, as the charrnn command sets them: a "
        "preset's minibatch is split across its own threads, --set workers=N)",
    )
    p.add_argument("--torch-threads", type=int, default=2, help="PyTorch threads (default 2)")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch baseline")
    p.add_argument("--torch-only", action="store_true", help="run only the PyTorch baseline")
    p.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="budget clock: wall time (the benchmark), or this process's CPU time, steadier "
        "for tuning on a busy machine with one thread (default wall)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--corpus", default="tinyshakespeare")
    p.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="FIELD=VALUE",
        help="override preset fields (tuning)",
    )
    p.add_argument(
        "--torch-set",
        nargs="*",
        default=[],
        metavar="FIELD=VALUE",
        help="override the PyTorch baseline's settings (hidden, embedding, seq_length, batch, "
        "lr, clip_norm; embedding=0 for one-hot)",
    )
    args = p.parse_args(argv)
    args.budgets = [15.0, 30.0] if args.quick else [float(b) for b in args.budgets.split(",")]
    args.presets = args.preset.split(",")
    args.schedules = ["step", "anneal"] if args.schedule == "both" else [args.schedule]
    return args


def parse_overrides(pairs: list[str]) -> dict:
    from engine.config import Config

    types = {f: type(getattr(Config(), f)) for f in Config().to_dict()}
    out = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        out[key] = types[key](value)
    return out


def run_budgets(
    step, evaluate, budgets: list[float], chars_per_step: int, clock=time.perf_counter
) -> list[dict]:
    """Call `step(progress)` until its summed wall time passes each budget, then `evaluate`
    (untimed); `progress` is the time trained over the last budget (what an anneal follows).
    Stops early with a `diverged` point if the training loss stops being finite."""
    points: list[dict] = []
    trained, iterations = 0.0, 0
    for budget in budgets:
        while trained < budget:
            start = clock()
            loss = step(trained / budgets[-1])
            trained += clock() - start
            iterations += 1
            if not math.isfinite(loss):
                points.append({"budget_s": budget, "diverged_at_iteration": iterations})
                return points
        val = evaluate()
        points.append(
            {
                "budget_s": budget,
                "train_s": round(trained, 2),
                "iterations": iterations,
                "chars_per_s": round(iterations * chars_per_step / trained),
                "val_nats_per_char": round(val, 4),
                "val_bits_per_char": round(val / math.log(2), 4),
            }
        )
    return points


def run_ours(args: argparse.Namespace, text: str, name: str, schedule: str) -> dict:
    from engine.config import preset
    from engine.schedule import Budget
    from engine.trainer import Trainer

    changes = {"eval_every": 0, "schedule": schedule, **parse_overrides(args.set)}
    config = preset(name).replace(**changes)
    runs = [[b] for b in args.budgets] if schedule == "anneal" else [args.budgets]
    points, summary = [], ""
    for budgets in runs:  # an anneal ends at its budget: one run each
        trainer = Trainer(config, text, seed=args.seed, corpus_name=args.corpus)
        trainer.budget = Budget(seconds=budgets[-1])
        summary = trainer.summary()
        points += run_budgets(
            lambda _progress, t=trainer: t.step().nats_per_char,
            trainer.evaluate,
            budgets,
            config.batch * config.seq_length,
            CLOCKS[args.clock],
        )
    return {
        "preset": name,
        "schedule": schedule,
        "model": summary,
        "config": config.to_dict(),
        "blas_threads": args.threads,
        "training_threads": config.threads,
        "points": points,
    }


def run_torch(args: argparse.Namespace, text: str, schedule: str) -> dict:
    try:
        import torch
    except ImportError:
        return {"skipped": "torch is not importable (pip install torch==2.13.0 to compare)"}
    from torch_baseline import Baseline, TorchSettings

    from engine.config import Config
    from engine.schedule import annealed

    torch.set_num_threads(args.torch_threads)
    changes = dict(pair.partition("=")[::2] for pair in args.torch_set)
    settings = TorchSettings().replace(**changes)
    floor = settings.lr * Config.lr_floor  # the presets' floor
    runs = [[b] for b in args.budgets] if schedule == "anneal" else [args.budgets]
    points, description = [], ""
    for budgets in runs:
        baseline = Baseline(text, args.seed, settings)
        description = baseline.description

        def step(progress: float, b: Baseline = baseline) -> float:
            if schedule == "anneal":
                b.set_lr(annealed(settings.lr, floor, progress))
            return b.step()

        points += run_budgets(
            step, baseline.evaluate, budgets, baseline.chars_per_step, CLOCKS[args.clock]
        )
    return {
        "model": description,
        "schedule": "anneal" if schedule == "anneal" else "constant (as tuned)",
        "threads": args.torch_threads,
        "points": points,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Pinned before numpy loads OpenBLAS (as tui/cli does for the charrnn command).
    from engine.blas import pin_threads

    pin_threads(args.threads)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import corpora
    from engine.evaluate import EVAL_LANES

    _, text = corpora.load(args.corpus)
    report: dict = {
        "benchmark": "quality per second",
        "corpus": args.corpus,
        "split": "first 90% train, last 10% held out",
        "validation": f"mean nats/char over the held-out text, {EVAL_LANES} lanes, hidden state "
        "carried (engine/evaluate.py, shared with the PyTorch baseline)",
        "timing": f"budgets count training {args.clock} time only; evaluation is excluded",
        "budgets_s": args.budgets,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
        if argv is None
        else None,
    }
    report["runs"] = []
    for schedule in args.schedules:
        if not args.torch_only:
            for name in args.presets:
                report["runs"].append(run_ours(args, text, name, schedule))
        if not args.no_torch:
            report["runs"].append({"preset": "pytorch", **run_torch(args, text, schedule)})
    report["table"] = table(report["runs"])
    print(json.dumps(report, indent=2))
    return 0


def table(runs: list[dict]) -> list[dict]:
    """One row per budget: held-out nats/char of each run, by preset and schedule."""
    rows: dict[float, dict] = {}
    for run in runs:
        for point in run.get("points", []):
            key = f"{run['preset']} {run['schedule'].split()[0]}"
            row = rows.setdefault(point["budget_s"], {"budget_s": point["budget_s"]})
            row[key] = point.get("val_nats_per_char", "diverged")
    return [rows[b] for b in sorted(rows)]


if __name__ == "__main__":
    sys.exit(main())
