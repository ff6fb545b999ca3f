"""`charrnn runs`: one line per run directory, its columns under the header's titles."""

from __future__ import annotations

import re

from tui.cli import main
from tui.runs.rundir import RunDir
from tui.runs.status import RunStatus


def write_status(path, **fields) -> None:
    status = RunStatus(pid=1, corpus="alice", preset=None, model="rnn 100, 1 layer", config={},
                       detached=False)  # fmt: skip
    for name, value in fields.items():
        setattr(status, name, value)
    status.write(RunDir(path).create())


def test_the_columns_line_up_under_their_titles(tmp_path, capsys):
    root = tmp_path / "runs"
    write_status(root / "alice-20250101-120000", state="finished", preset="classic",
                 iteration=12345, smooth_loss=1.5, started=2.0)  # fmt: skip
    write_status(root / ("a-run-name-longer-than-its-column-" * 2), state="stopped",
                 reason="signal", iteration=7, best_val_loss=2.25, started=1.0)  # fmt: skip
    assert main(["runs", str(root)]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    expected = [  # (title, the cell under it in each row, aligned left or right)
        [("state", "finished", "<"), ("model", "classic: rnn 100", "<"), ("iter", "12345", ">"),
         ("loss", "1.5000", ">"), ("best val", "—", ">")],
        [("state", "stopped (signal)", "<"), ("model", "rnn 100", "<"), ("iter", "7", ">"),
         ("loss", "—", ">"), ("best val", "2.2500", ">")],
    ]  # fmt: skip
    assert len(rows) == len(expected)
    for row, cells in zip(rows, expected, strict=True):
        for title, cell, align in cells:
            start = header.index(title)
            if align == ">":
                start += len(title) - len(cell)
            assert row[start : start + len(cell)] == cell, (title, header, row)
            assert row[start - 1] == " "
        assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d", row[header.index("updated") :])
