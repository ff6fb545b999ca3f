"""Keys are answered while the worker trains flat out (issue 3): each key's effect reaches the
screen with training still running, and a key makes training step aside for the UI.

How fast is measured, never asserted: `benchmarks/console_throughput.py` reports the p50/p90
of key-to-screen latency while training against an idle console in the same run. The waits
below (console_support.wait_for, 10 s) only tell a frozen console from a working one.
"""

from __future__ import annotations

import threading
import time

from console_support import SIZE, make_app, make_session, press, wait_for

import corpora
from engine.config import preset
from engine.trainer import Trainer
from tui.app import GIVE_WAY_SECONDS
from tui.runs.protocol import Stop
from tui.screens import HelpScreen


async def test_keys_reach_the_screen_while_the_classic_preset_trains(tmp_path):
    # The classic preset (hidden 100, float64) on a real corpus: the default workload.
    name, text = corpora.load("alice")
    trainer = Trainer(preset("classic"), text, corpus_name=name)
    app = make_app(tmp_path / "run", trainer, sample_every=100, sample_length=200)

    async def training_goes_on() -> None:
        """The worker trains on and the screen's iteration count follows it."""
        worker = app.session.trainer.iteration
        await wait_for(pilot, lambda: app.status.iteration > worker)
        assert app.status.state == "running" and not app.session.paused

    async with app.run_test(size=SIZE) as pilot:
        status = app.status
        await wait_for(pilot, lambda: status.iteration >= 50)  # training is under way
        for up, down in [("1.1", "1.0"), ("1.1", "1.0")]:
            await press(pilot, "plus")
            await wait_for(pilot, lambda t=up: f"temp {t}" in status.render().plain)
            await wait_for(pilot, lambda t=up: app.session.temperature == float(t))
            await training_goes_on()
            await press(pilot, "question_mark")
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
            await training_goes_on()  # under the help screen, too
            await press(pilot, "escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen))
            await press(pilot, "minus")
            await wait_for(pilot, lambda t=down: f"temp {t}" in status.render().plain)
            await training_goes_on()
        await press(pilot, "space")
        await wait_for(pilot, lambda: "paused" in status.render().plain and app.session.paused)
        await press(pilot, "space")
        await wait_for(pilot, lambda: "running" in status.render().plain)
        await training_goes_on()


async def test_every_key_asks_training_to_step_aside(tmp_path):
    app = make_app(tmp_path / "run")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.status.iteration > 0)
        asked: list[float] = []
        app.link.give_way = asked.append
        for key in ("plus", "question_mark", "escape", "space"):
            before = len(asked)
            await press(pilot, key)
            assert len(asked) > before, key
        assert set(asked) == {GIVE_WAY_SECONDS}


def test_a_session_giving_way_trains_no_step_until_its_time_is_up(tmp_path):
    session = make_session(tmp_path, sample_every=0)
    worker = threading.Thread(target=session.train)
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while session.trainer.iteration < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        session.give_way(3600)
        time.sleep(0.2)  # a step already under way ends
        held = session.trainer.iteration
        time.sleep(0.5)
        assert session.trainer.iteration == held > 0  # not one step while giving way
        session.give_way(0)  # the time is up
        deadline = time.monotonic() + 10
        while session.trainer.iteration == held and time.monotonic() < deadline:
            time.sleep(0.01)
        assert session.trainer.iteration > held
    finally:
        session.send(Stop(save=False))
        worker.join(10)
