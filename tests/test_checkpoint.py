"""Checkpoints: round trips, bit-exact resume, atomic writes, and every file refused."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from engine import checkpoint
from engine.config import Config
from engine.errors import CharrnnError
from engine.sampling import SampleSettings
from engine.trainer import Trainer


def test_round_trip_keeps_every_piece_of_state(tiny_trainer: Trainer, tmp_path: Path) -> None:
    tiny_trainer.train(37)
    path = checkpoint.save(tiny_trainer, tmp_path / "m.npz")
    back = checkpoint.restore(checkpoint.load(path), "".join(tiny_trainer.vocab.chars), "x")

    for name, value in tiny_trainer.params.items():
        np.testing.assert_array_equal(back.params[name], value, err_msg=name)
    for name, value in tiny_trainer.optimizer.state.items():
        np.testing.assert_array_equal(back.optimizer.state[name], value, err_msg=name)
    assert back.iteration == 37
    assert back.smooth_loss == tiny_trainer.smooth_loss
    assert list(back.loss_history) == list(tiny_trainer.loss_history)
    assert back.config == tiny_trainer.config
    assert back.vocab == tiny_trainer.vocab


def test_resume_is_bit_exact(tiny_config: Config, blog_text: str, tmp_path: Path) -> None:
    straight = Trainer(tiny_config, blog_text, seed=11)
    straight.train(50)
    straight_sample = straight.sample(SampleSettings(length=30))
    straight.train(40)

    first = Trainer(tiny_config, blog_text, seed=11)
    first.train(50)
    path = checkpoint.save(first, tmp_path / "half.npz")
    resumed = checkpoint.restore(checkpoint.load(path), blog_text, "blog_sample")
    resumed_sample = resumed.sample(SampleSettings(length=30))
    resumed.train(40)

    assert resumed_sample == straight_sample  # the sampling RNG resumes too
    assert resumed.iteration == straight.iteration == 90
    for name, value in straight.params.items():
        assert np.array_equal(resumed.params[name], value), name
    assert resumed.smooth_loss == straight.smooth_loss
    assert np.array_equal(resumed.state[0][0], straight.state[0][0])


def test_save_is_atomic_and_leaves_no_temporary_files(
    tiny_trainer: Trainer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "m.npz"
    checkpoint.save(tiny_trainer, target)
    before = target.read_bytes()
    tiny_trainer.train(5)

    class Boom(Exception):
        pass

    def explode(*args, **kwargs):
        raise Boom

    monkeypatch.setattr(checkpoint.np, "savez", explode)  # fail half-way through a save
    with pytest.raises(Boom):
        checkpoint.save(tiny_trainer, target)
    assert target.read_bytes() == before  # the old checkpoint survives a failed save
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


def test_checkpoint_is_plain_arrays_and_json(tiny_trainer: Trainer, tmp_path: Path) -> None:
    path = checkpoint.save(tiny_trainer, tmp_path / "m.npz")
    with np.load(path, allow_pickle=False) as npz:
        assert all(npz[k].dtype != object for k in npz.files)
        meta = json.loads(npz["meta"].tobytes())
    assert meta["format"] == "charrnn-checkpoint"
    assert meta["format_version"] == checkpoint.FORMAT_VERSION
    assert meta["vocab"] == tiny_trainer.vocab.chars
    assert meta["config"]["hidden"] == 16


# -- files that must be refused, each with its reason --------------------------------------


def rewrite(path: Path, drop: str | None = None, meta_change: dict | None = None) -> None:
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files if k != drop}
    if meta_change is not None:
        meta = json.loads(arrays["meta"].tobytes())
        for key, value in meta_change.items():
            if value is None:
                meta.pop(key)
            else:
                meta[key] = value
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, **arrays)


@pytest.fixture
def saved(tiny_trainer: Trainer, tmp_path: Path) -> Path:
    return checkpoint.save(tiny_trainer, tmp_path / "m.npz")


def test_refuses_a_file_that_is_not_an_npz(tmp_path: Path) -> None:
    bad = tmp_path / "notes.npz"
    bad.write_text("just some text\n")
    with pytest.raises(CharrnnError, match=r"not an \.npz file"):
        checkpoint.load(bad)


def test_refuses_a_truncated_checkpoint(saved: Path) -> None:
    data = saved.read_bytes()
    saved.write_bytes(data[: len(data) // 2])
    with pytest.raises(CharrnnError, match="truncated or corrupt"):
        checkpoint.load(saved)


def test_refuses_a_checkpoint_lacking_fields(saved: Path) -> None:
    rewrite(saved, meta_change={"vocab": None})
    with pytest.raises(CharrnnError, match="missing vocab"):
        checkpoint.load(saved)


def test_refuses_a_checkpoint_lacking_arrays(saved: Path, blog_text: str) -> None:
    rewrite(saved, drop="param/Why")
    with pytest.raises(CharrnnError, match="params lack Why"):
        checkpoint.restore(checkpoint.load(saved), blog_text, "blog_sample")


def test_refuses_a_newer_format_version(saved: Path) -> None:
    rewrite(saved, meta_change={"format_version": checkpoint.FORMAT_VERSION + 1})
    with pytest.raises(CharrnnError, match="newer charrnn"):
        checkpoint.load(saved)


def test_refuses_pickled_objects_without_unpickling(saved: Path, tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"

    class Evil:
        def __reduce__(self):
            return (marker.touch, ())

    with np.load(saved, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["param/Why"] = np.array([Evil()], dtype=object)
    np.savez(saved, **arrays)
    with pytest.raises(CharrnnError, match="pickled objects"):
        checkpoint.load(saved)
    assert not marker.exists()


def test_refuses_a_zip_that_is_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "other.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("hello.txt", "hi")
    with pytest.raises(CharrnnError, match="not a charrnn checkpoint"):
        checkpoint.load(path)


def test_refuses_a_vocabulary_that_does_not_cover_the_corpus(saved: Path) -> None:
    with pytest.raises(CharrnnError, match="does not cover corpus"):
        checkpoint.restore(checkpoint.load(saved), "ZZZ new characters QQQ" * 3, "other")


def test_resuming_on_another_corpus_restarts_its_cursor(
    tiny_trainer: Trainer, blog_text: str, tmp_path: Path
) -> None:
    tiny_trainer.train(3)
    path = checkpoint.save(tiny_trainer, tmp_path / "m.npz")
    other = blog_text[::-1]  # same characters, different text
    back = checkpoint.restore(checkpoint.load(path), other, "reversed")
    assert back.stream.position == 0 and back.stream.fresh
    assert back.iteration == 3


# -- the resume rule: what a resumed run may change ---------------------------------------


def test_resuming_with_a_different_model_or_data_layout_is_refused(
    saved: Path, blog_text: str
) -> None:
    ckpt = checkpoint.load(saved)
    with pytest.raises(CharrnnError) as refused:
        checkpoint.restore(ckpt, blog_text, "blog_sample", {"hidden": 32, "lr": 0.5, "batch": 2})
    assert str(refused.value) == (
        f"{saved} keeps the model and data layout it was saved with; conflicting flags: "
        "--hidden 32 (checkpoint: 16), --batch 2 (checkpoint: 1) "
        "(drop them, or train a fresh model)"
    )


def test_resuming_may_change_the_schedule_and_repeat_the_saved_layout(
    saved: Path, blog_text: str, tiny_config: Config
) -> None:
    changes = {"lr": 0.05, "clip": 1.0, "lr_decay": 0.5, "lr_decay_every": 7, "eval_every": 3}
    trainer = checkpoint.restore(
        checkpoint.load(saved), blog_text, "blog_sample", {**changes, "hidden": 16}
    )
    assert trainer.config == tiny_config.replace(**changes)
    assert trainer.step().lr == 0.05  # the trainer was built with the final config


def test_every_resumable_field_is_a_config_field() -> None:
    assert set(Config().to_dict()) >= Config.RESUMABLE
    with pytest.raises(CharrnnError, match="unknown configuration fields: colour"):
        Config().resumed({"colour": "red"}, "m.npz")


# -- non-finite weights are never written and never loaded ---------------------------------


def test_save_refuses_non_finite_parameters_and_keeps_the_previous_file(
    tiny_trainer: Trainer, tmp_path: Path
) -> None:
    target = checkpoint.save(tiny_trainer, tmp_path / "m.npz")
    before = target.read_bytes()
    tiny_trainer.params["by"][2] = np.inf  # as `--lr 1e308` leaves it
    with pytest.raises(CharrnnError) as refused:
        checkpoint.save(tiny_trainer, target)
    assert "parameter by is not finite" in str(refused.value)
    assert "the previous file is kept" in str(refused.value)
    assert target.read_bytes() == before
    with pytest.raises(CharrnnError, match=r"parameter by is not finite.*nothing was written"):
        checkpoint.save(tiny_trainer, tmp_path / "new.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


def test_save_refuses_a_diverged_loss(tiny_trainer: Trainer, tmp_path: Path) -> None:
    tiny_trainer.smoother.raw = float("nan")
    with pytest.raises(CharrnnError, match="smoothed loss is not finite"):
        checkpoint.save(tiny_trainer, tmp_path / "m.npz")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_load_refuses_non_finite_parameters(saved: Path, bad: float) -> None:
    with np.load(saved, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["param/l0.Whh"][1, 1] = bad
    np.savez(saved, **arrays)
    with pytest.raises(CharrnnError, match=r"parameter l0\.Whh is not finite") as refused:
        checkpoint.load(saved)
    assert "\n" not in str(refused.value)


def test_save_removes_stale_temporaries_of_its_target_only(
    tiny_trainer: Trainer, tmp_path: Path
) -> None:
    hour_ago = checkpoint.PROCESS_START - 3600
    names = {
        ".m.npz.k3_x9q2a.tmp": hour_ago,  # a killed save to m.npz: removed
        ".m.npz.ab12cd34.probe": hour_ago,  # a killed writability probe: removed
        ".m.npz.zz99yy88.tmp": None,  # written since this process started: kept
        ".other.npz.k3_x9q2a.tmp": hour_ago,  # another target's: kept
        ".m.npz.short.tmp": hour_ago,  # not charrnn's pattern: kept
        "m.npz.k3_x9q2a.tmp": hour_ago,  # no leading dot: kept
        "notes.txt": hour_ago,
    }
    for name, mtime in names.items():
        (tmp_path / name).write_bytes(b"partial")
        if mtime is not None:
            os.utime(tmp_path / name, (mtime, mtime))
    (tmp_path / ".m.npz.dir00000.tmp").mkdir()  # not a regular file: kept
    os.utime(tmp_path / ".m.npz.dir00000.tmp", (hour_ago, hour_ago))

    checkpoint.save(tiny_trainer, tmp_path / "m.npz")
    left = sorted(p.name for p in tmp_path.iterdir())
    kept = {n for n in names if n not in (".m.npz.k3_x9q2a.tmp", ".m.npz.ab12cd34.probe")}
    assert left == sorted(kept | {"m.npz", ".m.npz.dir00000.tmp"})


# -- the loss history stays bounded, in memory and in the file -----------------------------


def test_the_loss_history_is_bounded_in_memory_and_in_the_file(
    tiny_trainer: Trainer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine import history

    monkeypatch.setattr(history, "HISTORY_POINTS", 8)
    tiny_trainer.history = history.LossHistory()
    losses = [r.nats_per_char for r in tiny_trainer.train(30)]
    assert len(tiny_trainer.loss_history) == 8  # blocks of 4: ceil(30 / 4)
    np.testing.assert_allclose(tiny_trainer.loss_history[0], np.mean(losses[:4]), rtol=1e-6)
    np.testing.assert_allclose(tiny_trainer.loss_history[-1], np.mean(losses[28:]), rtol=1e-6)
    path = checkpoint.save(tiny_trainer, tmp_path / "m.npz")
    with np.load(path) as npz:
        assert npz["history/loss"].shape == (8,)
    back = checkpoint.restore(checkpoint.load(path), tiny_trainer.vocab.chars, "x")
    np.testing.assert_array_equal(back.loss_history, tiny_trainer.loss_history)


def test_an_old_checkpoints_full_history_is_merged_into_the_bound(
    tiny_trainer: Trainer, blog_text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine import history

    losses = [r.nats_per_char for r in tiny_trainer.train(30)]
    path = checkpoint.save(tiny_trainer, tmp_path / "old.npz")  # one point per iteration
    with np.load(path) as npz:
        assert len(npz["history/loss"]) == 30
    monkeypatch.setattr(history, "HISTORY_POINTS", 8)
    back = checkpoint.restore(checkpoint.load(path), blog_text, "blog_sample")
    expected = [np.mean(losses[i : i + 4]) for i in range(0, 30, 4)]
    np.testing.assert_allclose(back.loss_history, expected, rtol=1e-6)
