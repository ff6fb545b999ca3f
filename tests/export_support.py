"""Tiny trained models for the export tests, and the PyTorch side that reads their exports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

import corpora
from engine import checkpoint
from engine.cells.base import Params, State
from engine.config import preset
from engine.trainer import Trainer

TEXT = corpora.load("alice")[1][:20_000]
PASSAGE = TEXT[10_000:10_500]  # 500 characters the model reads with its carried state
# A small model that trains fast (Adam, mean loss); each test changes what it tests.
SMALL: dict[str, Any] = {
    "hidden": 16,
    "seq_length": 8,
    "batch": 4,
    "optimizer": "adam",
    "lr": 3e-3,
    "loss": "mean",
    "clip": 0.0,
    "clip_norm": 5.0,
}


def trained(
    tmp_path: Path, iterations: int = 40, text: str = TEXT, **changes: Any
) -> tuple[Trainer, Path]:
    """A small model after some training (so the weights, their average and the carried
    state are all away from their starting values), saved as tmp_path/m.npz."""
    config = preset("classic").replace(**(SMALL | changes))
    trainer = Trainer(config, text, seed=1, corpus_name="test")
    trainer.train(iterations)
    return trainer, checkpoint.save(trainer, tmp_path / "m.npz")


def stream0(state: list[State]) -> list[State]:
    """The first stream's rows of a (B, H) state: what sampling carries on from."""
    return [tuple(a[:1].copy() for a in layer) for layer in state]


def charrnn_logits(
    trainer: Trainer, ids: np.ndarray, weights: Params | None = None
) -> tuple[np.ndarray, list[State]]:
    """charrnn's own logits (T, V) for `ids` read from stream 0's carried state, and the
    state after them; by default with the weights it samples and evaluates with."""
    model, weights = trainer.model, trainer.weights if weights is None else weights
    top, _, state = model.forward_layers(weights, ids[:, None], stream0(trainer.state))
    return model.logits(weights, top)[:, 0], state


def decoded(metadata: dict[str, str]) -> dict[str, Any]:
    return {key: json.loads(value) for key, value in metadata.items()}


def torch_net(torch: Any, meta: dict[str, Any]) -> Any:
    """The wrapper docs/export.md describes, built from the metadata: keys embedding (when
    there is one), rnn and output, so its state_dict names are the export's."""
    m = meta["torch"]
    dtype = getattr(torch, m["dtype"])
    nn = torch.nn
    net = nn.ModuleDict(
        {
            "rnn": getattr(nn, m["module"])(**m["rnn"], batch_first=True, dtype=dtype),
            "output": nn.Linear(m["rnn"]["hidden_size"], m["vocab_size"], dtype=dtype),
        }
    )
    if m["embedding"]:
        net["embedding"] = nn.Embedding(m["vocab_size"], m["embedding"], dtype=dtype)
    return net.eval()


def torch_logits(
    torch: Any, net: Any, meta: dict[str, Any], ids: np.ndarray, state: list[State]
) -> tuple[np.ndarray, Any]:
    """PyTorch's logits (T, V) for `ids`, starting from charrnn's per-layer state carried
    into h0 (and c0 for an LSTM), and PyTorch's final state."""
    m = meta["torch"]
    x = torch.from_numpy(ids.astype(np.int64))[None]
    if m["embedding"]:
        x = net["embedding"](x)
    else:
        x = torch.nn.functional.one_hot(x, m["vocab_size"]).to(getattr(torch, m["dtype"]))
    h0 = torch.from_numpy(np.stack([layer[0] for layer in state]))  # (L, 1, H)
    if m["module"] == "LSTM":
        h0 = (h0, torch.from_numpy(np.stack([layer[1] for layer in state])))
    with torch.no_grad():
        hs, final = net["rnn"](x, h0)
        return net["output"](hs)[0].numpy(), final
