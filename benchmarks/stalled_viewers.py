"""Memory of a detached run while many viewers connect and never read (issue 20).

Starts a `--detach`ed run on the Japanese corpus (each character is 6 bytes of JSON), has one
viewer request the longest samples (with the longest prime) while --stalled more viewers are
connected that read their first line and then nothing, in two waves, and prints the run's
RSS (VmRSS from /proc) before and after each wave as JSON, with how many viewers were served
and how many were turned away. tests/test_viewer_limits.py asserts the bound; this prints
the figures.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import corpora
from engine.limits import MAX_PRIME_LENGTH, MAX_SAMPLE_LENGTH
from tui.runs.protocol import Sample, SampleReady, Welcome, decode, encode

TINY = ["--hidden", "8", "--seq-length", "8", "--sample-every", "0"]


def rss_mib(pid: int) -> float:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            return round(int(row.split()[1]) / 1024, 1)
    raise RuntimeError("no VmRSS")


def connect(path: Path) -> tuple[socket.socket, object]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(30)
    sock.connect(str(path))
    return sock, decode(sock.makefile("rb").readline())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--stalled", type=int, default=50, help="viewers per wave (default 50)")
    p.add_argument("--samples", type=int, default=30, help="samples per wave (default 30)")
    args = p.parse_args()
    root = Path(tempfile.mkdtemp())
    subprocess.run([sys.executable, "-m", "tui.cli", "train", "kaze", "--detach", "--run-dir",
                    "run", *TINY], cwd=root, check=True, stdout=subprocess.DEVNULL,
                   stdin=subprocess.DEVNULL)  # fmt: skip
    run = root / "run"
    pid = int(json.loads((run / "run.json").read_text())["pid"])
    active, _ = connect(run / "control.sock")
    reader = active.makefile("rb")
    prime = corpora.load("kaze")[1][:MAX_PRIME_LENGTH]

    def longest_sample() -> None:
        active.sendall(encode(Sample(MAX_SAMPLE_LENGTH, prime)))
        while (
            not isinstance(event := decode(reader.readline()), SampleReady) or not event.requested
        ):
            pass

    try:
        longest_sample()
        result: dict[str, object] = {
            "stalled_per_wave": args.stalled,
            "rss_mib_before": rss_mib(pid),
        }
        opened = []
        for wave in (1, 2):
            viewers = [connect(run / "control.sock") for _ in range(args.stalled)]
            opened += [sock for sock, _ in viewers]
            for _ in range(args.samples):
                longest_sample()
            served = sum(isinstance(first, Welcome) for _, first in viewers)
            result |= {f"wave{wave}_served": served, f"wave{wave}_refused": args.stalled - served,
                       f"rss_mib_after_wave{wave}": rss_mib(pid)}  # fmt: skip
        print(json.dumps(result))
        for sock in opened:
            sock.close()
    finally:
        subprocess.run(["kill", str(pid)], check=False)


if __name__ == "__main__":
    main()
