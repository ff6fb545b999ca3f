"""Peak memory and time to the first training step on a 200 MB corpus, classic and gru.

Writes a corpus of repeated tinyshakespeare (ASCII, 65 characters) to a temporary directory,
then for each preset starts a fresh Python process that reads it, builds the Trainer and
trains one step (for gru that step is followed by its first validation pass, as in the
headless log: the first log line appears after it). Each child reports its peak resident
memory (getrusage) and timings. With --baseline DIR the same runs are made with the code in
DIR (e.g. `git archive main | tar -x -C DIR`), in the same invocation, so the two can be
compared under the same load. BLAS is pinned to one thread, as in the other benchmarks: on a
shared machine two OpenBLAS threads made a gru validation pass over ten times slower. Prints
one JSON object.

    .venv/bin/python benchmarks/big_corpus.py [--mb 200] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout, too
from engine.blas import thread_env  # noqa: E402

PRESETS = ("classic", "gru")

CHILD = """
import json, resource, sys, time
t0 = time.perf_counter()
from pathlib import Path
from engine.config import preset
from engine.data import read_text
from engine.trainer import Trainer
text = read_text(Path(sys.argv[1]))
t1 = time.perf_counter()
trainer = Trainer(preset(sys.argv[2]), text, corpus_name="big")
t2 = time.perf_counter()
result = trainer.step()
t3 = time.perf_counter()
print(json.dumps({
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "read_s": round(t1 - t0, 2),
    "build_s": round(t2 - t1, 2),
    "first_step_s": round(t3 - t2, 2),
    "to_first_log_line_s": round(t3 - t0, 2),
    "to_first_log_line_cpu_s": round(time.process_time(), 2),  # what an idle machine takes
    "validated": result.val_loss is not None,
}))
"""


def write_corpus(directory: Path, megabytes: int) -> Path:
    seed = (ROOT / "corpora" / "tinyshakespeare.txt").read_bytes()
    path = directory / "big.txt"
    target = megabytes * 10**6
    with path.open("wb") as f:
        for _ in range(target // len(seed)):
            f.write(seed)
        f.write(seed[: target % len(seed)])
    return path


def measure(code: Path, corpus: Path, preset: str, timeout: float) -> dict:
    try:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(corpus), preset],
            cwd=code,
            env={"PYTHONPATH": str(code), "PATH": "/usr/bin:/bin"} | thread_env(1),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"timed_out_after_s": timeout}
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:]}
    result = json.loads(done.stdout)
    result["rss_per_file_byte"] = round(result["peak_rss_mb"] * 2**20 / corpus.stat().st_size, 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="corpus size in MB (default 200)")
    parser.add_argument("--baseline", type=Path, help="another checkout to measure as well")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per run")
    args = parser.parse_args()
    codes = {"this": ROOT} | ({"baseline": args.baseline.resolve()} if args.baseline else {})
    with tempfile.TemporaryDirectory() as tmp:
        corpus = write_corpus(Path(tmp), args.mb)
        report = {"corpus_bytes": corpus.stat().st_size, "targets": {
            "rss_per_file_byte": 3.0, "to_first_log_line_s": 15.0}}  # fmt: skip
        for label, code in codes.items():
            report[label] = {p: measure(code, corpus, p, args.timeout) for p in PRESETS}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
