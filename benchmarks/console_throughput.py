"""Training speed inside the console versus a bare Trainer.step() loop, and key latency.

Prints one JSON object. Both sides train the same preset on the same corpus in the same
process, interleaved (headless, console, headless, console, ...) so that load from other
programs hits both alike; medians over the repeats. The console runs headlessly through
Textual's own test driver, with its real worker, messages and widgets.

    .venv/bin/python benchmarks/console_throughput.py [--preset classic] [--corpus alice]
"""

from __future__ import annotations

import os

from engine.blas import pin_threads

# One BLAS thread, before numpy is imported: the worker and the loop must compete alike.
pin_threads(1, keep_set=True)
# The frame-rate cap `charrnn` gives Textual by default (its --fps), read when Textual loads.
os.environ.setdefault("TEXTUAL_FPS", "20")

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import corpora  # noqa: E402
from engine.config import preset  # noqa: E402
from engine.trainer import Trainer  # noqa: E402
from tui.app import ConsoleApp  # noqa: E402
from tui.links import InProcessLink  # noqa: E402
from tui.runs.policy import RunPolicy, RunSettings  # noqa: E402
from tui.runs.protocol import Stop  # noqa: E402
from tui.runs.rundir import RunDir  # noqa: E402
from tui.runs.session import Session  # noqa: E402
from tui.screens import HelpScreen  # noqa: E402

WARMUP_STEPS = 50


def fresh(args) -> Trainer:
    name, text = corpora.load(args.corpus)
    return Trainer(preset(args.preset), text, seed=0, corpus_name=name)


def headless(args) -> float:
    """chars/s of a plain loop, sampling under the same run policy as `--headless`."""
    trainer = fresh(args)
    policy = RunPolicy(None, RunSettings(sample_every=args.sample_every), lambda event: None)
    for _ in range(WARMUP_STEPS):
        trainer.step()
    chars, start = 0, time.perf_counter()
    while (now := time.perf_counter()) - start < args.seconds:
        if policy.sample_due(trainer):
            policy.sample(trainer, 1.0)
        chars += trainer.step().chars
    return chars / (now - start)


async def console(args, keys: bool) -> tuple[float, list[float]]:
    """chars/s inside the console's worker; then, optionally, key reactions in ms."""
    trainer = fresh(args)
    per_step = trainer.config.batch * trainer.config.seq_length
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = RunDir(Path(tmp)).create()
        session = Session(trainer, run_dir, lambda event: None, RunSettings(args.sample_every))
        app = ConsoleApp(InProcessLink(session), run_dir)
        async with app.run_test(size=(80, 24)):
            while app.session.trainer.iteration < WARMUP_STEPS:
                await asyncio.sleep(0.005)
            it0, t0 = app.session.trainer.iteration, time.perf_counter()
            await asyncio.sleep(args.seconds)
            it1, t1 = app.session.trainer.iteration, time.perf_counter()
            reactions = await key_latency(app, args.presses) if keys else []
            app.session.send(Stop(save=False))
            while not app.link.worker.is_finished:
                await asyncio.sleep(0.01)
    return (it1 - it0) * per_step / (t1 - t0), reactions


async def key_latency(app: ConsoleApp, presses: int) -> list[float]:
    """Post key events as the terminal driver would, at a brisk human pace, while training
    runs; time each from arrival to the app's state showing the change."""
    from textual import events

    keys = [
        ("plus", "+", lambda a, t: a.status.temperature == t),
        ("question_mark", "?", lambda a, t: isinstance(a.screen, HelpScreen)),
        ("escape", "\x1b", lambda a, t: not isinstance(a.screen, HelpScreen)),
        ("minus", "-", lambda a, t: a.status.temperature == t),
    ]
    out: list[float] = []
    for i in range(presses):
        key, char, reacted = keys[i % len(keys)]
        target = round(app.temperature + {"plus": 0.1, "minus": -0.1}.get(key, 0), 1)
        start = time.perf_counter()
        app.post_message(events.Key(key, char))
        while not reacted(app, target):
            await asyncio.sleep(0.0005)
        out.append((time.perf_counter() - start) * 1000)
        await asyncio.sleep(0.15)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="classic")
    parser.add_argument("--corpus", default="tinyshakespeare")
    parser.add_argument("--seconds", type=float, default=2.0, help="per measurement")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--presses", type=int, default=40, help="keys timed per repeat")
    parser.add_argument(
        "--sample-every", type=int, default=100, help="0 measures training alone (default 100)"
    )
    args = parser.parse_args()

    bare, inside, reactions = [], [], []
    for _ in range(args.repeats):
        bare.append(headless(args))
        speed, keys = asyncio.run(console(args, keys=True))
        inside.append(speed)
        reactions += keys
    reactions.sort()
    result = {
        "preset": args.preset,
        "corpus": args.corpus,
        "sample_every": args.sample_every,
        "seconds_per_measurement": args.seconds,
        "repeats": args.repeats,
        "headless_chars_per_s": [round(x) for x in bare],
        "console_chars_per_s": [round(x) for x in inside],
        "headless_median": round(statistics.median(bare)),
        "console_median": round(statistics.median(inside)),
        "ratio": round(statistics.median(inside) / statistics.median(bare), 3),
        # Load from other programs changes from second to second; the ratio within each
        # back-to-back pair cancels most of it.
        "ratio_median_of_pairs": round(
            statistics.median(c / h for c, h in zip(inside, bare, strict=True)), 3
        ),
        "target_ratio": 0.9,
        "key_presses": len(reactions),
        "key_latency_ms_median": round(statistics.median(reactions), 1) if reactions else None,
        "key_latency_ms_p99": round(reactions[int(0.99 * (len(reactions) - 1))], 1)
        if reactions
        else None,
        "key_latency_ms_max": round(reactions[-1], 1) if reactions else None,
        "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "textual_fps": os.environ.get("TEXTUAL_FPS"),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
