"""Training throughput, ours against a baseline measured side by side in the same run, as JSON.

    python benchmarks/speed.py              # every target, a few minutes
    python benchmarks/speed.py --quick      # about a minute
    python benchmarks/speed.py --targets lstm --lstm-threads 1,2

Targets (issue 4), all on tinyshakespeare, characters per second of full training steps
(forward, backward, clipping, optimiser update, data windows):
  classic  the classic preset (RNN 100, B=1, seq 25, float64, Adagrad) against the one-hot
           re-statement of min-char-rnn in tests/minchar_reference.py, from the same weights:
           goal >= 3x
  rnn      vanilla RNN 100, B=64, seq 50, float32, mean loss, Adagrad, against PyTorch nn.RNN
           + Linear + cross-entropy + clip_grad_value_ + Adagrad at the same configuration:
           goal >= 1.5x
  lstm     LSTM 256, B=64, seq 50, float32, the same against nn.LSTM: goal >= 0.8x, at each
           thread count of --lstm-threads
  gru      GRU 256 against nn.GRU, for information (no goal)
  process  the whole program, samples and start-up included (issue 10): `python -m tui.cli
           train CORPUS --headless --preset classic --iters N` against tests/minchar_reference.py
           run as min-char-rnn's own program (its loop, np.random.choice sampling of 200
           characters every 100 iterations, its log), N = 10,000 (--quick: 2,000), each a
           fresh process with one BLAS thread, alternating; output to /dev/null: goal >= 4x.
           Also the start-up of `charrnn train --headless --iters 0` and whether it imports
           Textual (python -X importtime), with the import chain that pulls it in if so.

Each (target, thread count N) runs in its own process, pinned before numpy is imported: ours
splits each minibatch across N threads (workers=N) with one OpenBLAS thread each, as the
charrnn command does, and PyTorch gets torch.set_num_threads(N). Ours
and the baseline alternate in short repeats; figures are medians over the repeats, and `ratio`
is the median of the per-repeat ratios, which is steadier than a ratio of medians when other
work shares the machine. `--clock cpu` times single-threaded runs by this process's CPU time,
which a busy machine disturbs far less than wall time (runs with more than one thread always
use wall time). PyTorch baselines are skipped with a message if torch is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout, too
from engine.blas import pin_threads, thread_env  # noqa: E402  (no numpy: see engine/blas.py)

TARGETS = ("classic", "rnn", "lstm", "gru", "process")
GOALS = {"classic": 3.0, "rnn": 1.5, "lstm": 0.8, "process": 4.0}
PROCESS_PLAN = ((10_000, 3), (2_000, 2))  # (iterations, repeats), full and --quick

# (iterations per repeat, repeats) for each target, full and --quick.
PLAN = {
    "classic": ((60, 41), (40, 25)),
    "rnn": ((10, 31), (6, 15)),
    "lstm": ((3, 21), (2, 9)),
    "gru": ((3, 21), (2, 9)),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer and shorter repeats (~1 minute)")
    p.add_argument(
        "--targets", default=",".join(TARGETS), help=f"comma-separated, from {', '.join(TARGETS)}"
    )
    p.add_argument(
        "--threads", type=int, default=1, help="BLAS threads for classic, rnn, gru (default 1)"
    )
    p.add_argument(
        "--lstm-threads",
        help="thread counts for the lstm target (default 1,2; with --quick, 1)",
    )
    p.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="time single-threaded runs by wall time or by this process's CPU time (default wall)",
    )
    p.add_argument("--corpus", default="tinyshakespeare", help="bundled name or path")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.targets = [t for t in args.targets.split(",") if t]
    unknown = sorted(set(args.targets) - set(TARGETS))
    if unknown:
        p.error(f"unknown target(s) {', '.join(unknown)} (choose from {', '.join(TARGETS)})")
    default = "1" if args.quick else "1,2"
    args.lstm_threads = [int(n) for n in (args.lstm_threads or default).split(",") if n]
    return args


# -- the coordinating process --------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    jobs: dict[int, list[str]] = {}
    for target in (t for t in args.targets if t != "process"):
        counts = args.lstm_threads if target == "lstm" else [args.threads]
        for n in counts:
            jobs.setdefault(n, []).append(target)
    results = []
    for threads, targets in sorted(jobs.items()):
        cmd = [sys.executable, __file__, "--worker", "--threads", str(threads)]
        cmd += ["--targets", ",".join(targets), "--corpus", args.corpus, "--clock", args.clock]
        cmd += ["--quick"] if args.quick else []
        env = os.environ | thread_env(threads)
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            sys.stderr.write(out.stderr)
            return out.returncode
        results += json.loads(out.stdout)
    if "process" in args.targets:
        results.append(whole_process(args))
    report = {
        "benchmark": "speed",
        "command": " ".join(["python", "benchmarks/speed.py", *(argv or sys.argv[1:])]),
        "quick": args.quick,
        "corpus": args.corpus,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "python": platform.python_version(),
        "results": results,
    }
    print(json.dumps(report, indent=2))
    return 0


# -- the whole program against min-char-rnn's, in fresh processes ----------------------------


def whole_process(args: argparse.Namespace) -> dict:
    """Seconds per run of each program, alternating, and the median of per-repeat ratios."""
    sys.path.insert(0, str(ROOT))
    import corpora

    iters, repeats = PROCESS_PLAN[1 if args.quick else 0]
    corpus_file = corpora.resolve(args.corpus).path
    ours = [sys.executable, "-m", "tui.cli", "train", args.corpus, "--headless"]
    ours += ["--preset", "classic", "--iters", str(iters)]
    minchar = [sys.executable, str(ROOT / "tests" / "minchar_reference.py"), str(corpus_file)]
    minchar += ["--iters", str(iters)]
    ours_s, minchar_s = [], []
    for r in range(repeats):
        pair = (
            [(minchar, minchar_s), (ours, ours_s)]
            if r % 2
            else [(ours, ours_s), (minchar, minchar_s)]
        )
        for cmd, times in pair:
            times.append(run_seconds(cmd, args.clock))
    start_only = [*ours[:6], "--iters", "0"]  # the same command, training nothing
    startup = [run_seconds(start_only, args.clock) for _ in range(5)]
    import numpy as np

    return {
        "target": "process",
        "threads": 1,
        "clock": args.clock,
        "iters": iters,
        "repeats": repeats,
        "ours": " ".join(["python", *ours[1:]]),
        "baseline": " ".join(["python", "tests/minchar_reference.py", str(corpus_file.name)])
        + f" --iters {iters}",
        "ours_s": round(float(np.median(ours_s)), 2),
        "baseline_s": round(float(np.median(minchar_s)), 2),
        "ratio": round(float(np.median(np.array(minchar_s) / np.array(ours_s))), 3),
        "goal_ratio": GOALS["process"],
        "met": bool(np.median(np.array(minchar_s) / np.array(ours_s)) >= GOALS["process"]),
        "startup_s": round(float(np.median(startup)), 3),
        "textual_imported_by": textual_import_chain(start_only),
    }


def run_seconds(cmd: list[str], clock: str) -> float:
    """Wall seconds of one run of `cmd` (one BLAS thread), or its CPU seconds (user + system)
    with --clock cpu, which a busy machine disturbs less."""
    import resource

    env = os.environ | thread_env(1)
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run(
        cmd, env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=True
    )
    wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
    if clock == "wall":
        return wall
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def textual_import_chain(cmd: list[str]) -> list[str] | None:
    """None if `cmd` never imports textual; else the chain of imports, outermost first, that
    first pulls it in (read from python -X importtime, whose indentation is nesting)."""
    env = os.environ | thread_env(1)
    out = subprocess.run(
        [cmd[0], "-X", "importtime", *cmd[1:]],
        env=env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
    )
    rows = []  # (depth, module) in the order importtime prints them: children first
    for line in out.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1]
            rows.append((len(name) - len(name.lstrip()), name.strip()))
    first = next((i for i, (_, m) in enumerate(rows) if m.split(".")[0] == "textual"), None)
    if first is None:
        return None
    chain, depth = [rows[first][1]], rows[first][0]
    for d, module in rows[first + 1 :]:  # a parent is printed after its children
        if d < depth:
            chain.insert(0, module)
            depth = d
    return chain


# -- a worker: one thread count, threads pinned before numpy is imported ---------------------


def worker(args: argparse.Namespace) -> int:
    pin_threads(args.threads)
    # Ours uses N cores as the charrnn command does, by splitting the minibatch across N
    # threads (workers=N) with one BLAS thread each; PyTorch gets N intra-op threads.
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "tests"))
    import numpy as np

    import corpora
    from engine.trainer import Trainer

    torch = import_torch(args.threads)
    name, text = corpora.load(args.corpus)
    configs = target_configs(args.threads)
    clock = time.process_time if args.clock == "cpu" and args.threads == 1 else time.perf_counter
    results = []
    for target in args.targets:
        config = configs[target]
        trainer = Trainer(config, text, seed=0, corpus_name=name)
        entry: dict = {
            "target": target,
            "threads": args.threads,
            "numpy": np.__version__,
            "torch": torch.__version__ if torch is not None else None,
            "config": {
                k: getattr(config, k)
                for k in ("cell", "hidden", "batch", "seq_length", "dtype", "optimizer", "loss")
            },
            "goal_ratio": GOALS.get(target),
        }
        baseline, label = baseline_step(target, trainer, torch, np)
        if baseline is None:
            entry["baseline_skipped"] = "torch is not importable (pip install torch==2.13.0)"
        iters, repeats = PLAN[target][1 if args.quick else 0]
        entry["clock"] = "cpu" if clock is time.process_time else "wall"
        chars = config.batch * config.seq_length
        entry |= measure(trainer.step, baseline, chars, iters, repeats, np, clock)
        if label:
            entry["baseline"] = label
            if entry["goal_ratio"]:
                entry["met"] = entry["ratio"] >= entry["goal_ratio"]
        results.append(entry)
    print(json.dumps(results))
    return 0


def import_torch(threads: int):
    """PyTorch with `threads` intra-op threads, or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def target_configs(threads: int) -> dict:
    """Each target's configuration (the minibatch ones split across `threads` workers)."""
    from engine.config import Config, preset

    fast = Config(batch=64, seq_length=50, dtype="float32", loss="mean", lr=0.01, workers=threads)
    return {
        "classic": preset("classic"),
        "rnn": fast.replace(cell="rnn", hidden=100),
        "lstm": fast.replace(cell="lstm", hidden=256),
        "gru": fast.replace(cell="gru", hidden=256),
    }


def baseline_step(
    target: str, trainer, torch, np
) -> tuple[Callable[[], object] | None, str | None]:
    """(one step of the baseline, its label): min-char-rnn's re-statement for classic, else
    PyTorch at the same configuration; (None, None) when PyTorch is missing."""
    from engine.data import BatchStream

    if target == "classic":
        return reference_step(trainer, np), "tests/minchar_reference.py (one-hot)"
    if torch is None:
        return None, None
    config = trainer.config
    stream = BatchStream(trainer.train_ids, config.batch, config.seq_length)
    label = f"PyTorch {torch.__version__} nn.{target.upper()} + Linear, one-hot input"
    return torch_step(torch, config, len(trainer.vocab), stream), label


def measure(
    ours: Callable[[], object],
    baseline: Callable[[], object] | None,
    chars: int,
    iters: int,
    repeats: int,
    np,
    clock: Callable[[], float],
) -> dict:
    """Chars/s medians over `repeats`, ours and the baseline alternating (order swapped every
    repeat so that a slow spell of the machine does not always land on the same side)."""

    def rate(step: Callable[[], object]) -> float:
        start = clock()
        for _ in range(iters):
            step()
        return chars * iters / (clock() - start)

    for _ in range(2):  # warm up caches, allocator and BLAS buffers
        ours()
        if baseline:
            baseline()
    mine, theirs = [], []
    for r in range(repeats):
        if baseline and r % 2:
            theirs.append(rate(baseline))
        mine.append(rate(ours))
        if baseline and not r % 2:
            theirs.append(rate(baseline))
    out = {"ours_chars_per_s": round(float(np.median(mine))), "repeats": repeats, "iters": iters}
    if baseline:
        out["baseline_chars_per_s"] = round(float(np.median(theirs)))
        out["ratio"] = round(float(np.median(np.array(mine) / np.array(theirs))), 3)
    return out


def reference_step(trainer, np) -> Callable[[], object]:
    """min-char-rnn's loop (one-hot column vectors, a step at a time) from the same weights."""
    import minchar_reference

    p = trainer.params
    names = ["l0.Wxh", "l0.Whh", "Why", "l0.bh", "by"]
    weights = [p[n].reshape(len(p[n]), -1).copy() for n in names]  # biases as columns
    data = [int(i) for i in trainer.train_ids]  # min-char-rnn reads a Python list of ints
    loop = minchar_reference.train(data, len(trainer.vocab), weights, iterations=10**12)
    return lambda: next(loop)


def torch_step(torch, config, vocab_size: int, stream) -> Callable[[], object]:
    """One PyTorch training step doing the same work as ours: one-hot input, recurrent layer,
    Linear output, mean cross-entropy, backward, element-wise clip, Adagrad; state carried."""
    nn, functional = torch.nn, torch.nn.functional
    layer = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[config.cell](vocab_size, config.hidden)
    head = nn.Linear(config.hidden, vocab_size)
    params = [*layer.parameters(), *head.parameters()]
    optimizer = torch.optim.Adagrad(params, lr=config.lr)
    state = None

    def step() -> float:
        nonlocal state
        inputs, targets, reset = stream.next_window()
        if reset:
            state = None
        x = functional.one_hot(torch.from_numpy(inputs), vocab_size).float()
        out, state = layer(x, state)
        logits = head(out).reshape(-1, vocab_size)
        loss = functional.cross_entropy(logits, torch.from_numpy(targets).reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_value_(params, config.clip)
        optimizer.step()
        state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        return float(loss)

    return step


if __name__ == "__main__":
    sys.exit(main())
