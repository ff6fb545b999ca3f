"""How long the inspect pass takes on a 2,000-character passage with the `lstm` preset, as JSON.

    python benchmarks/inspect_speed.py              # 21 repeats, a few seconds
    python benchmarks/inspect_speed.py --repeats 7 --chars 500 --preset gru

Goal (issue 7): well under 100 ms for `forward_passage` (predictions, top-5 and every
activation). The reference, measured alternately in the same run, is the model's bare forward
pass over the same ids (`CharModel.run`, the recurrent loop the inspect pass cannot avoid):
`ratio` is the median of per-repeat ratios, steadier than the milliseconds on a shared machine.
`forward_passage_cpu_ms` is the same pass timed by this process's CPU time, which other work
on a shared machine disturbs far less than wall time. The unit finder and gate saturation are
timed too, for information. BLAS runs on one thread, pinned before numpy is imported (more
threads only slow products this small).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from engine.blas import pin_threads

pin_threads(1, keep_set=True)

import numpy as np  # noqa: E402

import corpora  # noqa: E402
from engine.config import preset  # noqa: E402
from engine.inspect import find_units, forward_passage, gate_saturation  # noqa: E402
from engine.model import CharModel  # noqa: E402
from engine.vocab import Vocab  # noqa: E402

GOAL_MS = 100.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--preset", default="lstm", help="model preset (default lstm)")
    p.add_argument("--chars", type=int, default=2000, help="passage length (default 2000)")
    p.add_argument("--repeats", type=int, default=21, help="timed repeats (default 21)")
    return p.parse_args(argv)


def millis(fn, clock=time.perf_counter) -> float:  # type: ignore[no-untyped-def]
    start = clock()
    fn()
    return (clock() - start) * 1000


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _, text = corpora.load("tinyshakespeare")
    vocab = Vocab.from_text(text)
    config = preset(args.preset)
    model = CharModel(config, len(vocab))
    params = model.init_params(0)  # speed does not depend on what the weights have learnt
    passage_text = text[-args.chars :]  # held-out end of the corpus
    ids = vocab.encode(passage_text)[:, None]

    def inspect() -> None:
        forward_passage(model, params, vocab, passage_text, top_k=5)

    def bare() -> None:
        model.forward_layers(params, ids, model.zero_state(1))

    inspect(), bare()  # warm caches and BLAS
    inspect_ms, bare_ms, inspect_cpu_ms = [], [], []
    for _ in range(args.repeats):
        inspect_ms.append(millis(inspect))
        bare_ms.append(millis(bare))
        inspect_cpu_ms.append(millis(inspect, time.process_time))
    passage = forward_passage(model, params, vocab, passage_text)
    finder_ms = [millis(lambda: find_units(passage)) for _ in range(5)]
    gates_ms = [millis(lambda: gate_saturation(passage)) for _ in range(5)]
    median = statistics.median(inspect_ms)
    report = {
        "preset": args.preset,
        "chars": len(passage_text),
        "repeats": args.repeats,
        "forward_passage_ms": round(median, 2),
        "forward_passage_cpu_ms": round(statistics.median(inspect_cpu_ms), 2),
        "bare_forward_ms": round(statistics.median(bare_ms), 2),
        "ratio_to_bare_forward": round(
            statistics.median(a / b for a, b in zip(inspect_ms, bare_ms, strict=True)), 3
        ),
        "find_units_ms": round(statistics.median(finder_ms), 2),
        "gate_saturation_ms": round(statistics.median(gates_ms), 2),
        "goal_ms": GOAL_MS,
        "meets_goal_cpu": statistics.median(inspect_cpu_ms) < GOAL_MS,
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "cpus": os.cpu_count(),
            "load_average_1min": round(os.getloadavg()[0], 2),
        },
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
