"""Checkpoints: one .npz of plain arrays plus a JSON metadata entry. Never pickled.

Layout (format version 1):
  meta               uint8 bytes of a UTF-8 JSON object (see `_metadata`)
  param/<name>       model parameters, e.g. param/l0.Wxh, param/Why
  optim/<name>       optimiser state, e.g. optim/mem.l0.Wxh
  state/<layer>/<i>  recurrent state arrays (B, H) per layer
  history/loss       float32 nats per character of every iteration trained
  history/val        float64 (n, 2): iteration, held-out nats/char after it (optional)
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.cells.base import Params, State
from engine.config import Config
from engine.errors import CharrnnError
from engine.model import CharModel
from engine.trainer import Trainer
from engine.vocab import Vocab

FORMAT = "charrnn-checkpoint"
FORMAT_VERSION = 1
ZIP_MAGIC = b"PK\x03\x04"
REQUIRED_META = (
    "format",
    "format_version",
    "config",
    "vocab",
    "seed",
    "iteration",
    "smooth_loss",
    "elapsed",
    "stream",
    "rng",
    "corpus",
)


@dataclass
class Checkpoint:
    path: Path
    meta: dict[str, Any]
    arrays: dict[str, np.ndarray]

    @property
    def config(self) -> Config:
        return Config.from_dict(self.meta["config"])

    @property
    def vocab(self) -> Vocab:
        return Vocab(self.meta["vocab"])

    @property
    def iteration(self) -> int:
        return int(self.meta["iteration"])

    def group(self, prefix: str) -> dict[str, np.ndarray]:
        return {k[len(prefix) :]: v for k, v in self.arrays.items() if k.startswith(prefix)}


def _metadata(trainer: Trainer) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": trainer.config.to_dict(),
        "vocab": trainer.vocab.chars,
        "seed": trainer.seed,
        "iteration": trainer.iteration,
        "smooth_loss": trainer.smooth_loss,
        "elapsed": trainer.elapsed,
        "stream": {"position": trainer.stream.position, "fresh": trainer.stream.fresh},
        "rng": trainer.rng.bit_generator.state,
        "corpus": {
            "name": trainer.corpus.name,
            "fingerprint": trainer.corpus.fingerprint,
            "length": trainer.corpus.length,
        },
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def arrays_of(trainer: Trainer) -> dict[str, np.ndarray]:
    arrays = {f"param/{k}": v for k, v in trainer.params.items()}
    arrays |= {f"optim/{k}": v for k, v in trainer.optimizer.state.items()}
    for i, layer_state in enumerate(trainer.state):
        arrays |= {f"state/{i}/{j}": a for j, a in enumerate(layer_state)}
    arrays["history/loss"] = np.frombuffer(trainer.loss_history, dtype=np.float32)
    arrays["history/val"] = np.array(trainer.val_history, dtype=np.float64).reshape(-1, 2)
    return arrays


def save(trainer: Trainer, path: str | os.PathLike) -> Path:
    """Write atomically: a temporary file in the same directory, fsynced, then renamed."""
    path = Path(path)
    meta = np.frombuffer(json.dumps(_metadata(trainer)).encode("utf-8"), dtype=np.uint8)
    check_writable(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, meta=meta, **arrays_of(trainer))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def check_writable(path: Path) -> None:
    """Fail now, with the reason, if a checkpoint could not be written to `path`."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise CharrnnError(f"{path}: is a directory; give a file name such as {path}/model.npz")
    if not parent.is_dir():
        raise CharrnnError(f"{path}: directory {parent} does not exist")
    if path.exists() and not os.access(path, os.W_OK):
        raise CharrnnError(f"{path}: file exists and is not writable")
    # Permission bits don't bind root and say nothing of read-only mounts: really try.
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=parent)
    except OSError as exc:
        raise CharrnnError(f"{path}: directory {parent} is not writable ({exc.strerror})") from None
    os.close(fd)
    os.unlink(probe)


def load(path: str | os.PathLike) -> Checkpoint:
    """Read and validate a checkpoint; every failure is a CharrnnError naming the reason."""
    path = Path(path)
    if not path.exists():
        raise CharrnnError(f"{path}: no such file")
    if path.is_dir():
        raise CharrnnError(f"{path}: is a directory, not a checkpoint")
    with path.open("rb") as f:
        if f.read(4) != ZIP_MAGIC:
            raise CharrnnError(f"{path}: not a charrnn checkpoint (not an .npz file)")
    arrays: dict[str, np.ndarray] = {}
    try:
        with np.load(path, allow_pickle=False) as npz:
            for key in npz.files:
                arrays[key] = npz[key]
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise CharrnnError(
                f"{path}: contains pickled objects; refused (charrnn never unpickles)"
            ) from None
        raise CharrnnError(f"{path}: unreadable checkpoint ({exc})") from None
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise CharrnnError(f"{path}: truncated or corrupt checkpoint ({exc})") from None
    if "meta" not in arrays:
        raise CharrnnError(f"{path}: not a charrnn checkpoint (no metadata entry)")
    try:
        meta = json.loads(arrays.pop("meta").tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CharrnnError(f"{path}: corrupt checkpoint (metadata is not JSON)") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CharrnnError(f"{path}: not a charrnn checkpoint (format is not {FORMAT!r})")
    version = meta.get("format_version")
    if not isinstance(version, int):
        raise CharrnnError(f"{path}: corrupt checkpoint (format_version missing)")
    if version > FORMAT_VERSION:
        raise CharrnnError(
            f"{path}: written by a newer charrnn (format version {version}; "
            f"this one reads up to {FORMAT_VERSION}); upgrade charrnn to load it"
        )
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise CharrnnError(f"{path}: incomplete checkpoint (missing {', '.join(missing)})")
    ckpt = Checkpoint(path, meta, arrays)
    try:
        ckpt.config  # noqa: B018  (validates the stored configuration)
        ckpt.vocab  # noqa: B018
    except (CharrnnError, TypeError) as exc:
        raise CharrnnError(f"{path}: bad configuration in checkpoint ({exc})") from None
    return ckpt


def restore(ckpt: Checkpoint, text: str, corpus_name: str) -> Trainer:
    """A Trainer that continues exactly where the checkpoint stopped, on `text`."""
    vocab = ckpt.vocab
    missing = vocab.missing(text)
    if missing:
        raise CharrnnError(
            f"{ckpt.path}: the model's vocabulary does not cover corpus {corpus_name!r} "
            f"(it lacks {missing[:40]!r}{'...' if len(missing) > 40 else ''})"
        )
    meta = ckpt.meta
    trainer = Trainer(
        ckpt.config, text, seed=int(meta["seed"]), corpus_name=corpus_name, vocab=vocab
    )
    _copy_into(ckpt, "param/", trainer.params)
    _copy_into(ckpt, "optim/", trainer.optimizer.state)
    for i, layer_state in enumerate(trainer.state):
        _copy_into(ckpt, f"state/{i}/", {str(j): a for j, a in enumerate(layer_state)})
    trainer.iteration = ckpt.iteration
    trainer.smooth_loss = float(meta["smooth_loss"])
    trainer.elapsed = float(meta["elapsed"])
    try:
        trainer.rng.bit_generator.state = meta["rng"]
    except (TypeError, ValueError, KeyError):
        raise CharrnnError(f"{ckpt.path}: corrupt checkpoint (bad random state)") from None
    if meta["corpus"].get("fingerprint") == trainer.corpus.fingerprint:
        trainer.stream.position = int(meta["stream"]["position"])
        trainer.stream.fresh = bool(meta["stream"]["fresh"])
    history = ckpt.arrays.get("history/loss")
    if history is not None:
        trainer.loss_history.frombytes(history.astype(np.float32).tobytes())
    val = ckpt.arrays.get("history/val")
    if val is not None:
        if val.ndim != 2 or val.shape[1] != 2:
            raise CharrnnError(f"{ckpt.path}: history/val has shape {val.shape}, expected (n, 2)")
        trainer.val_history = [(int(n), float(v)) for n, v in val]
    return trainer


def load_model(ckpt: Checkpoint) -> tuple[CharModel, Params]:
    """The model and its parameters alone, for sampling without the corpus."""
    model = CharModel(ckpt.config, len(ckpt.vocab))
    params = model.init_params(0)
    _copy_into(ckpt, "param/", params)
    return model, params


def sampling_state(ckpt: Checkpoint, model: CharModel) -> list[State]:
    """Stream 0's hidden state as training left it: where samples start from."""
    state = model.zero_state(1)
    for i, layer_state in enumerate(state):
        stored = ckpt.group(f"state/{i}/")
        for j, dest in enumerate(layer_state):
            src = stored.get(str(j))
            if src is None or src.shape[1:] != dest.shape[1:]:
                raise CharrnnError(f"{ckpt.path}: incomplete checkpoint (state/{i}/{j} is wrong)")
            dest[...] = src[:1]
    return state


def _copy_into(ckpt: Checkpoint, prefix: str, target: dict[str, np.ndarray]) -> None:
    stored = ckpt.group(prefix)
    if set(stored) != set(target):
        lacking = sorted(set(target) - set(stored)) or sorted(set(stored) - set(target))
        raise CharrnnError(
            f"{ckpt.path}: incomplete or mismatched checkpoint ({prefix}{lacking[0]} is wrong)"
        )
    for name, dest in target.items():
        src = stored[name]
        if src.shape != dest.shape:
            raise CharrnnError(
                f"{ckpt.path}: {prefix}{name} has shape {src.shape}, the model needs {dest.shape}"
            )
        dest[...] = src
