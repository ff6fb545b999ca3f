"""`charrnn export` without PyTorch: the safetensors file (names, shapes, gate orders, the
metadata), what it refuses to export, and where it refuses to write."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from export_support import decoded, trained
from safetensors import safe_open
from safetensors.numpy import load_file

from engine import checkpoint
from engine import export as exporting
from engine.cells import GRUCell, LSTMCell
from engine.errors import CharrnnError
from tui.cli import main
from tui.cli.options import OPTIONS


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def refused(capsys, *argv: str) -> str:
    """The one line `charrnn` printed on refusing, after checking it exited 2."""
    status, out, err = run(capsys, *argv)
    assert status == 2 and out == ""
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def exported(capsys, ckpt: Path, out: Path) -> tuple[dict, dict[str, np.ndarray]]:
    status, said, _ = run(capsys, "export", str(ckpt), "--to", "safetensors", str(out))
    assert status == 0 and said.startswith(f"{out}: safetensors, nn.")
    with safe_open(out, framework="numpy") as f:
        meta = decoded(f.metadata())
    return meta, load_file(out)


# -- the file -------------------------------------------------------------------------------


def test_lstm_export_holds_pytorchs_names_shapes_and_gate_order(capsys, tmp_path: Path) -> None:
    _, ckpt = trained(tmp_path, cell="lstm", layers=2, embedding=8, dropout=0.2)
    meta, tensors = exported(capsys, ckpt, tmp_path / "m.safetensors")
    p = checkpoint.load_model(checkpoint.load(ckpt))[1]
    v, h = p["Why"].shape
    assert {k: t.shape for k, t in tensors.items()} == {
        "embedding.weight": (v, 8),
        "rnn.weight_ih_l0": (4 * h, 8),
        "rnn.weight_hh_l0": (4 * h, h),
        "rnn.bias_ih_l0": (4 * h,),
        "rnn.bias_hh_l0": (4 * h,),
        "rnn.weight_ih_l1": (4 * h, h),
        "rnn.weight_hh_l1": (4 * h, h),
        "rnn.bias_ih_l1": (4 * h,),
        "rnn.bias_hh_l1": (4 * h,),
        "output.weight": (v, h),
        "output.bias": (v,),
    }
    # charrnn's columns are o, i, f, g; PyTorch's rows i, f, g, o.
    o, i, f, g = (slice(k * h, (k + 1) * h) for k in range(4))
    for k in (0, 1):
        want = np.concatenate([p[f"l{k}.Wx"][:, s] for s in (i, f, g, o)], axis=1).T
        assert np.array_equal(tensors[f"rnn.weight_ih_l{k}"], want)
        want = np.concatenate([p[f"l{k}.b"][s] for s in (i, f, g, o)])
        assert np.array_equal(tensors[f"rnn.bias_ih_l{k}"], want)
        assert not tensors[f"rnn.bias_hh_l{k}"].any()
    assert np.array_equal(tensors["embedding.weight"], p["E"])
    assert meta["torch"] == {
        "module": "LSTM",
        "rnn": {"input_size": 8, "hidden_size": h, "num_layers": 2, "dropout": 0.2},
        "embedding": 8,
        "vocab_size": v,
        "dtype": "float64",
    }


def test_gru_bias_split_puts_bhn_in_bias_hh(capsys, tmp_path: Path) -> None:
    _, ckpt = trained(tmp_path, cell="gru", embedding=8)
    _, tensors = exported(capsys, ckpt, tmp_path / "m.safetensors")
    p = checkpoint.load_model(checkpoint.load(ckpt))[1]
    h = len(p["l0.bhn"])
    assert np.array_equal(tensors["rnn.weight_hh_l0"], p["l0.Wh"].T)  # r, z, n in both
    assert np.array_equal(tensors["rnn.bias_ih_l0"], p["l0.b"])
    assert np.array_equal(tensors["rnn.bias_hh_l0"][2 * h :], p["l0.bhn"])
    assert not tensors["rnn.bias_hh_l0"][: 2 * h].any()


def test_one_hot_model_exports_wxh_itself_and_no_embedding(capsys, tmp_path: Path) -> None:
    trainer, ckpt = trained(tmp_path, cell="rnn")
    meta, tensors = exported(capsys, ckpt, tmp_path / "m.safetensors")
    assert "embedding.weight" not in tensors and meta["torch"]["embedding"] == 0
    assert np.array_equal(tensors["rnn.weight_ih_l0"], trainer.params["l0.Wxh"])  # (H, V)
    assert meta["torch"]["rnn"]["input_size"] == len(trainer.vocab)
    assert meta["torch"]["rnn"]["dropout"] == 0.0


def test_safetensors_round_trip_is_bit_exact_with_vocab_and_config(capsys, tmp_path) -> None:
    trainer, ckpt = trained(tmp_path, cell="gru", layers=2, embedding=8, average=0.9)
    meta, tensors = exported(capsys, ckpt, tmp_path / "m.safetensors")
    want = exporting.export(checkpoint.load(ckpt)).tensors
    assert tensors.keys() == want.keys()
    for name, tensor in tensors.items():
        assert tensor.dtype == want[name].dtype == np.float64
        assert np.array_equal(tensor, want[name]), name
    assert meta["vocab"] == trainer.vocab.chars
    assert meta["config"] == trainer.config.to_dict()
    assert (meta["format"], meta["iteration"], meta["weights"]) == (
        "charrnn-export",
        40,
        "averaged",
    )


def test_averaged_presets_export_the_averaged_weights(capsys, tmp_path: Path) -> None:
    trainer, ckpt = trained(tmp_path, cell="gru", embedding=8, average=0.9)
    _, tensors = exported(capsys, ckpt, tmp_path / "m.safetensors")
    assert np.array_equal(tensors["output.weight"], trainer.weights["Why"])
    assert not np.allclose(tensors["output.weight"], trainer.params["Why"])


def test_float32_models_export_float32(capsys, tmp_path: Path) -> None:
    _, ckpt = trained(tmp_path, cell="lstm", dtype="float32")
    meta, tensors = exported(capsys, ckpt, tmp_path / "m.safetensors")
    assert {t.dtype for t in tensors.values()} == {np.dtype(np.float32)}
    assert meta["torch"]["dtype"] == "float32"


def test_the_format_follows_the_suffix_without_to(capsys, tmp_path: Path) -> None:
    _, ckpt = trained(tmp_path)
    status, said, _ = run(capsys, "export", str(ckpt), str(tmp_path / "m.safetensors"))
    assert status == 0 and ": safetensors, nn.RNN 1x16, one-hot input" in said
    err = refused(capsys, "export", str(ckpt), str(tmp_path / "m.bin"))
    assert "give --to safetensors or --to torch" in err
    assert not (tmp_path / "m.bin").exists()


def test_the_to_choices_are_the_formats_export_writes() -> None:
    assert set(OPTIONS["to"].choices) == set(exporting.NEEDS)


# -- what cannot be exported -----------------------------------------------------------------


class UserGRU(GRUCell):
    """A user's own cell (here: a GRU subclass, which could compute anything)."""

    name = "mygru"


def test_a_custom_cell_is_refused_naming_it(capsys, tmp_path, monkeypatch) -> None:
    _, ckpt = trained(tmp_path, cell="gru")
    monkeypatch.setitem(sys.modules["engine.model"].CELL_TYPES, "gru", UserGRU)
    err = refused(capsys, "export", str(ckpt), "--to", "safetensors", str(tmp_path / "m.st"))
    assert "cell 'mygru' (UserGRU) is not charrnn's rnn, lstm or gru" in err
    assert "PyTorch has no module" in err
    assert not (tmp_path / "m.st").exists()


def test_a_weight_pytorch_has_no_place_for_is_refused_naming_it() -> None:
    cell = LSTMCell(5, 4, one_hot=False)
    p = cell.init_params(np.random.RandomState(0), 0.1, np.dtype(np.float64))
    with pytest.raises(CharrnnError, match=r"layer 1 \(lstm\) has peephole, which nn.LSTM"):
        exporting.layer_tensors(cell, p | {"peephole": np.zeros(12)}, 1)
    del p["b"]
    with pytest.raises(CharrnnError, match=r"layer 0 \(lstm\) lacks b, which nn.LSTM"):
        exporting.layer_tensors(cell, p, 0)


def test_an_output_side_weight_pytorch_has_no_place_for_is_refused(tmp_path: Path) -> None:
    trainer, _ = trained(tmp_path)
    params = dict(trainer.weights) | {"gain": np.ones(3)}
    with pytest.raises(CharrnnError, match="the model has gain, which no PyTorch module holds"):
        exporting.torch_tensors(trainer.model, params)


@pytest.mark.parametrize("bad", ["missing", "text", "truncated", "directory"])
def test_a_bad_checkpoint_is_refused_as_sample_refuses_it(capsys, tmp_path, bad: str) -> None:
    _, good = trained(tmp_path)
    path = tmp_path / "bad.npz"
    if bad == "text":
        path.write_text("not a model\n")
    elif bad == "truncated":
        path.write_bytes(good.read_bytes()[:2000])
    elif bad == "directory":
        path.mkdir()
    out = tmp_path / "m.safetensors"
    err = refused(capsys, "export", str(path), "--to", "safetensors", str(out))
    assert err == refused(capsys, "sample", str(path))
    assert err.startswith(f"charrnn: error: {path}: ")
    assert not out.exists()


def test_without_safetensors_one_line_names_the_install(capsys, tmp_path, monkeypatch) -> None:
    _, ckpt = trained(tmp_path)
    for name in [m for m in sys.modules if m.split(".")[0] == "safetensors"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "safetensors", None)  # import now fails
    err = refused(capsys, "export", str(ckpt), str(tmp_path / "m.safetensors"))
    assert "--to safetensors needs the safetensors package (pip install safetensors" in err
    assert os.listdir(tmp_path) == ["m.npz"]


def test_without_torch_one_line_names_the_install(capsys, tmp_path, monkeypatch) -> None:
    _, ckpt = trained(tmp_path)
    monkeypatch.setitem(sys.modules, "torch", None)
    err = refused(capsys, "export", str(ckpt), "--to", "torch", str(tmp_path / "m.pt"))
    assert "--to torch needs the torch package (pip install torch)" in err
    assert os.listdir(tmp_path) == ["m.npz"]


# -- where it writes ------------------------------------------------------------------------


def test_refuses_to_replace_the_checkpoint_even_with_force(capsys, tmp_path: Path) -> None:
    _, ckpt = trained(tmp_path)
    before = ckpt.read_bytes()
    link = tmp_path / "link.safetensors"
    link.symlink_to(ckpt.name)
    for target in (ckpt, link):
        err = refused(capsys, "export", str(ckpt), "--to", "safetensors", str(target), "--force")
        assert "is the checkpoint being exported; writing there would replace it" in err
    assert ckpt.read_bytes() == before


def test_a_file_that_is_not_an_export_needs_force(capsys, tmp_path: Path) -> None:
    _, ckpt = trained(tmp_path)
    notes = tmp_path / "notes.safetensors"
    notes.write_text("my notes\n")
    err = refused(capsys, "export", str(ckpt), str(notes))
    assert "exists and is not a charrnn safetensors export; --force replaces it anyway" in err
    assert notes.read_text() == "my notes\n"
    assert run(capsys, "export", str(ckpt), str(notes), "--force")[0] == 0
    assert "rnn.weight_ih_l0" in load_file(notes)


def test_a_previous_export_is_replaced_without_force(capsys, tmp_path: Path) -> None:
    _, ckpt = trained(tmp_path)
    out = tmp_path / "m.safetensors"
    exported(capsys, ckpt, out)
    _, ckpt = trained(tmp_path, iterations=60)  # the same path, trained further
    meta, _ = exported(capsys, ckpt, out)
    assert meta["iteration"] == 60
    assert sorted(os.listdir(tmp_path)) == ["m.npz", "m.safetensors"]  # no temporaries


@pytest.mark.parametrize(
    ("kind", "fragment"),
    [
        ("directory", "is a directory; give a file name such as"),
        ("fifo", "is a named pipe (FIFO); an export is written only as a regular file"),
        ("no parent", "does not exist"),
    ],
)
def test_targets_that_are_not_files_are_refused(capsys, tmp_path, kind, fragment) -> None:
    _, ckpt = trained(tmp_path)
    target = tmp_path / "out.safetensors"
    if kind == "directory":
        target.mkdir()
    elif kind == "fifo":
        os.mkfifo(target)
    else:
        target = tmp_path / "missing" / "out.safetensors"
    err = refused(capsys, "export", str(ckpt), str(target))
    assert fragment in err and str(target) in err


def test_a_failed_write_keeps_the_previous_export(capsys, tmp_path, monkeypatch) -> None:
    _, ckpt = trained(tmp_path)
    out = tmp_path / "m.safetensors"
    exported(capsys, ckpt, out)
    before = out.read_bytes()

    def fail(exported, f) -> None:
        f.write(b"half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(exporting, "_write_safetensors", fail)
    err = refused(capsys, "export", str(ckpt), str(out))
    assert f"{out}: not written: No space left on device; the previous file is kept" in err
    assert out.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["m.npz", "m.safetensors"]
