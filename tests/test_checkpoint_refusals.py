"""Crafted checkpoints: every metadata field and every array is checked before it is used,
and sizes before anything is allocated; each refusal is one line naming the file and reason."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_cli import assert_clean_error, run

from engine import checkpoint
from engine.errors import CharrnnError
from engine.trainer import Trainer


@pytest.fixture
def saved(tiny_trainer: Trainer, tmp_path: Path) -> Path:
    tiny_trainer.train(12)
    return checkpoint.save(tiny_trainer, tmp_path / "m.npz")


def entries(path: Path) -> dict[str, Any]:
    with np.load(path, allow_pickle=False) as npz:
        found: dict[str, Any] = {k: npz[k] for k in npz.files}
    found["meta"] = json.loads(found["meta"].tobytes())
    return found


def write(path: Path, found: dict[str, Any]) -> None:
    arrays = {k: v for k, v in found.items() if k != "meta"}
    meta = json.dumps(found["meta"]).encode()
    np.savez(path, meta=np.frombuffer(meta, np.uint8), **arrays)


def refusal(path: Path) -> str:
    with pytest.raises(CharrnnError) as refused:
        checkpoint.load(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    return message


def set_meta(meta: dict, dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        meta = meta[key]
    meta[last] = value


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("iteration", "abc", "iteration must be a whole number from 0"),
        ("iteration", -100, "iteration must be a whole number from 0"),
        ("iteration", 2.5, "iteration must be a whole number from 0"),
        ("seed", -1, "seed must be a whole number from 0 to 4294967295"),
        ("seed", 2**40, "seed must be a whole number from 0 to 4294967295"),
        ("smooth_loss", None, "smooth_loss must be a finite number"),
        ("smooth_loss", "1.0", "smooth_loss must be a finite number"),
        ("elapsed", float("nan"), "elapsed must be a finite number"),
        ("stream.position", -1000, "position must be a whole number from 0"),
        ("stream.fresh", "yes", "stream fresh must be true or false"),
        ("stream", [1, 2], "stream must be a JSON object"),
        ("corpus", None, "corpus must be a JSON object"),
        ("corpus.length", -5, "length must be a whole number from 0"),
        ("rng.state.state", "x", "state must be a whole number"),
        ("rng.state.inc", 2**200, "inc must be a whole number"),
        ("rng.bit_generator", "MT19937", "rng must be a PCG64 generator's state"),
        ("format_version", True, "format_version must be a whole number from 1"),
        ("format_version", 0, "format_version must be a whole number from 1"),
        ("vocab", 5, "bad vocabulary"),
        ("vocab", "", "bad vocabulary"),
        ("vocab", "aab", "repeated characters"),
        ("vocab", "ab\ud800", "lone surrogates"),
        ("config", [1], "config must be a JSON object"),
        ("config.hidden", 1.5, "hidden must be a whole number"),
        ("config.batch", 2.5, "batch must be a whole number"),
        ("config.lr", "fast", "lr must be a finite number"),
        ("config.cell", 7, "cell must be a string"),
        ("config.dropout", True, "dropout must be a finite number"),
        ("config.hidden", 30000, "hidden must be at most 4096"),
        ("config.layers", 10**6, "layers must be at most 32"),
    ],
)
def test_a_bad_metadata_field_is_refused_with_its_name(
    saved: Path, field: str, value: Any, reason: str
) -> None:
    found = entries(saved)
    set_meta(found["meta"], field, value)
    write(saved, found)
    assert reason in refusal(saved)


def test_retired_sampling_fields_in_an_old_config_are_ignored(saved: Path) -> None:
    """Checkpoints before sampling became a run's policy carry sample_every/sample_length;
    a huge one must neither be refused nor reach a sampler."""
    found = entries(saved)
    set_meta(found["meta"], "config.sample_length", 10**12)
    write(saved, found)
    assert not hasattr(checkpoint.load(saved).config, "sample_length")


def test_deeply_nested_metadata_is_refused(saved: Path) -> None:
    found = entries(saved)
    meta = np.frombuffer(b"[" * 100_000 + b"]" * 100_000, np.uint8)
    np.savez(saved, meta=meta, **{k: v for k, v in found.items() if k != "meta"})
    assert "metadata is not JSON" in refusal(saved)


@pytest.mark.parametrize(
    ("name", "make", "reason"),
    [
        ("param/Why", lambda a: a.astype(np.complex128), "param/Why holds complex128 values"),
        ("param/Why", lambda a: a.astype(np.float32), "holds float32 values, not float64"),
        ("param/by", lambda a: a.astype(np.int64), "holds int64 values, not float64"),
        ("param/by", lambda a: np.zeros(3, [("x", "<f8")]), "param/by holds"),
        ("param/by", lambda a: a[:3], r"param/by has shape (3,), the model needs"),
        ("param/Why", lambda a: a.T, "param/Why has shape"),
        ("state/0/0", lambda a: np.zeros((2, 16)), "state/0/0 has shape (2, 16)"),
        ("param/l5.Wxh", lambda a: np.zeros(3), "not an entry this model's checkpoint has"),
        ("state/0/7", lambda a: np.zeros((1, 16)), "not an entry this model's checkpoint has"),
        ("junk", lambda a: np.zeros(3), "not an entry this model's checkpoint has"),
        ("history/loss", lambda a: np.array(["abc"] * 3), "history/loss holds <U3 values"),
        ("history/loss", lambda a: np.zeros(13, np.float32), "history/loss has shape (13,)"),
        ("history/val", lambda a: np.zeros((2, 3)), "history/val has shape (2, 3)"),
        ("optim/mem.Why", lambda a: a.astype(np.float16), "holds float16 values"),
    ],
)
def test_a_bad_array_is_refused_with_its_name(saved: Path, name: str, make, reason: str) -> None:
    found = entries(saved)
    found[name] = make(found.get(name, np.zeros(2)))
    write(saved, found)
    assert reason in refusal(saved)


def stored_zip(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            z.writestr(name + ".npy", data)


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_a_header_claiming_a_huge_array_is_refused_unallocated(saved: Path) -> None:
    found = entries(saved)
    members = {k: npy(v) for k, v in found.items() if k != "meta"}
    members["meta"] = npy(np.frombuffer(json.dumps(found["meta"]).encode(), np.uint8))
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (10**5, 10**6)}
    )  # 10^11 elements: 800 GB
    members["param/l0.Whh"] = header.getvalue() + b"\0" * 64
    stored_zip(saved, members)
    assert "param/l0.Whh has shape (100000, 1000000)" in refusal(saved)


def test_a_small_file_unpacking_to_a_large_array_is_refused_unread(saved: Path) -> None:
    found = entries(saved)
    found["history/val"] = np.zeros((2**21, 2))  # 32 MB of zeros, deflated to about 32 KB
    arrays = {k: v for k, v in found.items() if k != "meta"}
    meta = np.frombuffer(json.dumps(found["meta"]).encode(), np.uint8)
    np.savez_compressed(saved, meta=meta, **arrays)
    assert saved.stat().st_size < 200_000
    assert "history/val has shape (2097152, 2), expected (n, 2) with n at most 12" in refusal(saved)


def test_a_declared_size_the_stored_bytes_cannot_hold_is_refused(saved: Path) -> None:
    data = bytearray(saved.read_bytes())
    with zipfile.ZipFile(saved) as z:
        info = z.getinfo("param/by.npy")
    # The central directory's uncompressed size of that entry, claiming 3 GB.
    at = data.rfind(b"param/by.npy") - 46 + 24
    assert int.from_bytes(data[at : at + 4], "little") == info.file_size
    data[at : at + 4] = (3 * 10**9).to_bytes(4, "little")
    saved.write_bytes(bytes(data))
    assert "declares 3,000,000,000 bytes" in refusal(saved)


# -- non-finite values anywhere ----------------------------------------------------------------

NON_FINITE = [
    ("param/by", "parameter by is not finite"),
    ("optim/mem.Why", "optimiser state mem.Why is not finite"),
    ("state/0/0", "the hidden state of layer 0 (state/0/0) is not finite"),
    ("history/loss", "the loss history is not finite"),
]


def spoil(path: Path, name: str, value: float) -> None:
    found = entries(path)
    array = found[name].copy()
    array.flat[len(array.flat) // 2] = value
    found[name] = array
    write(path, found)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize(("name", "reason"), NON_FINITE, ids=[n for n, _ in NON_FINITE])
def test_a_non_finite_value_in_any_array_is_refused_with_its_name(
    saved: Path, name: str, reason: str, value: float
) -> None:
    """The issue's case: NaN in the optimiser or hidden state was loaded, and the run
    diverged at its first step (sample printed newlines, inspect gave a traceback)."""
    spoil(saved, name, value)
    assert f"refused: {reason}" in refusal(saved)


def test_held_out_losses_may_be_non_finite_but_their_iterations_may_not(saved: Path) -> None:
    """A held-out loss is recorded as evaluated (best_val_loss skips a non-finite one), so a
    file charrnn wrote may hold one: it loads. A non-finite iteration number is damage."""
    found = entries(saved)
    found["history/val"] = np.array([[4.0, np.inf], [8.0, 2.5]])
    write(saved, found)
    assert checkpoint.load(saved).arrays["history/val"].shape == (2, 2)
    found["history/val"] = np.array([[np.nan, 2.0]])
    write(saved, found)
    assert "refused: the held-out loss history is not finite" in refusal(saved)


def test_a_non_finite_optimiser_state_is_never_saved(tiny_trainer: Trainer, tmp_path: Path) -> None:
    """Save refuses what load would refuse, so a good file is never replaced by one."""
    tiny_trainer.train(3)
    good = checkpoint.save(tiny_trainer, tmp_path / "m.npz")
    before = good.read_bytes()
    next(iter(tiny_trainer.optimizer.state_dict().values())).flat[0] = np.nan
    with pytest.raises(
        CharrnnError, match=r"optimiser state .* is not finite.*previous file is kept"
    ):
        checkpoint.save(tiny_trainer, good)
    assert good.read_bytes() == before


@pytest.mark.parametrize(("name", "reason"), NON_FINITE[1:3], ids=["optimiser", "hidden"])
@pytest.mark.parametrize(
    "command",
    [
        ["sample", "{ckpt}", "--length", "20"],
        ["inspect", "{ckpt}", "--text", "the bye", "--unit", "0:1"],
        ["train", "blog_sample", "--headless", "--iters", "3", "--resume", "{ckpt}"],
    ],
    ids=["sample", "inspect", "resume"],
)
def test_every_command_refuses_a_checkpoint_with_nan_state(
    capsys, saved: Path, name: str, reason: str, command: list[str]
) -> None:
    spoil(saved, name, np.nan)
    status, out, err = run(capsys, *[arg.replace("{ckpt}", str(saved)) for arg in command])
    assert_clean_error(status, out, err, f"{saved}: refused: {reason}")
    assert out == ""
