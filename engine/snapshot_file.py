"""An inspect snapshot as a file, so that a viewer in another process can inspect a run.

The run writes `<run dir>/inspect.npz` between two steps; the viewer that asked reads it.
One .npz of plain arrays plus a JSON metadata entry, written atomically, never pickled:
  meta                  vocabulary, config, default text, iteration, and the record of a
                        cell of the user's own (engine/cells/record.py): the viewer must
                        have been given its file too, and reading never imports anything
  param/<name>          the weights
  state/<layer>/<i>     training's stream-0 state (B=1)
  default/<layer>/<i>   the state after the text before the default passage
  next/..., taken/...   the window the next step reads and (after `.`) the window of the
                        step just taken, for the streams the views show: meta holds each
                        window's description; arrays its ids (inputs, targets), start state
                        (state/<layer>/<i>), dropout masks (mask/<layer>) and the weights
                        its step used (param/<name>; for `next`, only when they are not the
                        weights above, i.e. with averaging)
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from engine.atomic import write_atomically
from engine.cells.base import State
from engine.cells.record import RECORD_KEY, check_record, record_for
from engine.config import Config
from engine.errors import CharrnnError
from engine.inspect import ParamStep, Snapshot, StepStats
from engine.model import CharModel
from engine.optim import Clipping
from engine.vocab import Vocab
from engine.window import Replay, Window, WindowRecord


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
    for name in ("next", "taken"):
        record = getattr(snapshot, name)
        if record is not None:
            meta[name] = record.window.to_dict()
            meta[f"{name}_clipping"] = dataclasses.asdict(record.clipping)
            arrays |= _replay_arrays(name, record.replay, snapshot.params)
    raw = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    # Rewritten at every `i` and `.`: atomic for its readers, but no need to wait for the disk.
    return write_atomically(path, lambda f: np.savez(f, meta=raw, **arrays), durable=False)


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
            next=_read_record(meta, arrays, "next", model, params),
            taken=_read_record(meta, arrays, "taken", model, params),
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


def _replay_arrays(prefix: str, replay: Replay, params: dict[str, np.ndarray]) -> dict:
    arrays = {f"{prefix}/inputs": replay.inputs, f"{prefix}/targets": replay.targets}
    arrays |= _states(f"{prefix}/state", replay.state)
    arrays |= {f"{prefix}/mask/{i}": m for i, m in enumerate(replay.masks) if m is not None}
    if replay.params is not params:
        arrays |= {f"{prefix}/param/{k}": v for k, v in replay.params.items()}
    return arrays


def _read_record(
    meta: dict[str, Any],
    arrays: dict[str, np.ndarray],
    prefix: str,
    model: CharModel,
    params: dict[str, np.ndarray],
) -> WindowRecord | None:
    """A window and its replay, checked against the model: shapes, and ids in the vocabulary."""
    if prefix not in meta:
        return None
    window = Window.from_dict(meta[prefix])
    inputs, targets = arrays[f"{prefix}/inputs"], arrays[f"{prefix}/targets"]
    shape = (window.seq_length, len(window.streams))
    for ids in (inputs, targets):
        fits = ids.shape == shape and ids.dtype.kind in "iu"
        if not fits or (ids.size and not (ids.min() >= 0 and ids.max() < model.vocab_size)):
            raise ValueError(f"{prefix} window ids do not fit the model")
    own = f"{prefix}/param/{next(iter(params))}" in arrays
    weights = params
    if own:
        weights = model.init_params(0)
        for name, dest in weights.items():
            dest[...] = arrays[f"{prefix}/param/{name}"]
    batch, hidden = len(window.streams), model.config.hidden
    state = [
        tuple(np.zeros((batch, hidden), model.dtype) for _ in layer)
        for layer in model.zero_state(1)
    ]
    for i, layer in enumerate(state):
        for j, dest in enumerate(layer):
            dest[...] = arrays[f"{prefix}/state/{i}/{j}"]
    masks = [arrays.get(f"{prefix}/mask/{i}") for i in range(len(model.cells))]
    for m in masks:
        if m is not None and m.shape != (*shape, hidden):
            raise ValueError(f"{prefix} dropout masks do not fit the model")
    replay = Replay(params=weights, inputs=inputs, targets=targets, state=state, masks=masks)
    return WindowRecord(window, replay, Clipping(**meta[f"{prefix}_clipping"]))


def stats_to_dict(stats: StepStats) -> dict[str, Any]:
    """The step's statistics as JSON-able values (its replay travels in the snapshot file)."""
    values = {f.name: getattr(stats, f.name) for f in dataclasses.fields(stats)}
    del values["replay"]
    values["params"] = [dataclasses.asdict(p) for p in stats.params]
    for name in ("window", "clipping"):
        if values[name] is not None:
            values[name] = dataclasses.asdict(values[name])
    return values


def stats_from_dict(values: dict[str, Any]) -> StepStats:
    """StepStats from `stats_to_dict`'s values; a CharrnnError if they are not."""
    try:
        params = [ParamStep(**p) for p in values["params"]]
        window = Window.from_dict(values["window"]) if values.get("window") else None
        clipping = Clipping(**values["clipping"]) if values.get("clipping") else None
        return StepStats(**{**values, "params": params, "window": window, "clipping": clipping})
    except (KeyError, TypeError, AttributeError, StopIteration) as exc:
        raise CharrnnError(f"unreadable step statistics ({exc})") from None
