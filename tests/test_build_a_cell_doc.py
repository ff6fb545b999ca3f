"""docs/build-a-cell.md's edits are real: applied to what `charrnn cell new mygru --from rnn`
writes, its first diff gives a GRU whose gradcheck fails as the page shows (naming the
update gate's weights), and its second diff, the fix, makes every check pass."""

from __future__ import annotations

import re
from pathlib import Path

from tui.cli import main

PAGE = Path(__file__).parents[1] / "docs" / "build-a-cell.md"


def blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.DOTALL)


def apply(diff: str, source: str) -> str:
    """`source` with the unified diff's hunks applied (each must match its context exactly)."""
    lines = source.splitlines()
    hunks = re.split(r"^@@ -(\d+),\d+ \+\d+,\d+ @@.*\n", diff, flags=re.MULTILINE)[1:]
    shift = 0
    for start, body in zip(hunks[::2], hunks[1::2], strict=True):
        old = [line[1:] for line in body.splitlines() if line[:1] in (" ", "-")]
        new = [line[1:] for line in body.splitlines() if line[:1] in (" ", "+")]
        at = int(start) - 1 + shift
        assert lines[at : at + len(old)] == old, f"hunk at line {start} does not apply"
        lines[at : at + len(old)] = new
        shift += len(new) - len(old)
    return "\n".join(lines) + "\n"


def gradcheck(capsys) -> tuple[int, str, str]:
    status = main(["gradcheck", "--cell-file", "mygru.py"])
    out, err = capsys.readouterr()
    return status, out, err


def verdicts(text: str, section: str) -> dict[str, str]:
    """Each gradient's ok or FAIL in one section of gradcheck's output."""
    part = text[text.index(section) :]
    part = part[: part.index("\nthe ", 1)] if "\nthe " in part[1:] else part
    return dict(
        re.findall(r"^  (\S+(?: \S+)*) {2,}\S+ +relative error \S+ +(ok|FAIL)$", part, re.M)
    )


def test_the_tutorials_edits_make_the_gru_it_shows(tmp_path, monkeypatch, capsys, registry):
    monkeypatch.chdir(tmp_path)
    assert main(["cell", "new", "mygru", "--from", "rnn"]) == 0
    capsys.readouterr()
    edits, fix = blocks("diff")
    written = Path("mygru.py").read_text(encoding="utf-8")
    Path("mygru.py").write_text(apply(edits, written), encoding="utf-8")
    status, out, err = gradcheck(capsys)
    assert status == 1
    shown = next(b for b in blocks("text") if b.startswith("cell mygru"))
    one_step = "the cell alone, one step"
    assert verdicts(out, one_step) == verdicts(shown, one_step)
    assert {k for k, v in verdicts(out, one_step).items() if v == "FAIL"} == {
        "Wxz", "Whz", "bz", "d state h", "d inputs"
    }  # fmt: skip
    assert err.strip() in PAGE.read_text(encoding="utf-8")  # the one-line summary, as shown
    Path("mygru.py").write_text(apply(fix, Path("mygru.py").read_text()), encoding="utf-8")
    status, out, err = gradcheck(capsys)
    assert status == 0 and out.rstrip().endswith("all 34 checks pass"), out + err
