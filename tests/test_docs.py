"""The README and docs/ stay true: every `charrnn ...` line parses with the real parser, the
generated reference is current, links land, and the programs and claims shown run as shown."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

import corpora
from engine.data import BatchStream
from tui.cli import options, reference
from tui.cli.options import COMMANDS, build_parser, parse
from tui.docs_pointers import VIEW_DOCS

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^\s*(```|~~~)")
# A code span: a run of backticks, the text, the same run again (not across a blank line).
SPAN = re.compile(r"(?<!`)(`+)(?!`)((?:(?!\n\s*\n).)+?)(?<!`)\1(?!`)", re.DOTALL)
MENTION = re.compile(r"(^|[\s;&|(])(\S*/)?charrnn(\s|$)")
ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def code_pieces(text: str) -> Iterator[tuple[int, str]]:
    """(line number, text) of each line in a fenced block and of each inline code span."""
    prose = []
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            prose.append("")
        elif fenced:
            prose.append("")
            yield number, line
        else:
            prose.append(line)
    joined = "\n".join(prose)
    for m in SPAN.finditer(joined):
        yield joined.count("\n", 0, m.start()) + 1, m.group(2).replace("\n", " ")


def charrnn_args(piece: str) -> Iterator[list[str]]:
    """The arguments of each `charrnn` command in a piece of shell: a leading `$ ` prompt and
    `# comments` dropped, each command ending at a shell operator (`|`, `&&`, `>`, ...)."""
    piece = piece.strip().removeprefix("$ ")
    if not MENTION.search(piece):
        return
    lexer = shlex.shlex(piece, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    command: list[str] = []
    for token in [*lexer, ";"]:
        if token and set(token) <= set(lexer.punctuation_chars):
            while command and ENV.match(command[0]):
                command.pop(0)  # NO_COLOR=1 charrnn
            if command and Path(command[0]).name == "charrnn":
                yield command[1:]
            command = []
        else:
            command.append(token)


def build_strict_parser() -> argparse.ArgumentParser:
    """charrnn's parser, taking flags only as written in full: argparse would take `--iter`
    for `--iters`, and the docs should not teach a prefix a new flag could make ambiguous."""
    parser = build_parser()
    for sub in [parser, *reference.subparsers_of(parser).values()]:
        sub.allow_abbrev = False
    return parser


def parse_error(args: list[str]) -> str | None:
    """What the real parser says about `charrnn ARGS`, or None when it takes them. A command
    named alone in prose (`charrnn sample`) names it; it need not have its arguments."""
    if len(args) == 1 and args[0] in COMMANDS:
        return None
    err = io.StringIO()
    strict = mock.patch.object(options, "build_parser", build_strict_parser)
    try:
        with strict, contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            parsed = parse(args)
            if parsed.command == "serve" and parsed.new:  # what serve hands to train
                parse(["train", *parsed.new])
    except SystemExit as stop:
        if stop.code:
            return err.getvalue().strip() or f"exit status {stop.code}"
    return None


def problems(text: str) -> list[str]:
    """Every `charrnn` command in a Markdown text that the parser refuses, by line."""
    found = []
    for number, piece in sorted(code_pieces(text)):
        try:
            commands = list(charrnn_args(piece))
        except ValueError as exc:  # shlex: an unclosed quote
            found.append(f"line {number}: {piece!r}: {exc}")
            continue
        for args in commands:
            error = parse_error(args)
            if error:
                found.append(f"line {number}: charrnn {shlex.join(args)}: {error}")
    return found


def documented_commands() -> list[tuple[str, list[str]]]:
    return [
        (f"{page.name}:{number}", args)
        for page in PAGES
        for number, piece in code_pieces(page.read_text(encoding="utf-8"))
        for args in charrnn_args(piece)
    ]


# -- every command line in the docs parses -------------------------------------------------


@pytest.mark.parametrize(("where", "args"), documented_commands())
def test_every_documented_command_parses(where: str, args: list[str]) -> None:
    error = parse_error(args)
    assert error is None, f"{where}: charrnn {shlex.join(args)}: {error}"


def test_commands_are_found_in_every_page() -> None:
    found = {where.split(":")[0] for where, _ in documented_commands()}
    assert found == {page.name for page in PAGES}


def test_the_checker_names_a_wrong_flag_and_a_bad_value_by_line() -> None:
    text = "\n".join(
        [
            "Train with `charrnn train --hiden 64` for a while.",  # 1: a misspelt flag
            "",
            "```console",
            "$ charrnn sample m.npz --temperature 0   # zero is not a temperature",  # 4
            "charrnn train CORPUS --iters 10 | head -3 > log.txt   # fine: ends at the |",  # 5
            "NO_COLOR=1 .venv/bin/charrnn --preset nope --iter 5",  # 6: bare flags: train
            "pip install x && charrnn serve --new CORPUS --presett gru",  # 7: after --new
            "```",
            "Not code: charrnn --nonsense, and `charrnn runs DIR` is fine.",
        ]
    )
    found = problems(text)
    assert [p.split(":")[0] for p in found] == ["line 1", "line 4", "line 6", "line 7"]
    assert "unrecognized arguments: --hiden" in found[0]
    assert "argument --temperature: must be a positive number (got '0')" in found[1]
    assert "argument --preset: invalid choice: 'nope'" in found[2]
    assert problems("`charrnn --iter 5`") == [
        "line 1: charrnn --iter 5: charrnn: error: unrecognized arguments: --iter "
        "(see charrnn --help)"
    ]  # a prefix argparse would take for --iters
    assert "unrecognized arguments: --presett" in found[3]


def test_the_readme_quick_start_is_what_ci_runs() -> None:
    ci_command = (ROOT / ".ci/run").read_text().strip().splitlines()[-1]
    readme = (ROOT / "README.md").read_text()
    assert ci_command == (
        "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' "
        "&& .venv/bin/python -m pytest -q"
    )
    assert f"```sh\n{ci_command}\n```" in readme
    console = "python3 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/charrnn"
    assert f"```sh\n{console}\n```" in readme


def test_the_readme_stays_a_door() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250


# -- docs/cli.md is generated ------------------------------------------------------------


def test_cli_reference_is_current() -> None:
    committed = (ROOT / "docs/cli.md").read_text(encoding="utf-8")
    assert committed == reference.page(), (
        "docs/cli.md differs from the option table: run `python -m tui.cli.reference --write`"
    )


def test_cli_reference_lists_every_flag_of_every_command() -> None:
    page = reference.page()
    for name, sub in reference.subparsers().items():
        assert f"## charrnn {name}\n" in page
        for action in sub._actions:
            if action.option_strings and action.help != "==SUPPRESS==":
                assert f"`{reference.argument_text(action)}" in page, (name, action.dest)


def test_cli_reference_writes_the_page(tmp_path: Path, monkeypatch) -> None:
    page = tmp_path / "cli.md"
    monkeypatch.setattr(reference, "PAGE", page)
    assert reference.main(["--write"]) == 0
    assert page.read_text(encoding="utf-8") == reference.page()
    done = subprocess.run(
        [sys.executable, "-m", "tui.cli.reference"], capture_output=True, text=True, check=True
    )
    assert done.stdout == reference.page()


# -- links ---------------------------------------------------------------------------------

LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} (.+)$", re.MULTILINE)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors of a page's headings (a `#` line inside a code block is not one)."""
    return {slug(h) for h in HEADING.findall(prose(page))}


def prose(page: Path) -> str:
    """A page without its code blocks, where `#` lines and `f(x)` calls are not markdown."""
    return re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_links_reach_a_file_and_a_heading(page: Path) -> None:
    for target in LINK.findall(prose(page)):
        if target.startswith(("http://", "https://")):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.name}: {target}: no such file"
        if anchor:
            assert anchor in anchors(linked), f"{page.name}: {target}: no such heading"


# -- the blog sample's pointer (docs/learn.md) -----------------------------------------------


def never_targeted(text_length: int, seq_length: int) -> list[int]:
    """Positions of a text that min-char-rnn's pointer (B=1) never makes a target."""
    stream = BatchStream(np.arange(text_length), batch=1, seq_length=seq_length)
    targeted: set[int] = set()
    while True:
        _, targets, reset = stream.next_window()
        if reset and targeted:
            break
        targeted.update(targets[:, 0].tolist())
    return sorted(set(range(text_length)) - targeted)


def test_the_blog_samples_last_characters_are_never_a_target() -> None:
    text = corpora.load("blog_sample")[1]
    assert text.endswith("bye and so long.\n") and len(text) == 58
    # What learn.md says: the first character and " long.⏎" at seq_length 25 ...
    assert never_targeted(len(text), 25) == [0, *range(51, 58)]
    assert text[51:] == " long.\n" and text[48:51] == " so"
    # ... only the final newline at 28 ...
    assert never_targeted(len(text), 28) == [0, 57]
    # ... and the last 18 characters of tinyshakespeare at 25.
    length = len(corpora.load("tinyshakespeare")[1])
    assert never_targeted(length, 25) == [0, *range(length - 18, length)]


def fenced_after(text: str, marker: str) -> tuple[str, str]:
    """The first fenced block containing `marker`, and the fenced block that follows it."""
    blocks = re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.DOTALL)
    index = next(i for i, block in enumerate(blocks) if marker in block)
    return blocks[index], blocks[index + 1]


def run_python(program: str, cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, cwd=cwd, check=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    return done.stdout


def test_learn_md_shows_the_pointer_programs_real_output(tmp_path: Path) -> None:
    program, shown = fenced_after((ROOT / "docs/learn.md").read_text(), "BatchStream(")
    assert run_python(program, tmp_path) == shown
    assert "never a target: [0, 51, 52, 53, 54, 55, 56, 57]" in shown


def test_checkpoint_format_md_reads_a_checkpoint_with_numpy_alone(tmp_path: Path) -> None:
    from tui.cli import main

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        status = main(["train", "blog_sample", "--headless", "--iters", "3",
                       "--sample-every", "0", "--save", str(tmp_path / "blog.npz")])  # fmt: skip
    assert status == 0
    page = (ROOT / "docs/checkpoint-format.md").read_text()
    program, shown = fenced_after(page, 'np.load("blog.npz"')
    lines = run_python(program, tmp_path).splitlines()
    assert lines[0] == "charrnn-checkpoint 1 iteration 3"
    assert lines[1:] == shown.splitlines()[1:]  # the vocabulary and shapes, as shown
    meta = json.loads(np.load(tmp_path / "blog.npz")["meta"].tobytes())
    assert shown.splitlines()[0] == f"charrnn-checkpoint {meta['format_version']} iteration 40001"


@pytest.mark.parametrize("view", sorted(VIEW_DOCS))
def test_every_view_points_to_a_section_that_exists(view: str) -> None:
    """Each view names the docs page (and section) that explains it: the pointer must lead
    somewhere when the docs are reorganised."""
    page, _, anchor = VIEW_DOCS[view].partition("#")
    assert (ROOT / page).is_file(), VIEW_DOCS[view]
    if anchor:
        assert anchor in anchors(ROOT / page), VIEW_DOCS[view]
