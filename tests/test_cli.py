"""The headless command line: the log, sampling, gradcheck, corpora, and every bad input."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from races import ROUNDS

import corpora
from engine import checkpoint
from engine.sampling import SampleSettings
from tui.cli import main
from tui.cli.options import COMMANDS

TINY = ["--sample-every", "0"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def run_exit(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """As `run`, for errors argparse reports by exiting."""
    try:
        status = main(list(argv))
    except SystemExit as exc:
        status = int(exc.code or 0)
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def model_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "blog.npz"
    status, _, _ = run(
        capsys, "train", "blog_sample", "--headless", "--iters", "300", "--save", str(path)
    )
    assert status == 0
    return path


# -- what works --------------------------------------------------------------------------


def test_headless_prints_min_char_rnns_log(capsys, tmp_path: Path) -> None:
    status, out, _ = run(capsys, "train", "blog_sample", "--headless", "--iters", "201")
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == "data has 58 characters, 22 unique."
    iters = [line for line in lines if line.startswith("iter ")]
    assert [line.split(",")[0] for line in iters] == ["iter 0", "iter 100", "iter 200"]
    # Smoothed loss starts at -ln(1/22) * 25 = 77.27 and falls.
    losses = [float(line.split("loss: ")[1]) for line in iters]
    assert losses[0] == pytest.approx(77.27, abs=0.05)
    assert losses[-1] < losses[0]
    assert out.count("----\n ") == 3  # a sample block before iterations 0, 100 and 200


def test_train_saves_and_resume_continues_the_count(capsys, tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    run(capsys, "train", "blog_sample", "--headless", "--iters", "150", "--save", str(path), *TINY)
    status, out, err = run(
        capsys, "train", "blog_sample", "--headless", "--resume", str(path), "--iters", "100",
        "--save", str(path), *TINY,
    )  # fmt: skip
    assert status == 0
    assert "iter 200, loss:" in out and "iter 100," not in out
    assert checkpoint.load(path).iteration == 250
    assert "saved iteration 250" in err


def test_sample_prints_the_prime_then_length_characters(capsys, model_file: Path) -> None:
    status, out, _ = run(capsys, "sample", str(model_file), "--greedy", "--length", "0")
    assert status == 0 and out == "\n"
    status, out, _ = run(capsys, "sample", str(model_file), "--prime", "bye ", "--length", "12")
    assert status == 0
    assert out.startswith("bye ") and len(out) == len("bye ") + 12 + 1


def test_sample_seed_repeats_and_top_k_one_is_greedy(capsys, model_file: Path) -> None:
    a = run(capsys, "sample", str(model_file), "--seed", "4", "--length", "80")[1]
    b = run(capsys, "sample", str(model_file), "--seed", "4", "--length", "80")[1]
    c = run(capsys, "sample", str(model_file), "--seed", "5", "--length", "80")[1]
    assert a == b and a != c
    greedy = run(capsys, "sample", str(model_file), "--greedy", "--length", "40")[1]
    top1 = run(capsys, "sample", str(model_file), "--top-k", "1", "--seed", "9", "--length", "40")
    assert top1[1] == greedy


def test_gradcheck_passes(capsys) -> None:
    status, out, _ = run(capsys, "gradcheck")
    assert status == 0
    # 2 row_step checks, and 5 gradients each over one step, a window and the model
    assert "l0.Whh" in out and "all 17 checks pass" in out


def test_corpora_lists_the_bundled_texts(capsys) -> None:
    status, out, _ = run(capsys, "corpora")
    assert status == 0
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert set(rows) == {"blog_sample", "alice", "tinyshakespeare", "kaze"}
    assert rows["kaze"][2:4] == ["30,915", "762"]
    assert rows["tinyshakespeare"][1] == "1,115,394"


@pytest.mark.parametrize("command", [[], *([name] for name in COMMANDS)])
def test_every_command_has_help(capsys, command: list[str]) -> None:
    status, out, _ = run_exit(capsys, *command, "--help")
    assert status == 0 and "usage: charrnn" in out


def test_gradcheck_help_offers_only_what_gradcheck_takes(capsys) -> None:
    status, out, _ = run_exit(capsys, "gradcheck", "--help")
    assert status == 0 and "--cell" in out and "--dropout" in out
    assert "--preset" not in out and "--resume" not in out  # flags of train, not of gradcheck


def test_a_corpus_path_works(capsys, tmp_path: Path) -> None:
    corpus = tmp_path / "poem.txt"
    corpus.write_text("ünïcödé text is fine here, with more than enough characters.\n")
    status, out, _ = run(capsys, "train", str(corpus), "--headless", "--iters", "2", *TINY)
    assert status == 0 and "iter 0, loss:" in out


# -- bad input: one line on stderr, exit 2, nothing trained or overwritten ----------------


def assert_clean_error(status: int, out: str, err: str, *fragments: str) -> None:
    assert status == 2
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err
    assert "iter " not in out  # nothing trained


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda d: d / "missing.txt", "no such file"),
        (lambda d: d, "is a directory"),
        (lambda d: (d / "empty.txt", (d / "empty.txt").write_text(""))[0], "file is empty"),
        (lambda d: (d / "short.txt", (d / "short.txt").write_text("too short"))[0],
         "needs at least seq_length + 1 = 26"),
        (lambda d: (d / "latin1.txt", (d / "latin1.txt").write_bytes(b"caf\xe9 " * 20))[0],
         "not valid UTF-8 (byte 0xe9 at offset 3)"),
        (lambda d: (d / "x.bin", (d / "x.bin").write_bytes(b"\x7fELF\x02\x01\x00" + b"a" * 99))[0],
         "binary file (NUL byte at offset 6)"),
    ],
    ids=["missing", "directory", "empty", "too-short", "not-utf8", "binary"],
)  # fmt: skip
def test_bad_corpus(capsys, tmp_path: Path, make, fragment: str) -> None:
    status, out, err = run(capsys, "train", str(make(tmp_path)), "--headless", "--iters", "1")
    assert_clean_error(status, out, err, fragment)


def test_unknown_corpus_name_lists_the_bundled_ones(capsys) -> None:
    status, out, err = run(capsys, "train", "shakespear", "--headless", "--iters", "1")
    assert_clean_error(status, out, err, "no such file or bundled corpus", "tinyshakespeare")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--temperature", "0"], "must be a positive number (got '0')"),
        (["--temperature", "-1"], "must be a positive number"),
        (["--temperature", "warm"], "must be a positive number (got 'warm')"),
        (["--temperature", "nan"], "must be a positive number"),
        (["--iters", "-5"], "must be 0 or more (got '-5')"),
        (["--iters", "ten"], "must be a whole number"),
        (["--sample-every", "-1"], "must be 0 or more"),
        (["--preset", "huge"], "invalid choice: 'huge'"),
    ],
)
def test_bad_train_options(capsys, args: list[str], fragment: str) -> None:
    status, out, err = run_exit(capsys, "train", "blog_sample", "--headless", *args)
    assert_clean_error(status, out, err, fragment)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--length", "-3"], "must be a whole number from 0 to 10,000 (got '-3')"),
        (["--length", "10001"], "must be a whole number from 0 to 10,000 (got '10001')"),
        (["--temperature", "0"], "must be a positive number"),
        (["--top-k", "-1"], "must be 0 or more"),
        (["--prime", "XYZ"], "prime text has characters outside the model's vocabulary: 'XYZ'"),
    ],
)
def test_bad_sample_options(capsys, model_file: Path, args: list[str], fragment: str) -> None:
    status, out, err = run_exit(capsys, "sample", str(model_file), *args)
    assert_clean_error(status, out, err, fragment)


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def edit_entries(path: Path, change) -> None:
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(arrays["meta"].tobytes())
    change(arrays, meta)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, **arrays)


@pytest.mark.parametrize(
    ("corrupt", "fragment"),
    [
        (lambda p: p.write_bytes(b"not a checkpoint at all"), "not an .npz file"),
        (truncate, "truncated or corrupt"),
        (lambda p: edit_entries(p, lambda a, m: m.pop("iteration")), "missing iteration"),
        (lambda p: edit_entries(p, lambda a, m: m.update(format_version=99)), "newer charrnn"),
        (lambda p: edit_entries(p, lambda a, m: a.update(x=np.array([{}], dtype=object))),
         "contains pickled objects; refused"),
    ],
    ids=["not-npz", "truncated", "lacks-fields", "newer-version", "pickled"],
)  # fmt: skip
def test_bad_checkpoint_for_sample_and_resume(
    capsys, model_file: Path, corrupt, fragment: str
) -> None:
    corrupt(model_file)
    for argv in (
        ["sample", str(model_file)],
        ["train", "blog_sample", "--headless", "--resume", str(model_file), "--iters", "1"],
    ):
        status, out, err = run(capsys, *argv)
        assert_clean_error(status, out, err, fragment)


def test_resume_with_a_vocabulary_that_does_not_cover_the_corpus(capsys, model_file: Path) -> None:
    before = model_file.read_bytes()
    status, out, err = run(
        capsys, "train", "alice", "--headless", "--resume", str(model_file),
        "--save", str(model_file), "--iters", "5",
    )  # fmt: skip
    assert_clean_error(status, out, err, "vocabulary does not cover corpus 'alice'")
    assert model_file.read_bytes() == before  # nothing overwritten


def test_save_into_a_missing_directory_fails_before_training(capsys, tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "dir" / "m.npz"
    status, out, err = run(
        capsys, "train", "blog_sample", "--headless", "--iters", "5", "--save", str(target)
    )
    assert_clean_error(status, out, err, "does not exist")
    assert out == ""  # said before training started


def test_save_into_an_unwritable_directory_fails_before_training(capsys, tmp_path: Path) -> None:
    if os.geteuid() == 0:
        locked = Path("/sys")  # root ignores permission bits; sysfs refuses new files anyway
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
    status, out, err = run(
        capsys, "train", "blog_sample", "--headless", "--iters", "5",
        "--save", str(locked / "m.npz"),
    )  # fmt: skip
    assert_clean_error(status, out, err, "is not writable")
    assert out == ""


def test_save_onto_a_directory_is_refused(capsys, tmp_path: Path) -> None:
    status, out, err = run(
        capsys, "train", "blog_sample", "--headless", "--iters", "5", "--save", str(tmp_path)
    )
    assert_clean_error(status, out, err, "is a directory")


def test_the_installed_command_reports_errors_without_a_traceback(tmp_path: Path) -> None:
    corpus = tmp_path / "bad.txt"
    corpus.write_bytes(b"\xff\xfe bad bytes")
    proc = subprocess.run(
        [sys.executable, "-m", "tui.cli", "train", str(corpus), "--headless"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert (
        proc.stderr.strip() == f"charrnn: error: {corpus}: not valid UTF-8 (byte 0xff at offset 0)"
    )


def test_ctrl_c_saves_and_exits(tmp_path: Path) -> None:
    target = tmp_path / "interrupted.npz"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "train", "blog_sample", "--headless",
         "--save", str(target), "--sample-every", "0", "--log-every", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    for _ in range(50):  # wait until training is under way
        if proc.stdout.readline().startswith("iter 20,"):
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "interrupted at iteration" in err and "Traceback" not in err
    assert checkpoint.load(target).iteration > 20


def test_ctrl_c_as_training_starts_stops_and_saves_every_time(tmp_path: Path) -> None:
    """Ctrl-C the moment the first step is logged: the main thread may still be inside
    Thread.start(), where a KeyboardInterrupt used to leave the training thread running
    for ever (CI saw test_ctrl_c_saves_and_exits hang once)."""
    for attempt in range(max(5, ROUNDS)):
        target = tmp_path / f"early{attempt}.npz"
        proc = subprocess.Popen(
            [sys.executable, "-m", "tui.cli", "train", "blog_sample", "--headless",
             "--save", str(target), "--sample-every", "0", "--log-every", "1"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proc.stdout is not None
        while not proc.stdout.readline().startswith("iter 1,"):
            pass
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert "interrupted at iteration" in err and "Traceback" not in err
        assert checkpoint.load(target).iteration >= 1


def read_then_close(argv: list[str], lines: int) -> tuple[int, str]:
    """Run charrnn with stdout into a pipe whose reader leaves after `lines` lines, as
    `charrnn ... | head -n LINES` does; the exit status and stderr."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", *argv],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    for _ in range(lines):
        proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    return proc.wait(timeout=60), err


def test_a_closed_pipe_stops_headless_training_and_saves(tmp_path: Path) -> None:
    target = tmp_path / "piped.npz"
    status, err = read_then_close(
        ["train", "blog_sample", "--headless", "--save", str(target), "--log-every", "1"], 30
    )
    assert status == 141, err
    assert "Traceback" not in err and "stdout closed at iteration" in err
    assert checkpoint.load(target).iteration > 10


def test_a_closed_pipe_ends_a_long_sample_quietly(model_file: Path, tmp_path: Path) -> None:
    # Longer than a pipe holds: a long prime (the output starts with it) and the longest sample.
    prime = tmp_path / "prime.txt"
    prime.write_text(corpora.load("blog_sample")[1] * 20_000)
    argv = ["sample", str(model_file), "--prime-file", str(prime), "--length", "10000"]
    status, err = read_then_close(argv, 2)
    assert status == 141
    assert err == ""


def test_a_prime_starts_from_a_zero_state_unless_asked_to_carry(capsys, tmp_path: Path) -> None:
    """With a prime the context starts at the prime, as in char-rnn: the sample does not
    depend on where training stopped. --carried-state continues training's stream instead;
    without a prime that is the default (a model trained on a carried stream has rarely seen
    a zero state)."""
    path = tmp_path / "m.npz"
    run(capsys, "train", "alice", "--headless", "--iters", "300", "--save", str(path), *TINY)
    ckpt = checkpoint.load(path)
    assert np.abs(ckpt.arrays["state/0/0"][0]).max() > 0.1  # a real carried state, not zeros
    trainer = checkpoint.restore(ckpt, corpora.load("alice")[1], "alice")
    greedy = SampleSettings(length=60, greedy=True)
    argv = ["sample", str(path), "--greedy", "--prime", "The ", "--length", "60"]
    zero = trainer.sample(greedy, prime="The ", start="zero")
    assert run(capsys, *argv)[1] == zero + "\n"
    assert run(capsys, *argv, "--zero-state")[1] == zero + "\n"
    carried = trainer.sample(greedy, prime="The ", start="carried")
    assert run(capsys, *argv, "--carried-state")[1] == carried + "\n"
    assert carried != zero
    plain = ["sample", str(path), "--greedy", "--length", "60"]
    assert run(capsys, *plain)[1] == run(capsys, *plain, "--carried-state")[1]


def test_prime_file_reads_a_long_multi_line_prime(capsys, model_file: Path, tmp_path: Path) -> None:
    prime = tmp_path / "prime.txt"
    prime.write_text("this is sample text.\nbut are you happy??\n", encoding="utf-8")
    status, out, _ = run(capsys, "sample", str(model_file), "--prime-file", str(prime),
                         "--length", "10", "--greedy")  # fmt: skip
    assert status == 0 and out.startswith(prime.read_text())
    expected = run(capsys, "sample", str(model_file), "--prime", prime.read_text(),
                   "--length", "10", "--greedy")[1]  # fmt: skip
    assert out == expected


def written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda d: d / "missing.txt", "does not exist"),
        (lambda d: d, "is a directory"),
        (lambda d: ((d / "e.txt").write_text("") and d / "e.txt") or d / "e.txt", "is empty"),
        (lambda d: (d / "b.txt").write_bytes(b"\xff\xfe") and d / "b.txt", "is not UTF-8"),
        (lambda d: os.mkfifo(d / "fifo") or d / "fifo", "fifo"),
    ],
    ids=["missing", "directory", "empty", "not-utf8", "fifo"],
)
def test_bad_prime_files(capsys, model_file: Path, tmp_path: Path, make, fragment: str) -> None:
    bad = tmp_path / "primes"
    bad.mkdir()
    status, out, err = run(capsys, "sample", str(model_file), "--prime-file", str(make(bad)))
    assert_clean_error(status, out, err, fragment)


def test_prime_and_prime_file_together_are_refused(capsys, model_file: Path) -> None:
    status, out, err = run(capsys, "sample", str(model_file), "--prime", "a",
                           "--prime-file", "p.txt")  # fmt: skip
    assert_clean_error(status, out, err, "--prime or --prime-file, not both")


def test_streaming_to_a_terminal_prints_the_same_text_as_a_pipe() -> None:
    from tui.cli.commands import write_stream

    class Terminal(io.StringIO):
        flushes = 0

        def isatty(self) -> bool:
            return True

        def flush(self) -> None:
            self.flushes += 1

    pieces = ["bye ", "a", "n", "d"]
    terminal, pipe = Terminal(), io.StringIO()
    write_stream(iter(pieces), terminal)
    write_stream(iter(pieces), pipe)
    assert terminal.getvalue() == pipe.getvalue() == "bye and\n"
    assert terminal.flushes == len(pieces)  # each character shown as it is made


def test_inspect_prints_each_characters_probability_and_top_k(capsys, model_file: Path) -> None:
    status, out, _ = run(capsys, "inspect", str(model_file), "--text", "bye", "--top-k", "2")
    assert status == 0
    assert "·" not in out.splitlines()[0] or "b" in out  # the passage's characters are listed
    data_status, data, _ = run(capsys, "inspect", str(model_file), "--text", "bye", "--json")
    parsed = json.loads(data)
    assert data_status == 0 and isinstance(parsed, dict)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--text", "XYZ"], "outside the model's vocabulary"),
        (["--text", "bye", "--unit", "0:999"], "unit 999 does not exist"),
        (["--text", "bye", "--unit", "seven"], "LAYER:N"),
        (["--text", "bye", "--gates"], "needs a cell with gates"),
        (["--text-file", "/nonexistent/passage.txt"], "no such file"),
    ],
)
def test_bad_inspect_options(capsys, model_file: Path, args: list[str], fragment: str) -> None:
    status, out, err = run(capsys, "inspect", str(model_file), *args)
    assert_clean_error(status, out, err, fragment)
