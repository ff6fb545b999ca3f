"""Checkpoints: one .npz of plain arrays plus a JSON metadata entry. Never pickled.

This module knows only the file: it maps a trainer's state dictionary (`Trainer.state_dict`)
to and from the layout below, and refuses files it cannot trust.

Layout (format version 1):
  meta               uint8 bytes of a UTF-8 JSON object (see `layout`)
  param/<name>       model parameters, e.g. param/l0.Wxh, param/Why
  optim/<name>       optimiser state, e.g. optim/mem.l0.Wxh
  state/<layer>/<i>  recurrent state arrays (B, H) per layer
  history/loss       float32 (n,): the loss history, nats per character (engine/history.py).
                     Point k is the mean of iterations [k*b, (k+1)*b) (the last point: those
                     trained so far), b the power of two with n == ceil(iteration / b); b is
                     1 (one point per iteration) until n would pass 65,536, so n stays at
                     most 65,536. Files written before this bound hold one point per
                     iteration (b = 1, any n) and are merged into the bound on loading.
  history/val        float64 (n, 2): iteration, held-out nats/char after it (optional)
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.atomic import write_atomically
from engine.averaging import weights_in_use
from engine.cells.base import Params, State
from engine.cells.record import RECORD_KEY, record_for
from engine.checkpoint_rules import (
    FORMAT,
    FORMAT_VERSION,
    MAX_META_BYTES,
    OPTIONAL_META,
    STATE_META,
    ArrayRules,
    check_format,
    check_meta,
    not_finite,
)
from engine.config import Config
from engine.errors import CharrnnError
from engine.files import check_regular_file
from engine.history import LossHistory
from engine.model import CharModel
from engine.npzread import Header, NpzReader
from engine.statedict import load_arrays_into
from engine.trainer import Trainer
from engine.vocab import Vocab


def _process_start() -> float:
    """When this process started (Unix time): from /proc on Linux, else about now (the
    module is imported at start-up)."""
    try:
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        # btime is whole seconds: a second of margin keeps the estimate before the true start
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK") - 1.0
    except (OSError, StopIteration, IndexError, ValueError):
        return time.time()


PROCESS_START = _process_start()  # temporaries older than this belong to no save still running


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

    def state_dict(self) -> dict[str, Any]:
        """The file mapped back to a trainer's state dictionary (see `Trainer.state_dict`)."""
        meta, arrays = self.meta, self.arrays
        state = []
        for i in range(self.config.layers):
            layer = self.group(f"state/{i}/")
            if set(layer) != {str(j) for j in range(len(layer))}:
                raise CharrnnError(f"{self.path}: incomplete checkpoint (state/{i}/ is wrong)")
            state.append([layer[str(j)] for j in range(len(layer))])
        return {
            **{k: meta[k] for k in STATE_META},
            **{k: meta[k] for k in OPTIONAL_META if k in meta},
            "params": self.group("param/"),
            "optimizer": self.group("optim/"),
            "state": state,
            "loss_history": arrays.get("history/loss", np.zeros(0, np.float32)),
            "val_history": arrays.get("history/val", np.zeros((0, 2))),
        }


def layout(d: dict[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A trainer's state dictionary as the file holds it: (metadata, arrays by entry name).
    A cell of the user's own adds its record (engine/cells/record.py); a built-in cell's
    file is as it always was."""
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION}
    meta |= {k: d[k] for k in STATE_META}
    meta |= {k: d[k] for k in OPTIONAL_META if k in d}
    record = record_for(d["config"]["cell"])
    if record is not None:
        meta[RECORD_KEY] = record
    meta["saved_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    arrays = {f"param/{k}": v for k, v in d["params"].items()}
    arrays |= {f"optim/{k}": v for k, v in d["optimizer"].items()}
    for i, layer_state in enumerate(d["state"]):
        arrays |= {f"state/{i}/{j}": a for j, a in enumerate(layer_state)}
    arrays["history/loss"] = d["loss_history"]
    arrays["history/val"] = d["val_history"]
    return meta, arrays


def save(trainer: Trainer, path: str | os.PathLike) -> Path:
    """Write atomically: a temporary file in the same directory, fsynced, then renamed."""
    path = Path(path)
    d = trainer.state_dict()
    meta, arrays = layout(d)
    refusal = _not_finite(d, arrays)
    if refusal:
        kept = "the previous file is kept" if path.exists() else "nothing was written"
        raise CharrnnError(f"{path}: not saved: {refusal} (the model diverged); {kept}")
    meta_bytes = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    check_writable(path)
    remove_stale_temporaries(path)
    return write_atomically(path, lambda f: np.savez(f, meta=meta_bytes, **arrays))


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Delete what killed saves to `path` left behind: regular files named as this module's
    temporaries for it (`.NAME.XXXXXXXX.tmp` or `.probe`) and last written before this process
    started, so no save still in progress, here or in a later process, loses its file."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[a-z0-9_]{{8}}\.(tmp|probe)")
    parent = path.parent if str(path.parent) else Path(".")
    removed = []
    try:
        candidates = [p for p in parent.iterdir() if pattern.fullmatch(p.name)]
    except OSError:
        return removed
    for candidate in candidates:
        try:
            info = candidate.lstat()
            if stat.S_ISREG(info.st_mode) and info.st_mtime < PROCESS_START:
                candidate.unlink()
                removed.append(candidate)
        except OSError:
            continue  # gone already, or not ours to remove: the save goes on
    return removed


def _not_finite(d: dict[str, Any], arrays: dict[str, np.ndarray]) -> str | None:
    """Why a state dictionary must not be saved, if it must not: a NaN or infinite weight,
    optimiser or hidden state (or smoothed loss) would only be refused when loaded, and would
    replace a good file."""
    weights = {name: a for name, a in arrays.items() if name.startswith("param/")}
    if refusal := not_finite(weights):
        return refusal
    if not math.isfinite(d["smooth_loss"]):
        return f"the smoothed loss is not finite ({d['smooth_loss']})"
    return not_finite(arrays)


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
    """Read and check a checkpoint: every failure is a one-line CharrnnError naming the
    reason. The metadata is checked first, then every array's header against it, and only
    then is anything allocated and read (see engine.checkpoint_rules)."""
    path = Path(path)
    check_regular_file(path, "a checkpoint")
    try:
        with NpzReader(path) as npz:
            meta = _read_meta(npz)
            config, vocab = _checked(npz, check_meta, meta)
            rules = ArrayRules(config, len(vocab), meta["iteration"])
            headers = {name: npz.header(name) for name in npz.entries if name != "meta"}
            for name, header in headers.items():
                _checked(npz, rules.check, name, header)
            arrays = {
                name: npz.read(name, rules.max_bytes(name))
                for name in headers
                if name != "history/loss"
            }
            if "history/loss" in headers:
                arrays["history/loss"] = _read_history(npz, rules, headers["history/loss"])
    except OSError as exc:
        raise CharrnnError(f"{path}: cannot read: {exc.strerror or exc}") from None
    refusal = not_finite(arrays)
    if refusal:
        raise CharrnnError(
            f"{path}: refused: {refusal} (the model had diverged, or the file is damaged)"
        )
    return Checkpoint(path, meta, arrays)


def _read_meta(npz: NpzReader) -> dict[str, Any]:
    if "meta" not in npz.entries:
        raise npz.error("not a charrnn checkpoint (no metadata entry)")
    header = npz.header("meta")
    if header.dtype != np.uint8 or len(header.shape) != 1:
        raise npz.error("corrupt checkpoint (the metadata entry is not text)")
    raw = npz.read("meta", MAX_META_BYTES)
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise npz.error("corrupt checkpoint (metadata is not JSON)") from None
    _checked(npz, check_format, meta)
    return meta


def _checked(npz: NpzReader, check: Callable[..., Any], *args: Any) -> Any:
    """check(*args), its CharrnnError prefixed with the file's path (the same exception:
    a CellFileNeeded stays one, engine/cells/record.py)."""
    try:
        return check(*args)
    except CharrnnError as exc:
        exc.args = npz.error(str(exc)).args
        raise exc from None


def _read_history(npz: NpzReader, rules: ArrayRules, header: Header) -> np.ndarray:
    """history/loss merged into the bound as it is read: an old file holds one point per
    iteration, which may be far more than is ever kept in memory."""
    chunks = npz.read_chunks("history/loss", rules.max_bytes("history/loss"))
    history = _checked(npz, LossHistory.from_points, chunks, header.shape[0], rules.iteration)
    return history.values()


def restore(
    ckpt: Checkpoint, text: str, corpus_name: str, changes: dict[str, Any] | None = None
) -> Trainer:
    """A Trainer that continues exactly where the checkpoint stopped, on `text`, with the
    config changes a resumed run may make (`Config.resumed`: the schedule, not the model)."""
    config = ckpt.config.resumed(changes or {}, str(ckpt.path))
    vocab = ckpt.vocab
    missing = vocab.missing(text)
    if missing:
        raise CharrnnError(
            f"{ckpt.path}: the model's vocabulary does not cover corpus {corpus_name!r} "
            f"(it lacks {missing[:40]!r}{'...' if len(missing) > 40 else ''})"
        )
    state = ckpt.state_dict()
    trainer = Trainer(config, text, seed=state["seed"], corpus_name=corpus_name, vocab=vocab)
    try:
        trainer.load_state_dict(state)
    except CharrnnError as exc:
        raise CharrnnError(f"{ckpt.path}: corrupt or mismatched checkpoint ({exc})") from None
    return trainer


def load_model(ckpt: Checkpoint) -> tuple[CharModel, Params]:
    """The model and the weights to sample and inspect with, without the corpus: the running
    average when the run kept one (engine/averaging.py), else the trained weights."""
    model = CharModel(ckpt.config, len(ckpt.vocab))
    params = model.init_params(0)
    try:
        weights = weights_in_use(ckpt.config, ckpt.group("param/"), ckpt.group("optim/"))
        load_arrays_into("weights", weights, params)
    except CharrnnError as exc:
        raise CharrnnError(f"{ckpt.path}: corrupt or mismatched checkpoint ({exc})") from None
    return model, params


def sampling_state(ckpt: Checkpoint, model: CharModel) -> list[State]:
    """Stream 0's hidden state as training left it: where samples start from."""
    state = model.zero_state(1)
    for i, layer_state in enumerate(state):
        stored = ckpt.group(f"state/{i}/")
        for j, dest in enumerate(layer_state):
            src = stored.get(str(j))
            if (
                src is None
                or src.shape[1:] != dest.shape[1:]
                or len(src) < 1
                or src.dtype != dest.dtype
            ):
                raise CharrnnError(f"{ckpt.path}: incomplete checkpoint (state/{i}/{j} is wrong)")
            dest[...] = src[:1]
    return state
