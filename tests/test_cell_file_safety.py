"""A cell file is code, imported only from a path on the user's own command line. Nothing that
arrives in a checkpoint, an inspect snapshot, a run directory's run.json, a protocol command
or event names a file that gets imported: each test below offers an existing file that
would leave a marker if it were ever imported, and checks that the marker never appears."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cell_support import MGU, MGU_SOURCE, with_marker
from console_support import SIZE, make_app, wait_for
from run_support import TINY_FLAGS, Viewer, charrnn, start_detached, stop_run

from engine import checkpoint
from engine.cells import CELL_TYPES
from engine.cells.user import LOADED, load_cell_file, source_hash
from engine.config import Config
from engine.errors import CharrnnError
from engine.inspect import take_snapshot
from engine.snapshot_file import read_snapshot, write_snapshot
from engine.trainer import Trainer
from tui.links import SessionEvent
from tui.runs.metrics import open_run
from tui.runs.protocol import Load, Notice, ProtocolError, SnapshotReady, decode, encode
from tui.runs.rundir import RunDir

TEXT = "the quick brown fox jumps over the lazy dog. " * 4


@pytest.fixture(autouse=True)
def no_cell_loaded(registry):
    for name in [n for n in CELL_TYPES if n in LOADED]:
        del CELL_TYPES[name]


@pytest.fixture
def evil(tmp_path: Path) -> tuple[Path, Path]:
    """(a working cell file that writes a marker when imported, the marker's path)."""
    marker = tmp_path / "IMPORTED"
    source = with_marker(MGU_SOURCE, marker)
    source = source.replace('name = "mgu"', 'name = "evil"').replace("MGUCell", "EvilCell")
    path = tmp_path / "evil.py"
    path.write_text(source, encoding="utf-8")
    return path, marker


def record(path: Path, name: str = "evil") -> dict[str, str]:
    return {"name": name, "class": "EvilCell", "file": str(path),
            "sha256": source_hash(path.read_bytes())}  # fmt: skip


def crafted(tmp_path: Path, cell: str, cell_record: dict[str, str] | None) -> Path:
    """A real checkpoint of mgu whose metadata now names `cell` and holds `cell_record`."""
    load_cell_file(str(MGU))
    trainer = Trainer(Config(cell="mgu", hidden=6, seq_length=8), TEXT, seed=0)
    trainer.train(2)
    good = checkpoint.save(trainer, tmp_path / "good.npz")
    del CELL_TYPES["mgu"]
    with np.load(good) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(arrays.pop("meta").tobytes())
    meta["config"]["cell"] = cell
    meta.pop("cell_file")
    if cell_record is not None:
        meta["cell_file"] = cell_record
    path = tmp_path / "crafted.npz"
    np.savez(path, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8), **arrays)
    return path


@pytest.mark.parametrize(
    "argv",
    [
        ["sample", "crafted.npz"],
        ["inspect", "crafted.npz"],
        ["train", "blog_sample", "--headless", "--resume", "crafted.npz", "--iters", "1"],
        ["export", "crafted.npz", "out.safetensors", "--to", "safetensors"],
        ["sample", "crafted.npz", "--cell-file", str(MGU)],  # another cell's file given
    ],
    ids=["sample", "inspect", "resume", "export", "another-cell-file"],
)
def test_a_checkpoint_naming_a_cell_file_never_imports_it(argv, tmp_path, evil) -> None:
    path, marker = evil
    crafted(tmp_path, "evil", record(path))
    done = charrnn(*argv, cwd=tmp_path)
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr
    assert "the cell 'evil' of your own" in done.stderr and str(path) in done.stderr
    assert not marker.exists()


@pytest.mark.parametrize(
    ("cell", "cell_record", "message"),
    [
        ("evil.py", None, "unknown cell 'evil.py'"),
        ("rnn", "built-in", "the cell record's name 'rnn' is not a user cell's"),
        ("evil", "other name", "its cell record names 'other', its config 'evil'"),
        ("evil", "not hex", "the cell record's sha256 is not 64 hex digits"),
        ("evil", "escapes", "corrupt checkpoint (the cell record's file"),
    ],
)
def test_crafted_cell_records_are_refused(cell, cell_record, message, tmp_path, evil) -> None:
    path, marker = evil
    good = record(path)
    records = {
        None: None,
        "built-in": {**good, "name": "rnn"},
        "other name": {**good, "name": "other"},
        "not hex": {**good, "sha256": "import evil"},
        "escapes": {**good, "file": "evil.py\x1b[2J"},
    }
    ckpt = crafted(tmp_path, cell, records[cell_record])
    with pytest.raises(CharrnnError, match=message.replace("(", r"\(").replace(")", r"\)")):
        checkpoint.load(ckpt)
    assert not marker.exists()


def test_a_snapshot_naming_a_cell_file_never_imports_it(tmp_path, evil) -> None:
    path, marker = evil
    load_cell_file(str(MGU))
    trainer = Trainer(Config(cell="mgu", hidden=6, seq_length=8), TEXT, seed=0)
    snapshot = write_snapshot(take_snapshot(trainer), tmp_path / "inspect.npz")
    del CELL_TYPES["mgu"]
    with pytest.raises(CharrnnError, match="holds the cell 'mgu' of your own"):
        read_snapshot(snapshot)  # a viewer not given the cell file
    with np.load(snapshot) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(arrays.pop("meta").tobytes())
    meta["config"]["cell"], meta["cell_file"] = "evil", record(path)
    np.savez(snapshot, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8), **arrays)
    with pytest.raises(CharrnnError, match=f"the cell 'evil' of your own .* --cell-file {path}"):
        read_snapshot(snapshot)
    assert not marker.exists()


async def test_a_snapshot_event_naming_a_python_file_is_refused(tmp_path, evil) -> None:
    path, marker = evil
    app = make_app(tmp_path / "run", start_paused=True)
    async with app.run_test(size=SIZE) as pilot:
        app._awaiting_snapshot = True  # as after `i`
        app.post_message(SessionEvent(SnapshotReady(str(path), 0)))
        await wait_for(pilot, lambda: "inspect failed" in app.message_line.text)
    assert not marker.exists()


def test_protocol_commands_cannot_name_a_cell_file(tmp_path, evil) -> None:
    path, marker = evil
    line = {"v": 1, "type": "Load", "path": "x.npz", "cell_file": str(path)}
    with pytest.raises(ProtocolError, match="Load: no field 'cell_file'"):
        decode(json.dumps(line))
    run_dir = start_detached(tmp_path)
    try:
        viewer = Viewer(run_dir)
        viewer.send_raw(json.dumps(line).encode() + b"\n")  # refused as it is decoded
        viewer.send(Load(str(path)))  # a well-formed command naming the file: not a checkpoint
        refusal = viewer.wait_for(lambda e: isinstance(e, Notice) and "load refused" in e.text)
        assert "not a charrnn checkpoint" in refusal.text
        viewer.close()
    finally:
        stop_run(run_dir)
    assert not marker.exists()
    assert encode(Load(str(path)))  # the command itself is fine: it names data, not code


def test_a_run_json_naming_a_cell_file_is_never_imported(tmp_path, evil) -> None:
    path, marker = evil
    crafted(tmp_path, "evil", record(path))
    run = RunDir(tmp_path / "runs" / "evil-run").create()
    (tmp_path / "crafted.npz").rename(run.latest)
    config = Config(hidden=6, seq_length=8).to_dict() | {"cell": "evil"}
    status = {"pid": 1, "corpus": "blog_sample", "preset": None, "model": "evil 6, 1 params",
              "config": config, "detached": True, "state": "stopped", "started": 1.0,
              "cell_file": record(path)}  # fmt: skip
    run.status_file.write_text(json.dumps(status))
    run.metrics.write_text(json.dumps({"iteration": 0, "loss": 3.0}) + "\n")
    listed = charrnn("runs", cwd=tmp_path)
    assert listed.returncode == 0 and "evil 6" in listed.stdout
    attached = charrnn("attach", "runs/evil-run", cwd=tmp_path)
    assert attached.returncode == 2 and f"--cell-file {path}" in attached.stderr  # shown only
    compared = open_run(run.path)
    assert compared.info.describe().startswith("EVIL 6")  # compare's legend names the cell
    assert not marker.exists()


def test_the_files_own_flags_are_what_imports_it(tmp_path, evil) -> None:
    """The control: given on the command line, the same file is imported (the marker appears)."""
    path, marker = evil
    done = charrnn("gradcheck", "--cell-file", str(path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert marker.exists()


def test_runs_show_a_users_cell_by_name(tmp_path) -> None:
    flags = [*TINY_FLAGS, "--iters", "3", "--run-dir", "runs/mine", "--cell-file", str(MGU)]
    assert charrnn("train", "blog_sample", "--headless", *flags, cwd=tmp_path).returncode == 0
    listed = charrnn("runs", cwd=tmp_path)
    row = listed.stdout.splitlines()[1]
    assert row.split()[0] == "mine" and "mgu 8" in row
