"""The exactness of `charrnn export`: PyTorch's own modules, loaded from the exported file,
compute charrnn's logits along a 500-character passage read from charrnn's carried state.

Needs torch (skipped without it, a failure under CHARRNN_REQUIRE_E2E=1). With `-s` each case
prints its largest logit difference, absolute and relative to the largest logit.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from export_support import (
    PASSAGE,
    charrnn_logits,
    decoded,
    stream0,
    torch_logits,
    torch_net,
    trained,
)
from system_programs import module

from engine import checkpoint
from engine.trainer import Trainer
from tui.cli import main

TOLERANCE = {"float32": 1e-4, "float64": 1e-10}  # relative to the largest |logit|
CASES = list(
    itertools.product(("rnn", "lstm", "gru"), (1, 2), (0, 8), (0.0, 0.9), ("float32", "float64"))
)


@pytest.fixture
def torch():
    module("torch", "pip install torch==2.13.0")
    import torch

    return torch


def read_export(torch, path: Path, fmt: str) -> tuple[dict, dict]:
    """(decoded metadata, tensors by name) from an export, as a PyTorch user reads it."""
    if fmt == "safetensors":
        from safetensors import safe_open

        with safe_open(path, framework="pt") as f:
            return decoded(f.metadata()), {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118
    saved = torch.load(path, weights_only=True)
    return decoded(saved["metadata"]), saved["state_dict"]


def exported_net(torch, capsys, ckpt: Path, fmt: str):
    out = ckpt.with_suffix(".safetensors" if fmt == "safetensors" else ".pt")
    assert main(["export", str(ckpt), "--to", fmt, str(out)]) == 0
    capsys.readouterr()
    meta, weights = read_export(torch, out, fmt)
    net = torch_net(torch, meta)
    net.load_state_dict(weights)  # strict: every name present, none left over
    return net, meta


def compare(torch, net, meta, trainer: Trainer, weights=None) -> tuple[float, float, float]:
    """Along the passage: the largest |logit difference|, absolute and relative to the
    largest |logit|, and the largest difference of the final states (h, and c for an LSTM)."""
    ids = trainer.vocab.encode(PASSAGE)
    ours, our_state = charrnn_logits(trainer, ids, weights)
    theirs, final = torch_logits(torch, net, meta, ids, stream0(trainer.state))
    finals = final if isinstance(final, tuple) else (final,)
    state_diff = max(
        float(np.abs(tensor.numpy()[:, 0] - np.stack([layer[j][0] for layer in our_state])).max())
        for j, tensor in enumerate(finals)
    )
    diff = float(np.abs(theirs - ours).max())
    return diff, diff / float(np.abs(ours).max()), state_diff


@pytest.mark.parametrize(("cell", "layers", "embedding", "average", "dtype"), CASES)
def test_pytorch_modules_compute_charrnns_logits(
    torch,
    capsys,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    cell: str,
    layers: int,
    embedding: int,
    average: float,
    dtype: str,
) -> None:
    trainer, ckpt = trained(
        tmp_path,
        cell=cell,
        layers=layers,
        embedding=embedding,
        average=average,
        dtype=dtype,
        dropout=0.25 if layers > 1 else 0.0,  # must not apply: PyTorch's eval() is inference
    )
    net, meta = exported_net(torch, capsys, ckpt, "safetensors")
    diff, relative, state_diff = compare(torch, net, meta, trainer)
    if request.config.getoption("capture") == "no":  # pytest -s: the figures for docs/export.md
        with capsys.disabled():
            print(
                f"\nexport-equivalence {cell} {dtype} layers={layers} embedding={embedding} "
                f"average={average}: max|diff| {diff:.3g}, relative {relative:.3g}"
            )
    assert relative <= TOLERANCE[dtype]
    assert state_diff <= TOLERANCE[dtype]  # |h|, |c| are about 1: absolute is relative
    if average:  # the export holds the averaged weights, and the test can tell them apart
        raw_diff, _, _ = compare(torch, net, meta, trainer, weights=trainer.params)
        assert raw_diff > 1000 * max(diff, TOLERANCE[dtype] * 1e-3)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_torch_state_dict_file_loads_into_the_same_modules(
    torch, capsys, tmp_path: Path, cell: str
) -> None:
    trainer, ckpt = trained(tmp_path, cell=cell, layers=2, embedding=8, average=0.9)
    net, meta = exported_net(torch, capsys, ckpt, "torch")
    _, relative, state_diff = compare(torch, net, meta, trainer)
    assert relative <= TOLERANCE["float32"] and state_diff <= TOLERANCE["float32"]
    from_safetensors, _ = exported_net(torch, capsys, ckpt, "safetensors")
    for name, tensor in from_safetensors.state_dict().items():
        assert torch.equal(net.state_dict()[name], tensor), name


def test_pytorch_with_the_raw_gate_order_disagrees(torch, capsys, tmp_path: Path) -> None:
    """The reordering matters: charrnn's LSTM blocks (o, i, f, g) loaded as they are, into
    PyTorch's i, f, g, o, give other logits (so the equality above is not vacuous)."""
    trainer, ckpt = trained(tmp_path, cell="lstm", embedding=8)
    net, meta = exported_net(torch, capsys, ckpt, "safetensors")
    p = checkpoint.load_model(checkpoint.load(ckpt))[1]
    with torch.no_grad():
        net["rnn"].weight_ih_l0.copy_(torch.from_numpy(np.ascontiguousarray(p["l0.Wx"].T)))
        net["rnn"].weight_hh_l0.copy_(torch.from_numpy(np.ascontiguousarray(p["l0.Wh"].T)))
        net["rnn"].bias_ih_l0.copy_(torch.from_numpy(p["l0.b"]))
    _, relative, _ = compare(torch, net, meta, trainer)
    assert relative > 1e-2
