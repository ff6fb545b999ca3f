"""Keys are answered promptly while the worker trains flat out (issue 3: within 100 ms)."""

from __future__ import annotations

import asyncio
import statistics
import time

from console_support import SIZE, key_event, make_app

import corpora
from engine.config import preset
from engine.trainer import Trainer
from tui.screens import HelpScreen

BUDGET_MS = 100.0


async def reaction_ms(pilot, key: str, reacted) -> float:
    """Milliseconds from the key arriving at the app to the app's visible state changing."""
    start = time.perf_counter()
    pilot.app.post_message(key_event(key))
    while not reacted():
        if time.perf_counter() - start > 5:
            raise AssertionError(f"no reaction to {key!r} within 5 s: the UI is frozen")
        await asyncio.sleep(0.0005)
    return (time.perf_counter() - start) * 1000


async def measure(pilot, rounds: int, gap: float = 0.15) -> dict[str, list[float]]:
    """Press keys at a brisk human pace (`gap` seconds apart) and time each reaction."""
    app = pilot.app
    times: dict[str, list[float]] = {"temperature": [], "help": [], "close": [], "pause": []}

    async def timed(kind: str, key: str, reacted) -> None:
        times[kind].append(await reaction_ms(pilot, key, reacted))
        await asyncio.sleep(gap)

    for i in range(rounds):
        # Temperature: the status line's value changes in the key handler.
        target = round(app.temperature + (0.1 if i % 2 == 0 else -0.1), 1)
        key = "plus" if i % 2 == 0 else "minus"
        await timed("temperature", key, lambda t=target: app.status.temperature == t)
        # The help screen opens and closes.
        await timed("help", "question_mark", lambda: isinstance(app.screen, HelpScreen))
        await timed("close", "escape", lambda: not isinstance(app.screen, HelpScreen))
        # Pause and resume: the status line says so at once.
        state = "paused" if i % 2 == 0 else "running"
        await timed("pause", "space", lambda s=state: app.status.state == s)
    return times


async def test_keys_answer_within_100_ms_while_training(tmp_path):
    # The classic preset (hidden 100, float64): the real default workload.
    name, text = corpora.load("alice")
    trainer = Trainer(preset("classic"), text, corpus_name=name)
    app = make_app(tmp_path / "run", trainer, sample_every=100, sample_length=200)
    async with app.run_test(size=SIZE) as pilot:
        while app.status.iteration < 50:  # training is under way
            await asyncio.sleep(0.01)
        by_kind = await measure(pilot, rounds=8)
        trained = app.status.iteration
    for kind, values in by_kind.items():
        print(f"{kind}: {[round(v) for v in values]} ms")
    times = sorted(v for values in by_kind.values() for v in values)
    median = statistics.median(times)
    p90 = times[int(0.9 * (len(times) - 1))]
    print(
        f"key reaction over {len(times)} presses: median {median:.1f} ms, p90 {p90:.1f} ms, "
        f"max {times[-1]:.1f} ms"
    )
    assert trained > 50
    # Robust on a shared 2-core machine: the typical press within budget, and nine in ten
    # within it too; a frozen UI (one slow step holding the loop) fails both.
    assert median < BUDGET_MS, times
    assert p90 < BUDGET_MS, times
