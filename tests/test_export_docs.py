"""docs/export.md's loader is real: its code blocks, exactly as written, load an export into
PyTorch and sample from it; with the draw made greedy they print what `charrnn sample
--greedy --zero-state` prints. And every `charrnn ...` line on the page parses."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from export_support import trained
from system_programs import module

from tui.cli import main
from tui.cli.options import COMMANDS, build_parser

PAGE = Path(__file__).resolve().parents[1] / "docs" / "export.md"
LENGTH = 200  # characters the loader samples
# A text whose next character often depends on more than the last one ("o" goes on as "w",
# "x", "v" or "g"), so a loader that dropped the state would not sample what charrnn does.
FOX = "the quick brown fox jumps over the lazy dog\n" * 60


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.S)


def loader(fmt: str) -> str:
    """The page's loader; for a torch file, with its safetensors reading replaced by the
    page's torch.load block, as the page says."""
    main_block, torch_block = python_blocks()
    if fmt == "safetensors":
        return main_block
    lines = main_block.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("with safe_open"))
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith(" "))
    return "".join([*lines[:start], torch_block, *lines[end:]])


def run_loader(code: str, capsys) -> str:
    capsys.readouterr()
    exec(compile(code, str(PAGE), "exec"), {"__name__": "__main__"})
    return capsys.readouterr().out


@pytest.mark.parametrize(
    ("fmt", "changes"),
    [
        ("safetensors", {"cell": "lstm", "layers": 2, "dropout": 0.2, "dtype": "float32"}),
        ("safetensors", {"cell": "gru", "embedding": 8, "average": 0.9}),
        ("torch", {"cell": "rnn", "dtype": "float32"}),
    ],
)
def test_the_pages_loader_samples_what_charrnn_samples(
    capsys, tmp_path, monkeypatch, fmt: str, changes: dict
) -> None:
    module("torch", "pip install torch==2.13.0")
    import torch

    trainer, ckpt = trained(tmp_path, 300, FOX, hidden=32, lr=1e-2, **changes)
    out = tmp_path / ("model.safetensors" if fmt == "safetensors" else "model.pt")
    assert main(["export", str(ckpt), "--to", fmt, str(out)]) == 0
    monkeypatch.chdir(tmp_path)
    code = loader(fmt)

    sampled = run_loader(code, capsys)  # a real draw: 200 characters of the vocabulary
    text = sampled.removesuffix("\n")
    assert len(text) == LENGTH and set(text) <= set(trainer.vocab.chars)

    monkeypatch.setattr(torch, "multinomial", lambda p, n: p.argmax(dim=-1, keepdim=True))
    greedy = run_loader(code, capsys)
    args = ["sample", str(ckpt), "--greedy", "--zero-state", "--length", str(LENGTH)]
    assert main(args) == 0
    assert greedy == capsys.readouterr().out


def charrnn_lines() -> list[str]:
    text = PAGE.read_text()
    inline = re.findall(r"`(charrnn [^`]*)`", text)
    blocks = re.findall(r"^```\w*\n(.*?)^```", text, re.S | re.M)
    fenced = [
        line for block in blocks for line in block.splitlines() if line.startswith("charrnn ")
    ]
    return inline + fenced


def test_every_charrnn_line_on_the_page_parses() -> None:
    lines = charrnn_lines()
    assert any(line.startswith("charrnn export ") and "--to torch" in line for line in lines)
    for line in lines:
        words = shlex.split(line)[1:]
        if len(words) == 1:  # a command named in passing
            assert words[0] in COMMANDS, line
        else:
            build_parser().parse_args(words)
