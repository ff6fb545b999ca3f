"""A checkpoint's model under the names, shapes and gate orders of PyTorch's own modules.

The export holds what a small wrapper of PyTorch modules would hold in its state_dict
(docs/export.md builds it from the metadata):

    embedding.weight      (V, D)        nn.Embedding(V, D): E; absent for one-hot input
    rnn.weight_ih_l{k}    (G*H, D_k)    nn.RNN / nn.LSTM / nn.GRU(D_0, H, num_layers=L),
    rnn.weight_hh_l{k}    (G*H, H)        G = 1, 4, 3 blocks stacked in PyTorch's order:
    rnn.bias_ih_l{k}      (G*H,)          LSTM i, f, g, o; GRU r, z, n
    rnn.bias_hh_l{k}      (G*H,)
    output.weight         (V, H)        nn.Linear(H, V): Why
    output.bias           (V,)          by

D_0 is the embedding width, or V for a one-hot model, whose weight_ih_l0 is the one-hot
weight itself (the loader feeds F.one_hot(ids, V) as floats). charrnn's cells keep one bias
where PyTorch has two, so each goes into bias_ih and bias_hh is zero, except the GRU's bhn:
it sits inside the reset gate's product, r * (h Wh_n + bhn), exactly where PyTorch's b_hn is.

The weights are those charrnn samples and evaluates with (`averaging.weights_in_use`: the
running average for presets that keep one), and the metadata (JSON values, since a
safetensors header holds strings only) carries the vocabulary and the configuration.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from engine import checkpoint
from engine.atomic import write_atomically
from engine.cells import GRUCell, LSTMCell, RNNCell
from engine.cells.base import Cell, Params
from engine.cells.gru import N, R, Z
from engine.cells.lstm import CAND, FORGET, IN, OUT
from engine.errors import CharrnnError
from engine.model import CharModel

FORMAT = "charrnn-export"
FORMAT_VERSION = 1
SUFFIXES = {".safetensors": "safetensors", ".pt": "torch", ".pth": "torch"}
# What each format needs beyond numpy, and how to install it.
NEEDS = {
    "safetensors": (
        "safetensors",
        "pip install safetensors, or pip install -e '.[export]' in charrnn's checkout",
    ),
    "torch": ("torch", "pip install torch"),
}
Layer = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # w_ih, w_hh, b_ih, b_hh


@dataclass(frozen=True)
class Exported:
    tensors: dict[str, np.ndarray]  # by state_dict name, C-contiguous
    metadata: dict[str, str]  # each value a JSON text


# -- one layer: charrnn's weights to PyTorch's four tensors ---------------------------------


def _blocks(w: np.ndarray, order: tuple[int, ...], blocks: int) -> np.ndarray:
    """`w` (inputs, blocks*H) as PyTorch holds it, (blocks*H, inputs) in `order`."""
    t = w.T.reshape(blocks, -1, w.shape[0])
    return t[list(order)].reshape(-1, w.shape[0])


def _rnn(p: Params) -> Layer:
    # h = tanh(Wxh x + Whh h_prev + bh): min-char-rnn's orientation is PyTorch's already.
    return p["Wxh"], p["Whh"], p["bh"], np.zeros_like(p["bh"])


TORCH_LSTM = (IN, FORGET, CAND, OUT)  # PyTorch's i, f, g, o from charrnn's o, i, f, g


def _lstm(p: Params) -> Layer:
    b = p["b"].reshape(4, -1)[list(TORCH_LSTM)].reshape(-1)
    return _blocks(p["Wx"], TORCH_LSTM, 4), _blocks(p["Wh"], TORCH_LSTM, 4), b, np.zeros_like(b)


TORCH_GRU = (R, Z, N)  # the same order in both


def _gru(p: Params) -> Layer:
    # n = tanh(x W_n + b_n + r * (h W_hn + bhn)) is PyTorch's n with b_in = b_n, b_hn = bhn.
    b_hh = np.zeros_like(p["b"]).reshape(3, -1)
    b_hh[N] = p["bhn"]
    return _blocks(p["Wx"], TORCH_GRU, 3), _blocks(p["Wh"], TORCH_GRU, 3), p["b"], b_hh.reshape(-1)


# Each built-in cell: its PyTorch module, the parameters it has, and the mapping. A cell
# not here (a user's own, from a file) has no PyTorch module that computes it.
MAPPINGS: dict[type, tuple[str, frozenset[str], Callable[[Params], Layer]]] = {
    RNNCell: ("RNN", frozenset({"Wxh", "Whh", "bh"}), _rnn),
    LSTMCell: ("LSTM", frozenset({"Wx", "Wh", "b"}), _lstm),
    GRUCell: ("GRU", frozenset({"Wx", "Wh", "b", "bhn"}), _gru),
}


def torch_module(cell: Cell) -> str:
    """The name of the torch.nn module that computes `cell` exactly, or a CharrnnError."""
    mapping = MAPPINGS.get(type(cell))
    if mapping is None:
        raise CharrnnError(
            f"cell {cell.name!r} ({type(cell).__name__}) is not charrnn's rnn, lstm or gru: "
            "PyTorch has no module that computes it, so it cannot be exported"
        )
    return mapping[0]


def layer_tensors(cell: Cell, p: Params, k: int) -> dict[str, np.ndarray]:
    """Layer k's weights under nn.RNN/LSTM/GRU's names; a weight PyTorch has no place for is
    a CharrnnError naming it (the export would compute something else)."""
    module = torch_module(cell)
    _, names, mapping = MAPPINGS[type(cell)]
    extra, missing = sorted(set(p) - names), sorted(names - set(p))
    if extra or missing:
        what = f"has {', '.join(extra)}, which" if extra else f"lacks {', '.join(missing)}, which"
        raise CharrnnError(f"layer {k} ({cell.name}) {what} nn.{module} holds no equivalent of")
    suffixes = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    return {f"rnn.{s}_l{k}": t for s, t in zip(suffixes, mapping(p), strict=True)}


# -- the whole model ------------------------------------------------------------------------


def torch_tensors(model: CharModel, params: Params) -> dict[str, np.ndarray]:
    """Every weight of `model` by the state_dict name of the wrapper in docs/export.md."""
    top_level = {"Why", "by"} | ({"E"} if model.embedding else set())
    extra = sorted(n for n in params if "." not in n and n not in top_level)
    if extra:
        raise CharrnnError(f"the model has {', '.join(extra)}, which no PyTorch module holds")
    tensors = {"embedding.weight": params["E"]} if model.embedding else {}
    for k, cell in enumerate(model.cells):
        prefix = f"l{k}."
        layer = {n[len(prefix) :]: v for n, v in params.items() if n.startswith(prefix)}
        tensors |= layer_tensors(cell, layer, k)
    tensors |= {"output.weight": params["Why"], "output.bias": params["by"]}
    return {name: np.ascontiguousarray(t) for name, t in tensors.items()}


def torch_settings(model: CharModel) -> dict[str, Any]:
    """What builds the PyTorch modules: the recurrent module's name and arguments."""
    config = model.config
    return {
        "module": torch_module(model.cells[0]),
        "rnn": {
            "input_size": model.cells[0].input_size,
            "hidden_size": config.hidden,
            "num_layers": config.layers,
            # charrnn drops out between layers only, as PyTorch does; one layer has none
            # (PyTorch warns about a dropout it would never apply).
            "dropout": config.dropout if config.layers > 1 else 0.0,
        },
        "embedding": config.embedding,  # 0: one-hot input, no nn.Embedding
        "vocab_size": model.vocab_size,
        "dtype": config.dtype,
    }


def export(ckpt: checkpoint.Checkpoint) -> Exported:
    """The checkpoint's sampling weights as PyTorch's modules hold them, with metadata."""
    model, params = checkpoint.load_model(ckpt)
    tensors = torch_tensors(model, params)
    values = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "vocab": ckpt.vocab.chars,
        "torch": torch_settings(model),
        "config": ckpt.config.to_dict(),
        "iteration": ckpt.iteration,
        "weights": "averaged" if ckpt.config.average else "trained",
    }
    # ASCII JSON: any character of any vocabulary survives any reader's header decoding.
    return Exported(tensors, {k: json.dumps(v) for k, v in values.items()})


# -- files ----------------------------------------------------------------------------------


def require(fmt: str) -> None:
    """A one-line CharrnnError naming the install if the package that writes `fmt` is
    missing: checked before anything is read or written."""
    module, install = NEEDS[fmt]
    try:
        __import__(module)
    except ImportError:
        raise CharrnnError(f"--to {fmt} needs the {module} package ({install})") from None


def write(exported: Exported, fmt: str, path: Path) -> Path:
    """Write atomically: a temporary file beside `path`, fsynced, then renamed over it."""
    require(fmt)
    writer = _write_safetensors if fmt == "safetensors" else _write_torch
    checkpoint.remove_stale_temporaries(path)
    try:
        # An export is for sharing: a new file's usual mode, not a checkpoint's 0600.
        return write_atomically(path, lambda f: writer(exported, f), mode=0o666 & ~_umask())
    except OSError as exc:  # a full disk, a vanished directory: say so, in one line
        kept = "the previous file is kept" if path.exists() else "nothing was written"
        raise CharrnnError(f"{path}: not written: {exc.strerror or exc}; {kept}") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_safetensors(exported: Exported, f: IO[bytes]) -> None:
    from safetensors.numpy import save

    f.write(save(exported.tensors, metadata=exported.metadata))


def _write_torch(exported: Exported, f: IO[bytes]) -> None:
    import torch

    state_dict = {k: torch.from_numpy(v) for k, v in exported.tensors.items()}
    torch.save({"state_dict": state_dict, "metadata": exported.metadata}, f)


def read_metadata(path: Path, fmt: str) -> dict[str, Any] | None:
    """The decoded metadata of a charrnn export in format `fmt` at `path`, or None when the
    file is not one. A torch file is read with weights_only (no code runs) and mapped."""
    try:
        if fmt == "safetensors":
            from safetensors import safe_open

            with safe_open(path, framework="numpy") as f:
                raw = f.metadata() or {}
        else:
            import torch

            saved = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            raw = saved.get("metadata", {}) if isinstance(saved, dict) else {}
        meta = {k: json.loads(v) for k, v in raw.items()}
    except Exception:  # anything that is not an export, however it fails to parse
        return None
    return meta if meta.get("format") == FORMAT else None
