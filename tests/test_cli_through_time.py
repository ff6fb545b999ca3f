"""`charrnn inspect CKPT --window` and `--through-time [--text T]`, as text and JSON, on a
bundled corpus and on a user's own (--corpus PATH, checked against the fingerprint), and
each bad input as one line and exit status 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import corpora
from engine import checkpoint
from engine.through_time import WindowPass
from engine.window import next_window
from tui.cli import main
from tui.through_time_text import sci
from tui.visible import visible


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(scope="module")
def blog_model(tmp_path_factory) -> Path:
    """The classic preset after 301 iterations on blog_sample (two windows an epoch)."""
    path = tmp_path_factory.mktemp("blog") / "blog.npz"
    assert main(["train", "blog_sample", "--headless", "--iters", "301", "--sample-every", "0",
                 "--log-every", "1000", "--save", str(path)]) == 0  # fmt: skip
    return path


@pytest.fixture(scope="module")
def own_corpus_model(tmp_path_factory) -> tuple[Path, Path]:
    """A model trained on a text file of the user's (a copy of blog_sample under a new name)."""
    folder = tmp_path_factory.mktemp("own")
    text = folder / "notes.txt"
    shutil.copy(corpora.bundled_path("blog_sample"), text)
    path = folder / "notes.npz"
    assert main(["train", str(text), "--headless", "--iters", "3", "--sample-every", "0",
                 "--save", str(path)]) == 0  # fmt: skip
    return path, text


def restored(path: Path):
    ckpt = checkpoint.load(path)
    name, text = corpora.load("blog_sample")
    return checkpoint.restore(ckpt, text, name)


def test_window_prints_the_next_training_window(capsys, blog_model: Path) -> None:
    status, out, err = run(capsys, "inspect", str(blog_model), "--window")
    assert status == 0 and not err
    window = next_window(restored(blog_model)).window
    # 301 windows: the 302nd starts at p = 25 of the second window of epoch 151
    assert (window.position, window.epoch, window.reset) == (25, 151, "")
    assert "the window the next step reads · iteration 301 · epoch 151" in out
    assert "T = 25 characters from p = 25 of 58" in out
    s = window.streams[0]
    assert "input   " + " ".join(visible(c) for c in s.inputs) in out
    assert "target  " + " ".join(visible(c) for c in s.targets) in out
    assert "never a target at T = 25: the first character of each lane and its last 7" in out
    assert "±5 changed" in out


def test_window_json_says_the_same(capsys, blog_model: Path) -> None:
    _, out, _ = run(capsys, "inspect", str(blog_model), "--window", "--json")
    data = json.loads(out)
    window = next_window(restored(blog_model)).window
    assert data["window"] == window.to_dict()
    assert data["clipping"]["clip"] == 5.0 and data["clipping"]["elements"] > 0


def test_through_time_prints_a_row_per_step(capsys, blog_model: Path) -> None:
    status, out, _ = run(capsys, "inspect", str(blog_model), "--through-time")
    assert status == 0
    trainer = restored(blog_model)
    record = next_window(trainer)
    flow = WindowPass(trainer.config, len(trainer.vocab), record.replay, 0).flow(0, trainer.vocab)
    lf = flow.layers[0]
    rows = [line.split() for line in out.split("\n") if line[:5].strip().isdigit()]
    assert [int(r[0]) for r in rows] == list(range(25))
    for t, row in enumerate(rows):
        assert row[1] == visible(flow.inputs[t]) and row[2] == visible(flow.targets[t])
        assert row[3] == f"{flow.loss[t]:.3f}" and row[4] == sci(lf.grad_h[t])
        assert row[5] == sci(lf.last[t + 1])
    assert "‖Whhᵀdiag(1−h²)‖" in out and "(the horizon)" in out
    assert "learn.md#backpropagation-through-time" in out


def test_through_time_json_and_a_passage(capsys, blog_model: Path) -> None:
    status, out, _ = run(capsys, "inspect", str(blog_model), "--through-time", "--text",
                         "this is sample text.", "--json")  # fmt: skip
    data = json.loads(out)
    assert status == 0 and data["window"] is None
    steps = data["through_time"]["layers"][0]["steps"]
    assert len(steps) == 19 and steps[-1]["relative"] == 1.0
    assert data["through_time"]["inputs"] == "this is sample text"
    assert {"grad_h", "last", "factor", "analytic"} <= set(steps[0])


def test_a_corpus_of_your_own_is_given_and_checked(capsys, own_corpus_model) -> None:
    model, text = own_corpus_model
    status, out, _ = run(capsys, "inspect", str(model), "--window", "--corpus", str(text))
    assert status == 0 and "iteration 3" in out


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--through-time", "--text", "th~s"], "outside the model's vocabulary: '~'"),
        (["--through-time", "--text", "t"], "through time needs at least 3"),
        (["--through-time", "--text", "ab" * 300], "measures at most 401"),
        (["--window", "--text", "this"], "--text goes with --through-time"),
        (["--window", "--through-time"], "each print on their own"),
        (["--window", "--gates"], "each print on their own"),
        (["--corpus", "x.txt", "--text", "this"], "--corpus goes with --window"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, blog_model: Path, args, fragment) -> None:
    status, out, err = run(capsys, "inspect", str(blog_model), *args)
    assert status == 2 and not out
    assert err.count("\n") == 1 and err.startswith("charrnn: error: ") and fragment in err


def test_a_corpus_that_is_not_bundled_must_be_given(capsys, own_corpus_model, tmp_path) -> None:
    model, _ = own_corpus_model
    status, out, err = run(capsys, "inspect", str(model), "--window")
    assert status == 2 and not out and err.count("\n") == 1
    assert "corpus 'notes' is not bundled, so give it with --corpus PATH" in err
    other = tmp_path / "other.txt"
    other.write_text("not the text it was trained on\n", encoding="utf-8")
    status, _, err = run(capsys, "inspect", str(model), "--through-time", "--corpus", str(other))
    assert status == 2 and err.count("\n") == 1
    assert "is not the text this checkpoint was trained on" in err
