"""An inspect snapshot as a file, so that a viewer in another process can inspect a run.

The run writes `<run dir>/inspect.npz` between two steps; the viewer that asked reads it.
One .npz of plain arrays plus a JSON metadata entry, written atomically, never pickled:
  meta                  vocabulary, config, default text, iteration, and the record of a
                        cell of the user's own (engine/cells/record.py): the viewer must
                        have been given its file too, and reading never imports anything
  param/<name>          the weights
  state/<layer>/<i>     training's stream-0 state (B=1)
  default/<layer>/<i>   the state after the text before the default passage
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from engine.cells.base import State
from engine.cells.record import RECORD_KEY, check_record, record_for
from engine.config import Config
from engine.errors import CharrnnError
from engine.inspect import ParamStep, Snapshot, StepStats
from engine.model import CharModel
from engine.vocab import Vocab


def _states(prefix: str, states: list[State] | None) -> dict[str, np.ndarray]:
    return {
        f"{prefix}/{i}/{j}": a for i, layer in enumerate(states or []) for j, a in enumerate(layer)
    }


def write_snapshot(snapshot: Snapshot, path: Path) -> Path:
    meta = {
        "vocab": snapshot.vocab.chars,
        "config": snapshot.config.to_dict(),
        "default_text": snapshot.default_text,
        "iteration": snapshot.iteration,
    }
    record = record_for(snapshot.config.cell)
    if record is not None:
        meta[RECORD_KEY] = record
    arrays = {f"param/{k}": v for k, v in snapshot.params.items()}
    arrays |= _states("state", snapshot.state) | _states("default", snapshot.default_state)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            raw = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
            np.savez(f, meta=raw, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_snapshot(path: Path) -> Snapshot:
    """The snapshot in `path`, or a CharrnnError saying why it cannot be read."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
        meta = json.loads(arrays.pop("meta").tobytes().decode("utf-8"))
        check_record(meta["config"].get("cell"), meta.get(RECORD_KEY))
        config = Config.from_dict(meta["config"])
        vocab = Vocab(meta["vocab"])
        model = CharModel(config, len(vocab))
        params = model.init_params(0)
        for name, dest in params.items():
            dest[...] = arrays[f"param/{name}"]
        return Snapshot(
            model=model,
            params=params,
            vocab=vocab,
            config=config,
            default_text=str(meta["default_text"]),
            iteration=int(meta["iteration"]),
            default_state=_read_states(arrays, "default", model),
            state=_read_states(arrays, "state", model),
        )
    except CharrnnError as exc:
        raise CharrnnError(f"{path}: {exc}") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError, zipfile.BadZipFile) as exc:
        raise CharrnnError(f"{path}: unreadable inspect snapshot ({exc})") from None


def _read_states(arrays: dict[str, np.ndarray], prefix: str, model: CharModel) -> list[State]:
    states = model.zero_state(1)
    for i, layer in enumerate(states):
        for j, dest in enumerate(layer):
            dest[...] = arrays[f"{prefix}/{i}/{j}"]
    return states


def stats_to_dict(stats: StepStats) -> dict[str, Any]:
    return dataclasses.asdict(stats)


def stats_from_dict(values: dict[str, Any]) -> StepStats:
    params = [ParamStep(**p) for p in values["params"]]
    return StepStats(**{**values, "params": params})
