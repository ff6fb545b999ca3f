"""Sampling cost: microseconds per generated character, the one-row sampler against the old
path, side by side in the same run, as JSON.

    python benchmarks/sampling.py               # classic, lstm, gru presets
    python benchmarks/sampling.py --clock cpu   # steadier on a busy machine

Each preset's model (tinyshakespeare's vocabulary, initial weights: the cost does not depend
on what the model has learnt) generates samples of --length characters (default 200, as
during training) at temperature 1:
  new  engine.sampling.generate: each cell's RowStep on buffers made once per sample, and
       the Gumbel-max trick with noise made a block of characters at a time
  old  the algorithm before it, restated below: the batched forward pass on a (1, 1) window
       per character, a fresh softmax, and Generator.choice(p=...)
`matvec_floor_us_per_char` times a character's matrix-vector products alone (the recurrent
and output weights, read once per character): the part no B=1 sampler can avoid.
Old and new alternate in short repeats (order swapped every repeat); figures are medians,
and `speedup` (old us/char over new) is the median of the per-repeat ratios. BLAS runs on one
thread (pinned before numpy is imported). Goal: >= 5x for classic and lstm (issue 10).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from engine.blas import pin_threads  # noqa: E402  (imports nothing that imports numpy)

pin_threads(1)

import numpy as np  # noqa: E402
from speed import measure  # noqa: E402

import corpora  # noqa: E402
from engine.config import preset  # noqa: E402
from engine.model import CharModel, softmax  # noqa: E402
from engine.sampling import SampleSettings, generate  # noqa: E402
from engine.vocab import Vocab  # noqa: E402

PRESETS = ("classic", "lstm", "gru")
GOALS = {"classic": 5.0, "lstm": 5.0}


def old_generate(model, params, state, first_id, settings, rng):
    """The sampler as it was: a batched forward pass per character and Generator.choice."""
    x = np.array([[first_id]])
    for _ in range(settings.length):
        top, _, state = model.forward_layers(params, x, state)
        scaled = model.logits(params, top)[0, 0].astype(np.float64) / settings.temperature
        if 0 < settings.top_k < len(scaled):
            cutoff = np.partition(scaled, -settings.top_k)[-settings.top_k]
            scaled[scaled < cutoff] = -np.inf
        probs = softmax(scaled)
        idx = int(probs.argmax()) if settings.greedy else int(rng.choice(len(probs), p=probs))
        yield idx, float(probs[idx])
        x = np.array([[idx]])


def sampler(make, model, params, settings):
    """One whole sample per call, from a zero state, as `make` generates it."""
    rng = np.random.default_rng(0)
    state = model.zero_state(1)
    return lambda: sum(1 for _ in make(model, params, state, 0, settings, rng))


def model_label(c) -> str:
    feed = f"embedding {c.embedding}" if c.embedding else "one-hot"
    return f"{c.cell} {c.layers}x{c.hidden}, {feed}, {c.dtype}"


def matvec_floor(model, params):
    """One character's matrix-vector products alone (each layer's recurrent product and the
    output layer's), on preallocated buffers: what no B=1 sampler in numpy can go below."""
    products = []
    for i, cell in enumerate(model.cells):
        w = params[f"l{i}.Whh"] if cell.name == "rnn" else params[f"l{i}.Wh"]
        h, out = np.zeros(cell.hidden, w.dtype), np.empty(w.shape[1], w.dtype)
        products.append((h, w.T, out) if cell.name == "rnn" else (h, w, out))
    why = params["Why"]
    top, logits = np.zeros(why.shape[1], why.dtype), np.empty(len(why), why.dtype)

    def run():
        for h, w, out in products:
            np.dot(h, w, out)
        np.dot(why, top, logits)

    return run


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--presets", default=",".join(PRESETS), help="comma-separated preset names")
    p.add_argument("--length", type=int, default=200, help="characters per sample (default 200)")
    p.add_argument("--repeats", type=int, default=15, help="repeats per side (default 15)")
    p.add_argument("--top-k", type=int, default=0, help="sample from the k likeliest (default 0)")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall", help="default wall")
    args = p.parse_args(argv)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    vocab = Vocab.from_text(corpora.load("tinyshakespeare")[1])
    settings = SampleSettings(length=args.length, top_k=args.top_k)
    results = []
    for name in args.presets.split(","):
        model = CharModel(preset(name), len(vocab))
        params = model.init_params(0)

        new = sampler(generate, model, params, settings)
        old = sampler(old_generate, model, params, settings)
        rates = measure(new, old, args.length, 1, args.repeats, np, clock)
        new_us, old_us = 1e6 / rates["ours_chars_per_s"], 1e6 / rates["baseline_chars_per_s"]
        floor = measure(matvec_floor(model, params), None, 1, args.length, args.repeats, np, clock)
        results.append(
            {
                "preset": name,
                "model": model_label(model.config),
                "old_us_per_char": round(old_us, 1),
                "new_us_per_char": round(new_us, 1),
                "speedup": rates["ratio"],
                "matvec_floor_us_per_char": round(1e6 / floor["ours_chars_per_s"], 1),
                "goal_speedup": GOALS.get(name),
                "met": rates["ratio"] >= GOALS[name] if name in GOALS else None,
            }
        )
    report = {
        "benchmark": "sampling",
        "command": " ".join(["python", "benchmarks/sampling.py", *(argv or sys.argv[1:])]),
        "sample_length": args.length,
        "top_k": args.top_k,
        "clock": args.clock,
        "repeats": args.repeats,
        "blas_threads": 1,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "numpy": np.__version__,
        "results": results,
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
