"""Escape sequences a model learnt (or a file's name holds) never reach the terminal raw: the
samples panel, the status line, the headless log, `charrnn sample` on a terminal and
`charrnn inspect` all draw control characters visibly, by one rule (tui/visible.py).
Piped, `charrnn sample` writes the model's exact text."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from console_support import SIZE, TINY, make_app, wait_for
from test_cli import run

import corpora
from engine.trainer import Trainer
from tui.links import SessionEvent
from tui.runs.protocol import SampleReady
from tui.visible import control_picture, shown, visible

# Retitles the terminal (OSC 0 ... BEL), then a C1 CSI that would clear the screen.
EVIL = "hi \x1b]0;pwned\x07 there\x9b2J\r\x7f end\n\tnext"
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # what must not appear


def assert_no_raw_controls(text: str) -> None:
    found = RAW.findall(text)
    assert not found, f"raw control characters reached the terminal: {found!r}"


def test_shown_pictures_c0_c1_and_del_and_keeps_newlines_and_tabs() -> None:
    out = shown(EVIL)
    assert_no_raw_controls(out)
    assert out == "hi ␛]0;pwned␇ there\\x9b2J␍␡ end\n\tnext"


def test_inspect_draws_controls_by_the_same_rule() -> None:
    for code in [*range(0x20), *range(0x7F, 0xA0)]:
        ch = chr(code)
        if ch not in "\n\t":
            assert visible(ch) == shown(ch) == control_picture(ch)


async def test_the_samples_panel_shows_a_sample_s_escapes_visibly(tmp_path: Path) -> None:
    app = make_app(tmp_path / "run", start_paused=True)
    async with app.run_test(size=SIZE) as pilot:
        event = SampleReady(7, 1.0, 2.5, EVIL, prime="", requested=True)
        app.post_message(SessionEvent(event))
        await wait_for(pilot, lambda: app.samples.count == 1)
        await pilot.pause(0.1)
        drawn = "\n".join(strip.text for strip in app.samples.lines)
        assert "␛]0;pwned␇" in drawn
        assert_no_raw_controls(drawn)


async def test_the_status_line_shows_a_corpus_name_s_escapes_visibly(tmp_path: Path) -> None:
    text = corpora.load("blog_sample")[1]
    trainer = Trainer(TINY, text, corpus_name="evil\x1b]0;pwned\x07")  # a file's name
    app = make_app(tmp_path / "run\x1b[2J", trainer, start_paused=True)
    async with app.run_test(size=(120, 24)) as pilot:
        await wait_for(pilot, lambda: app.status.corpus != "")
        drawn = app.status.render().plain
        assert "evil␛]0;pwned␇" in drawn and "run␛[2J" in drawn
        assert_no_raw_controls(drawn)


def test_the_headless_log_shows_sample_escapes_visibly(capsys, monkeypatch) -> None:
    monkeypatch.setattr(Trainer, "sample", lambda self, settings, prime=None: EVIL)
    status, out, _ = run(capsys, "train", "blog_sample", "--headless", "--iters", "1")
    assert status == 0
    assert "hi ␛]0;pwned␇ there\\x9b2J" in out
    assert_no_raw_controls(out)


@pytest.fixture
def evil_model(tmp_path: Path, capsys) -> Path:
    """A model whose vocabulary holds escape characters (it learnt from a corpus with them)."""
    corpus = tmp_path / "escapes.txt"
    corpus.write_text(EVIL * 8)
    path = tmp_path / "escapes.npz"
    status, _, err = run(capsys, "train", str(corpus), "--headless", "--iters", "3",
                         "--hidden", "8", "--sample-every", "0", "--save", str(path))  # fmt: skip
    assert status == 0, err
    return path


def test_sample_on_a_terminal_shows_escapes_and_piped_keeps_them(
    capsys, monkeypatch, evil_model: Path
) -> None:
    prime = "\x1b]0;pwned\x07\x9b"
    status, piped, _ = run(capsys, "sample", str(evil_model), "--prime", prime, "--length", "20")
    assert status == 0 and piped.startswith(prime)  # into a pipe: the exact text
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    status, on_terminal, _ = run(
        capsys, "sample", str(evil_model), "--prime", prime, "--length", "20"
    )
    assert status == 0 and on_terminal.startswith("␛]0;pwned␇\\x9b")
    assert_no_raw_controls(on_terminal)


def test_inspect_shows_escapes_visibly(capsys, evil_model: Path) -> None:
    status, out, _ = run(capsys, "inspect", str(evil_model), "--text", EVIL)
    assert status == 0
    assert "␛" in out and "␇" in out
    assert_no_raw_controls(out)


def test_runs_lists_a_run_named_after_an_escape_laden_file_visibly(capsys, tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "evil\x1b]0;pwned\x07-20261128-000000"
    run_dir.mkdir(parents=True)
    (run_dir / "latest.npz").write_bytes(b"")  # a stopped run, as far as `runs` can tell
    status, out, _ = run(capsys, "runs", str(tmp_path / "runs"))
    assert status == 0 and "evil␛]0;pwned␇" in out
    assert_no_raw_controls(out)
