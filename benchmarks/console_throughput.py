"""Training speed inside the console versus a bare Trainer.step() loop, and key latency.

Prints one JSON object. Both sides train the same preset on the same corpus in the same
process, interleaved (headless, console, idle console, headless, console, ...) so that load
from other programs hits them alike; medians over the repeats. The console runs headlessly
through Textual's own test driver, with its real worker, messages and widgets.

Key latency: keys posted as the terminal driver posts them (+, ?, Esc, -, space) at a brisk
human pace, each timed from its arrival to the app's state showing the change and to the
screen's next redraw after that; p50/p90/p99/max while training and, as the reference, in a
console whose training is paused (issue 3 asked for answers within 100 ms while training).

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
from dataclasses import dataclass  # noqa: E402
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


async def console(args, keys: bool) -> tuple[float, list[Press]]:
    """chars/s inside the console's worker; then, optionally, key reactions while it trains."""
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
            reactions = await key_latency(app, args.presses, TRAINING_KEYS) if keys else []
            app.session.send(Stop(save=False))
            while not app.link.worker.is_finished:
                await asyncio.sleep(0.01)
    return (it1 - it0) * per_step / (t1 - t0), reactions


async def idle_console(args) -> list[Press]:
    """Key reactions in the same console with training paused from the start: the
    reference for the figures while training."""
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = RunDir(Path(tmp)).create()
        settings = RunSettings(args.sample_every)
        session = Session(fresh(args), run_dir, lambda event: None, settings, start_paused=True)
        app = ConsoleApp(InProcessLink(session), run_dir)
        async with app.run_test(size=(80, 24)):
            while app.status.state != "paused":
                await asyncio.sleep(0.005)
            reactions = await key_latency(app, args.presses, IDLE_KEYS)
            app.session.send(Stop(save=False))
            while not app.link.worker.is_finished:
                await asyncio.sleep(0.01)
    return reactions


@dataclass(frozen=True)
class Press:
    kind: str  # temperature, help, close or pause
    state_ms: float  # key posted -> the app's state shows the change
    screen_ms: float  # key posted -> the screen has been redrawn after that change


# (kind, key, character, whether the app shows the change); `t` is the temperature expected
KEYS = {
    "plus": ("temperature", "+", lambda a, t: a.status.temperature == t),
    "question_mark": ("help", "?", lambda a, t: isinstance(a.screen, HelpScreen)),
    "escape": ("close", "\x1b", lambda a, t: not isinstance(a.screen, HelpScreen)),
    "minus": ("temperature", "-", lambda a, t: a.status.temperature == t),
    "space": ("pause", " ", lambda a, t: a.status.state == "paused"),
}
# The keys tests/test_console_latency.py used to time (its `space` paused; resuming, pressed
# while paused, is not timed); an idle console gets all but the pause.
TRAINING_KEYS = ("plus", "question_mark", "escape", "minus", "space")
IDLE_KEYS = ("plus", "question_mark", "escape", "minus")


async def key_latency(app: ConsoleApp, presses: int, keys: tuple[str, ...]) -> list[Press]:
    """Post key events as the terminal driver would, at a brisk human pace; time each from
    arrival to the app's state showing the change, and to the next redraw of the screen."""
    from textual import events

    out: list[Press] = []
    for i in range(presses):
        key = keys[i % len(keys)]
        kind, char, reacted = KEYS[key]
        target = round(app.temperature + {"plus": 0.1, "minus": -0.1}.get(key, 0), 1)
        start = time.perf_counter()
        app.post_message(events.Key(key, char))
        while not reacted(app, target):
            await asyncio.sleep(0.0005)
        state = time.perf_counter()
        await app.screen.wait_for_refresh()
        out.append(Press(kind, (state - start) * 1000, (time.perf_counter() - start) * 1000))
        await asyncio.sleep(0.15)
        if key == "space":  # resume, untimed, and let training get going again
            app.post_message(events.Key("space", " "))
            while app.status.state != "running":
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.15)
    return out


def percentiles(values: list[float]) -> dict[str, float | int | None]:
    """p50, p90, p99 and max in ms (nearest rank), and how many values they summarise."""
    if not values:
        return {"n": 0, "p50": None, "p90": None, "p99": None, "max": None}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return round(ordered[int(q * (len(ordered) - 1))], 1)

    return {
        "n": len(ordered),
        "p50": rank(0.5),
        "p90": rank(0.9),
        "p99": rank(0.99),
        "max": round(ordered[-1], 1),
    }


def latency_report(training: list[Press], idle: list[Press]) -> dict[str, object]:
    """Key-to-state and key-to-screen percentiles while training and idle, by kind and over
    over all of them and over the kinds both measured (all but the pause), and the
    training/idle ratios of the latter's p50 and p90."""
    report: dict[str, object] = {}
    for measure in ("state_ms", "screen_ms"):
        by_condition = {}
        for condition, presses in (("training", training), ("idle", idle)):
            kinds = sorted({p.kind for p in presses})
            by_condition[condition] = {
                "all_keys": percentiles([getattr(p, measure) for p in presses]),
                "common_keys": percentiles(
                    [getattr(p, measure) for p in presses if p.kind != "pause"]
                ),
                **{
                    k: percentiles([getattr(p, measure) for p in presses if p.kind == k])
                    for k in kinds
                },
            }
        busy, calm = by_condition["training"]["common_keys"], by_condition["idle"]["common_keys"]
        for q in ("p50", "p90"):
            if busy[q] is not None and calm[q]:
                by_condition[f"ratio_{q}_training_over_idle"] = round(busy[q] / calm[q], 2)
        report[f"key_to_{measure[:-3]}"] = by_condition
    return report


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

    bare, inside, training, idle = [], [], [], []
    for _ in range(args.repeats):
        bare.append(headless(args))
        speed, keys = asyncio.run(console(args, keys=True))
        inside.append(speed)
        training += keys
        idle += asyncio.run(idle_console(args))
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
        # Milliseconds from a key's arrival to the app's state showing it, and to the screen
        # redrawn after it, while training and in an idle (paused) console of the same run.
        "key_latency": latency_report(training, idle),
        "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "textual_fps": os.environ.get("TEXTUAL_FPS"),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
