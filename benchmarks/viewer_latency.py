"""How long a detached run's socket loop takes to answer a viewer while the run trains.

The loop thread answers a line that is not a command (an error Notice) without the training
thread's help, so the time from sending such a line to reading the answer is the loop's own
latency. It is measured while the run trains (the training thread competes for the
interpreter) and, as the reference in the same run, while it is paused (the training thread
idles). `--load K` adds K busy processes, as on a shared machine. Prints JSON with medians,
the 99th percentile, the maximum and the median ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from engine.blas import thread_env
from tui.runs.endpoint import connect
from tui.runs.rundir import RunDir
from tui.runs.status import live_owner, pid_alive

ENV = os.environ | thread_env(1)


def round_trips(viewer, reader, count: int) -> list[float]:
    """Milliseconds for each of `count` refused lines to be answered."""
    times = []
    for _ in range(count):
        start = time.perf_counter()
        viewer.sendall(b"not a command\n")
        while not json.loads(reader.readline()).get("text", "").startswith("command refused"):
            pass
        times.append((time.perf_counter() - start) * 1000)
        time.sleep(0.01)
    return times


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "median_ms": round(statistics.median(ordered), 2),
        "p99_ms": round(ordered[max(0, int(0.99 * len(ordered)) - 1)], 2),
        "max_ms": round(ordered[-1], 2),
    }


def measure(args: argparse.Namespace, tmp: Path) -> dict[str, object]:
    flags = ["--preset", args.preset, *(["--hidden", str(args.hidden)] if args.hidden else [])]
    subprocess.run([sys.executable, "-m", "tui.cli", "train", args.corpus, "--detach",
                    "--run-dir", "run", *flags], cwd=tmp, env=ENV, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    run_dir = RunDir(tmp / "run")
    pid = live_owner(run_dir)
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
               for _ in range(args.load)]  # fmt: skip
    try:
        viewer = connect(run_dir.socket, pid, timeout=30)
        reader = viewer.makefile("rb")
        reader.readline()  # the Welcome
        time.sleep(1.0)  # training at full speed
        training = round_trips(viewer, reader, args.count)
        viewer.sendall(b'{"v": 1, "type": "Pause"}\n')
        time.sleep(0.5)
        paused = round_trips(viewer, reader, args.count)
        viewer.close()
    finally:
        for burner in burners:
            burner.kill()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            while pid_alive(pid):  # it saves, then goes: only then may its directory go
                time.sleep(0.05)
    return {"training": summary(training), "paused": summary(paused),
            "training_vs_paused_median": round(statistics.median(training)
                                                / statistics.median(paused), 2)}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="tinyshakespeare")
    parser.add_argument("--preset", default="classic")
    parser.add_argument("--hidden", type=int, default=0, help="override the preset's size")
    parser.add_argument("--count", type=int, default=200, help="round trips per state")
    parser.add_argument("--load", type=int, default=0, help="busy processes alongside")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = measure(args, Path(tmp))
    print(json.dumps({"preset": args.preset, "hidden": args.hidden or None, "load": args.load,
                      "count": args.count, **result, "cpus": os.cpu_count()}, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
