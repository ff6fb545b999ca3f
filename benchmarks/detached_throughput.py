"""Training speed of a detached run against a headless one, with and without a viewer.

Each repeat runs, back to back and with one BLAS thread each: `charrnn train --headless`, a
`--detach`ed run nobody watches, and a `--detach`ed run with one viewer reading every event
(as `charrnn attach` does). All three write metrics.jsonl; chars/s is measured from its wall
clock between the first and last record, so start-up is left out the same way for each.
Prints JSON with medians and the median of the per-repeat ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from engine.blas import thread_env

ENV = os.environ | thread_env(1)


def charrnn(*argv: str, cwd: Path) -> None:
    subprocess.run([sys.executable, "-m", "tui.cli", *argv], cwd=cwd, env=ENV, check=True,
                   stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)  # fmt: skip


def rate(run: Path, chars_per_iteration: int) -> float:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    timed = [r for r in records if "wall" in r][1:]  # the first record includes start-up
    first, last = timed[0], timed[-1]
    return (
        (last["iteration"] - first["iteration"])
        * chars_per_iteration
        / (last["wall"] - first["wall"])
    )


def wait_finished(run: Path) -> None:
    while True:
        try:
            state = json.loads((run / "run.json").read_text()).get("state")
        except (OSError, ValueError):
            state = None
        if state in ("finished", "stopped", "crashed"):
            return
        time.sleep(0.1)


def watch(run: Path) -> threading.Thread:
    """A viewer that reads every event until the run ends."""

    def read() -> None:
        with socket.socket(socket.AF_UNIX) as viewer:
            viewer.connect(str(run / "control.sock"))
            while viewer.recv(1 << 16):
                pass

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def one_repeat(args: argparse.Namespace, tmp: Path, n: int) -> dict[str, float]:
    common = [args.corpus, "--preset", args.preset, "--iters", str(args.iters)]
    per_iteration = args.chars_per_iteration
    charrnn("train", *common, "--headless", "--run-dir", f"h{n}", "--log-every", "1000000",
            cwd=tmp)  # fmt: skip
    charrnn("train", *common, "--detach", "--run-dir", f"d{n}", cwd=tmp)
    wait_finished(tmp / f"d{n}")
    charrnn("train", *common, "--detach", "--run-dir", f"v{n}", cwd=tmp)
    viewer = watch(tmp / f"v{n}")
    wait_finished(tmp / f"v{n}")
    viewer.join(10)
    return {
        "headless": rate(tmp / f"h{n}", per_iteration),
        "detached": rate(tmp / f"d{n}", per_iteration),
        "detached_viewer": rate(tmp / f"v{n}", per_iteration),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="tinyshakespeare")
    parser.add_argument("--preset", default="classic")
    parser.add_argument("--iters", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from engine.config import preset

    config = preset(args.preset)
    args.chars_per_iteration = config.batch * config.seq_length
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(args.repeats):
            runs.append(one_repeat(args, Path(tmp), n))
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    result = {
        "preset": args.preset,
        "corpus": args.corpus,
        "iters": args.iters,
        "repeats": args.repeats,
        "chars_per_s": {k: [round(r[k]) for r in runs] for k in runs[0]},
        "median_chars_per_s": {k: round(v) for k, v in med.items()},
        "detached_vs_headless": round(
            statistics.median(r["detached"] / r["headless"] for r in runs), 3
        ),
        "detached_viewer_vs_headless": round(
            statistics.median(r["detached_viewer"] / r["headless"] for r in runs), 3
        ),
        "targets": {"detached_vs_headless": 0.95, "detached_viewer_vs_headless": 0.90},
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
