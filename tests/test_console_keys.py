"""Every key of the console, driven by Pilot at 80x24 on a tiny model."""

from __future__ import annotations

import asyncio
import io
import os

import numpy as np
import pytest
from console_support import SIZE, TINY, fill, make_app, press, tiny_trainer, wait_for
from rich.console import Console
from textual import events
from textual.widgets import Input

import corpora
from engine import checkpoint
from engine.limits import MAX_PRIME_LENGTH, MAX_SAMPLE_LENGTH
from engine.trainer import Trainer
from tui.screens import ConfirmScreen, HelpScreen, LoadDialog, PrimeDialog, SaveDialog
from tui.screens.help import key_table
from tui.widgets import SamplesPanel


def sample_headers(app) -> list[str]:
    log = app.query_one(SamplesPanel)
    return [strip.text for strip in log.lines if strip.text.startswith("── iter")]


async def test_space_pauses_the_counter_and_resumes_it(tmp_path):
    app = make_app(tmp_path / "run")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.status.iteration > 0)
        assert app.status.state == "running"
        await press(pilot, "space")
        assert app.status.state == "paused"
        await wait_for(pilot, lambda: app.session.paused)
        await pilot.pause(0.1)  # the last progress batch before the pause arrives
        frozen_ui, frozen_worker = app.status.iteration, app.session.trainer.iteration
        await asyncio.sleep(0.4)
        await pilot.pause()
        assert app.session.trainer.iteration == frozen_worker
        assert app.status.iteration == frozen_ui == frozen_worker
        assert "paused" in app.status.render().plain
        await press(pilot, "space")
        assert app.status.state == "running"
        await wait_for(pilot, lambda: app.status.iteration > frozen_ui + 20)


async def test_temperature_keys_change_the_next_sample(tmp_path):
    app = make_app(tmp_path / "run", start_paused=True)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "plus", "plus")
        assert "temp 1.2" in app.status.render().plain  # shown at once
        await press(pilot, "n")
        await wait_for(pilot, lambda: len(sample_headers(app)) == 1)
        assert "temp 1.2" in sample_headers(app)[0]
        await press(pilot, *["minus"] * 5)
        await press(pilot, "n")
        await wait_for(pilot, lambda: len(sample_headers(app)) == 2)
        assert "temp 0.7" in sample_headers(app)[1]
        await press(pilot, *["minus"] * 10)  # bounded below
        assert app.temperature == 0.1
        assert "temperature stays at 0.1" in app.message_line.text
        await press(pilot, *["equals_sign"] * 40)  # '=' too, bounded above
        assert app.temperature == 3.0


async def test_sample_now_while_running_and_while_paused(tmp_path):
    # sample_every=0: only the key produces samples.
    app = make_app(tmp_path / "run", sample_every=0)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.status.iteration > 0)
        await press(pilot, "n")
        await wait_for(pilot, lambda: len(sample_headers(app)) == 1)
        await press(pilot, "space")
        await wait_for(pilot, lambda: app.session.paused)
        await press(pilot, "n")
        await wait_for(pilot, lambda: len(sample_headers(app)) == 2)
        it = app.session.trainer.iteration
        assert f"iter {it:,}" in sample_headers(app)[1]


async def test_samples_arrive_every_sample_every_iterations(tmp_path):
    app = make_app(tmp_path / "run", sample_every=50)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(sample_headers(app)) >= 3)
        heads = sample_headers(app)[:3]
        assert [h.split(" · ")[0] for h in heads] == ["── iter 0", "── iter 50", "── iter 100"]
        assert all("temp 1.0" in h and "loss " in h for h in heads)


async def test_prime_dialog_samples_from_the_prime(tmp_path):
    app = make_app(tmp_path / "run", start_paused=True)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "p")
        assert isinstance(app.screen, PrimeDialog)
        await press(pilot, *"bye")
        await fill(pilot, "#prime-length", "25")
        await press(pilot, "enter")
        await wait_for(pilot, lambda: len(sample_headers(app)) == 1)
        assert "prime 'bye'" in sample_headers(app)[0]
        body = [s.text for s in app.query_one(SamplesPanel).lines]
        assert body[1].startswith("bye")
        await wait_for(pilot, lambda: not isinstance(app.screen, PrimeDialog))


async def test_prime_outside_the_vocabulary_is_a_message_not_a_crash(tmp_path):
    app = make_app(tmp_path / "run")
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "p")
        await fill(pilot, "#prime-text", "Zebra!")  # blog_sample has no Z, no !
        await press(pilot, "enter")
        await wait_for(pilot, lambda: "vocabulary" in app.message_line.text)
        assert "'!Z'" in app.message_line.text
        assert app.message_line.severity == "error"
        before = app.status.iteration
        await wait_for(pilot, lambda: app.status.iteration > before)  # still training


async def test_prime_dialog_rejects_a_bad_length_and_stays_open(tmp_path):
    app = make_app(tmp_path / "run", start_paused=True)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "p", *"bye")
        await fill(pilot, "#prime-length", "lots")
        await press(pilot, "enter")
        assert isinstance(app.screen, PrimeDialog)
        error = app.screen.query_one("#prime-error").render()
        assert "whole number" in str(error)
        await press(pilot, "escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, PrimeDialog))
        assert sample_headers(app) == []


async def test_prime_dialog_keeps_to_the_shared_sample_limits(tmp_path):
    """The dialog's limits are the CLI's and the protocol's (engine/limits.py)."""
    app = make_app(tmp_path / "run", start_paused=True)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "p")
        prime = app.screen.query_one("#prime-text", Input)
        prime.post_message(events.Paste("b" * (MAX_PRIME_LENGTH + 1)))  # refused whole
        prime.post_message(events.Paste("b" * MAX_PRIME_LENGTH))
        await wait_for(pilot, lambda: prime.value != "")
        assert prime.value == "b" * MAX_PRIME_LENGTH
        await fill(pilot, "#prime-length", str(MAX_SAMPLE_LENGTH + 1))
        await press(pilot, "enter")
        error = app.screen.query_one("#prime-error").render()
        assert f"between 1 and {MAX_SAMPLE_LENGTH:,} (got {MAX_SAMPLE_LENGTH + 1:,})" in str(error)
        assert isinstance(app.screen, PrimeDialog)


async def test_save_writes_a_loadable_checkpoint_and_asks_before_overwriting(tmp_path):
    run = tmp_path / "run"
    app = make_app(run)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.status.iteration > 0)
        await press(pilot, "s")
        assert isinstance(app.screen, SaveDialog)
        await press(pilot, "enter")  # the proposed path in the run directory
        target = run / "model.npz"
        await wait_for(pilot, lambda: target.exists() and "saved" in app.message_line.text)
        assert str(target) in app.message_line.text
        first = checkpoint.load(target)
        assert first.iteration > 0
        assert len(first.arrays["history/loss"]) == first.iteration

        stamp = os.stat(target).st_mtime_ns
        await press(pilot, "s", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await press(pilot, "n")  # keep the old file
        await wait_for(pilot, lambda: isinstance(app.screen, SaveDialog))
        await press(pilot, "escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, SaveDialog))
        await pilot.pause(0.2)
        assert os.stat(target).st_mtime_ns == stamp

        await press(pilot, "s", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await press(pilot, "y")
        await wait_for(pilot, lambda: os.stat(target).st_mtime_ns != stamp)
        assert checkpoint.load(target).iteration > first.iteration
        await wait_for(pilot, lambda: not isinstance(app.screen, (SaveDialog, ConfirmScreen)))


async def test_save_failure_is_reported_and_training_goes_on(tmp_path):
    app = make_app(tmp_path / "run")
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "s")
        await fill(pilot, "#save-path", f"{tmp_path}/nowhere/model.npz")
        await press(pilot, "enter")
        await wait_for(pilot, lambda: "save failed" in app.message_line.text)
        assert "does not exist" in app.message_line.text
        before = app.status.iteration
        await wait_for(pilot, lambda: app.status.iteration > before)


async def test_load_of_a_good_file_swaps_the_model_and_continues_from_it(tmp_path):
    run = tmp_path / "run"
    other = tiny_trainer(hidden=16, iterations=120, seed=3)
    run.mkdir()
    checkpoint.save(other, run / "other.npz")
    history = np.frombuffer(other.loss_history, dtype=np.float32)
    app = make_app(run, tiny_trainer(hidden=12))
    async with app.run_test(size=SIZE) as pilot:
        assert "rnn 12" in app.status.summary
        await press(pilot, "l")
        assert isinstance(app.screen, LoadDialog)
        await press(pilot, "enter")  # the run directory's newest checkpoint is proposed
        await wait_for(pilot, lambda: "loaded" in app.message_line.text)
        assert "rnn 16" in app.status.summary
        spark = list(app.loss_panel.points)
        assert len(spark) >= 120  # the loaded history, then new points
        assert np.allclose(spark[:120], history, atol=1e-6)
        await wait_for(pilot, lambda: app.status.iteration > 130)
        assert app.session.trainer.iteration > 130
        assert app.session.trainer.config.hidden == 16


async def test_load_of_a_bad_file_keeps_training_with_the_reason_shown(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "broken.npz").write_bytes(b"this is not a checkpoint at all")
    app = make_app(run)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.status.iteration > 0)
        await press(pilot, "l", "enter")
        await wait_for(pilot, lambda: "load refused" in app.message_line.text)
        assert "not a charrnn checkpoint" in app.message_line.text
        assert "rnn 12" in app.status.summary
        before = app.status.iteration
        await wait_for(pilot, lambda: app.status.iteration > before)
        # A typed path that does not exist: refused too.
        await press(pilot, "l")
        await fill(pilot, "#load-path", "/no/such.npz")
        await press(pilot, "enter")
        await wait_for(pilot, lambda: "no such file" in app.message_line.text)
        assert app.status.state == "running"


@pytest.mark.parametrize(
    ("make_file", "reason"),
    [
        ("foreign", "does not cover corpus 'blog_sample'"),  # a model of another alphabet
        ("truncated", "truncated or corrupt"),
    ],
)
async def test_load_refuses_incompatible_and_corrupt_checkpoints(tmp_path, make_file, reason):
    run = tmp_path / "run"
    run.mkdir()
    target = run / "other.npz"
    if make_file == "foreign":
        name, text = corpora.load("kaze")
        checkpoint.save(Trainer(TINY, text, corpus_name=name), target)
    else:
        checkpoint.save(tiny_trainer(iterations=5), target)
        target.write_bytes(target.read_bytes()[:2000])
    app = make_app(run)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "l", "enter")
        await wait_for(pilot, lambda: "load refused" in app.message_line.text)
        assert reason in app.message_line.text
        assert "rnn 12" in app.status.summary and "blog_sample" in app.status.corpus
        before = app.status.iteration
        await wait_for(pilot, lambda: app.status.iteration > before)


async def test_quit_saves_the_state_to_the_run_directory(tmp_path):
    run = tmp_path / "run"
    app = make_app(run)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.status.iteration > 10)
        await press(pilot, "q")
        # "Instant" is judged by the end-to-end test and the benchmark; this catches a hang.
        await wait_for(pilot, lambda: app.session.exit_report is not None, timeout=30)
    report = app.session.exit_report
    assert report.path == run / "latest.npz"
    assert checkpoint.load(run / "latest.npz").iteration == report.iteration > 10
    assert app.return_code == 0


async def test_help_lists_every_key(tmp_path):
    app = make_app(tmp_path / "run", start_paused=True)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        console = Console(width=80, record=True, file=io.StringIO())
        console.print(key_table(app.screen.keys))
        text = console.export_text()
        for key, words in [
            ("space", "Pause / resume"),
            ("+ or =", "Temperature up"),
            ("-", "Temperature down"),
            ("n", "Sample now"),
            ("p", "prime text"),
            ("s", "Save a checkpoint"),
            ("l", "Load a checkpoint"),
            ("q", "quit"),
            ("?", "All keys"),
        ]:
            line = next(line for line in text.splitlines() if words in line)
            assert line.split()[0] == key.split()[0], line
        await press(pilot, "escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen))


async def test_every_action_is_in_the_command_palette(tmp_path):
    app = make_app(tmp_path / "run", start_paused=True)
    async with app.run_test(size=SIZE) as pilot:
        titles = {c.title for c in app.get_system_commands(app.screen)}
        for binding in app.key_bindings():
            assert binding.tooltip in titles
        await press(pilot, "ctrl+p")
        await press(pilot, *"Sample", "space", *"now")
        await pilot.pause(0.3)
        await press(pilot, "enter")
        await wait_for(pilot, lambda: len(sample_headers(app)) == 1)


async def test_divergence_pauses_with_a_message_and_no_nan_reaches_the_sparkline(tmp_path):
    trainer = tiny_trainer(iterations=30)
    for w in trainer.params.values():
        w[...] = np.nan  # what a runaway learning rate leaves behind
    app = make_app(tmp_path / "run", trainer)
    async with app.run_test(size=SIZE) as pilot:
        sparkline = app.query_one("#sparkline")
        # The history the run started with reaches the sparkline with the welcome, which may
        # be drawn just after the divergence is reported; the state changes one message
        # before the notice that explains it.
        await wait_for(
            pilot,
            lambda: (
                app.status.state == "diverged"
                and bool(sparkline.data)
                and "diverged" in app.message_line.text
            ),
        )
        assert "lower learning rate" in app.message_line.text
        assert all(np.isfinite(sparkline.data))
        await press(pilot, "space")
        await wait_for(pilot, lambda: "cannot resume" in app.message_line.text)
        assert app.status.state == "diverged"
        assert app.session.paused


async def test_g_opens_the_curves_view_of_this_run_and_escape_closes_it(tmp_path):
    from tui.screens.curves import CurvesScreen

    app = make_app(tmp_path / "run", sample_every=0)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.status.iteration > 250)
        await press(pilot, "g")
        assert isinstance(app.screen, CurvesScreen)
        await wait_for(pilot, lambda: len(app.curves.metrics.train) >= 2)  # records as written
        await press(pilot, "space")  # the console's keys still work under the view
        await wait_for(pilot, lambda: app.run_state == "paused")
        await press(pilot, "escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, CurvesScreen))


def test_compare_without_metrics_is_one_line(tmp_path, capsys):
    from tui.cli import main

    (tmp_path / "empty").mkdir()
    assert main(["compare", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("charrnn: error: ") and "metrics.jsonl" in err and err.count("\n") == 1


async def test_i_inspects_the_weights_and_dot_takes_exactly_one_step(tmp_path):
    from tui.screens.inspect import InspectScreen

    app = make_app(tmp_path / "run", sample_every=0)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.status.iteration > 20)
        await press(pilot, "i")  # while training runs: a snapshot taken between two steps
        await wait_for(pilot, lambda: isinstance(app.screen, InspectScreen))
        await press(pilot, "space")
        await wait_for(pilot, lambda: app.session.paused)
        before = app.session.trainer.iteration
        await press(pilot, "full_stop")
        await wait_for(pilot, lambda: app.screen.stats is not None)
        assert app.session.trainer.iteration == before + 1
        assert app.screen.stats.iteration == before
        await wait_for(pilot, lambda: app.status.iteration == before + 1)
        await press(pilot, "escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, InspectScreen))


async def test_dot_while_training_runs_says_at_once_why_it_cannot_step(tmp_path):
    from textual.widgets import Static

    from tui.links import SessionEvent
    from tui.runs.protocol import Notice
    from tui.screens.inspect import InspectScreen

    app = make_app(tmp_path / "run", sample_every=0)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.status.iteration > 20)
        await press(pilot, "i")
        await wait_for(pilot, lambda: isinstance(app.screen, InspectScreen))
        message = app.screen.query_one("#inspect-message", Static)
        await press(pilot, "full_stop")  # no Esc: the inspect screen itself says why
        await wait_for(pilot, lambda: "needs a paused run" in str(message.content))
        assert app.screen.stats is None and not app.session.paused  # nothing stepped, or paused
        # The run's own refusals (another viewer resumed it, say) reach this screen too.
        app.post_message(SessionEvent(Notice("the run refused the step", "warning")))
        await wait_for(pilot, lambda: "the run refused the step" in str(message.content))
        assert isinstance(app.screen, InspectScreen)
