"""How far back one character's loss reaches, measured on trained checkpoints, as JSON.

    python benchmarks/horizon.py classic.npz lstm.npz gru.npz --corpus alice

For each checkpoint, over N passages of L + 1 characters spread evenly over the last tenth
of the corpus (the held-out part for the presets that keep one), each read on from the
state the 200 characters before it leave: the horizon, the number of steps back that the
gradient of the last character's loss, ‖∂L_T/∂s_t‖, stays at or above 1% of its size at the
last step (engine/through_time.py, what the inspect screen's `b` view and `charrnn inspect
--through-time` show). Quartiles over the passages, for each layer; a passage whose
gradient never falls below 1% counts as L (it reached the start).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, too

import corpora
from engine import checkpoint
from engine.through_time import WindowPass, passage_replay

WARMUP = 200


def horizons(path: str, ids: np.ndarray, passages: int, length: int) -> dict:
    ckpt = checkpoint.load(path)
    model, params = checkpoint.load_model(ckpt)
    tail = int(len(ids) * 0.9)
    starts = np.linspace(tail + WARMUP, len(ids) - length - 1, passages).astype(int)
    found: list[list[int]] = [[] for _ in model.cells]
    began = time.perf_counter()
    for start in starts:
        before = ids[start - WARMUP : start]
        _, _, state = model.forward_layers(params, before[:, None], model.zero_state(1))
        replay = passage_replay(params, ids[start : start + length + 1], state)
        flow = WindowPass(ckpt.config, len(ckpt.vocab), replay, 0).flow(0, ckpt.vocab)
        for layer, lf in enumerate(flow.layers):
            found[layer].append(lf.horizon)
    return {
        "checkpoint": path,
        "cell": ckpt.config.cell,
        "seq_length": ckpt.config.seq_length,
        "iteration": int(ckpt.meta["iteration"]),
        "passages": passages,
        "length": length,
        "horizon_quartiles_per_layer": [
            [float(q) for q in np.percentile(h, [25, 50, 75])] for h in found
        ],
        "reached_the_start": [float(np.mean(np.array(h) >= length)) for h in found],
        "seconds": round(time.perf_counter() - began, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("checkpoints", nargs="+")
    p.add_argument("--corpus", default="alice", help="the corpus they were trained on")
    p.add_argument("--passages", type=int, default=40)
    p.add_argument("--length", type=int, default=100, help="steps per passage (L)")
    args = p.parse_args(argv)
    _, text = corpora.load(args.corpus)
    results = []
    for path in args.checkpoints:
        ids = checkpoint.load(path).vocab.encode(text, what="the corpus")
        results.append(horizons(path, ids, args.passages, args.length))
    print(json.dumps({"corpus": args.corpus, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
