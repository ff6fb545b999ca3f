"""Training steps with the minibatch split across threads (--workers 2) against one thread, as
JSON.

    python benchmarks/workers.py                  # rnn-fast, lstm, gru, long
    python benchmarks/workers.py --presets gru --steps 60

Each preset trains on tinyshakespeare in one process with one BLAS thread (as the charrnn
command sets it); steps alternate in blocks between a trainer with workers=1 and one with
workers=2 built from the same seed, so both see the same machine load. Reported: the median
milliseconds per full training step (forward, backward, clipping, Adam update) of each, and
the median of the per-block ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

PRESETS = ("rnn-fast", "lstm", "gru", "long")


def measure(preset_name: str, steps: int, block: int) -> dict:
    import corpora
    from engine.config import preset
    from engine.trainer import Trainer

    _, text = corpora.load("tinyshakespeare")
    config = preset(preset_name).replace(eval_every=0)
    trainers = {w: Trainer(config.replace(workers=w), text) for w in (1, 2)}
    times: dict[int, list[float]] = {1: [], 2: []}
    ratios = []
    for trainer in trainers.values():
        trainer.train(3)  # warm caches and the thread pool
    for _ in range(max(1, steps // block)):
        block_time = {}
        for workers, trainer in trainers.items():
            start = time.perf_counter()
            for _ in range(block):
                step_start = time.perf_counter()
                trainer.step()
                times[workers].append(time.perf_counter() - step_start)
            block_time[workers] = time.perf_counter() - start
        ratios.append(block_time[1] / block_time[2])
    chars = config.batch * config.seq_length
    return {
        "preset": preset_name,
        "ms_per_step_1_thread": round(statistics.median(times[1]) * 1e3, 2),
        "ms_per_step_2_threads": round(statistics.median(times[2]) * 1e3, 2),
        "chars_per_s_1_thread": round(chars / statistics.median(times[1])),
        "chars_per_s_2_threads": round(chars / statistics.median(times[2])),
        "speedup_median_of_blocks": round(statistics.median(ratios), 3),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--presets", default=",".join(PRESETS), help="comma-separated preset names")
    p.add_argument("--steps", type=int, default=40, help="steps per trainer (default 40)")
    p.add_argument("--block", type=int, default=5, help="steps per alternation (default 5)")
    args = p.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from engine.blas import pin_threads

    pin_threads(1)  # before numpy loads
    results = [measure(name, args.steps, args.block) for name in args.presets.split(",")]
    report = {
        "benchmark": "workers",
        "command": "python benchmarks/" + " ".join([Path(__file__).name, *(argv or sys.argv[1:])]),
        "machine": {"cpus": os.cpu_count()},
        "results": results,
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
