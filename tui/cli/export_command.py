"""`charrnn export CKPT --to safetensors|torch OUT`: the model for PyTorch (docs/export.md).

The target rule mirrors `--save`'s (tui/runs/save_target.py): an export replaces only a
previous export in the same format, never the checkpoint it reads, and anything else that
is a regular file only with --force.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
from pathlib import Path

from engine import checkpoint
from engine import export as exporting
from engine.cells.record import CellFileNeeded
from engine.errors import CharrnnError
from engine.files import NOT_REGULAR


def export(args: argparse.Namespace) -> int:
    out, source = Path(args.out), Path(args.checkpoint)
    fmt = args.to or format_for(out)
    ckpt = load_built_in(source)  # refused first: no package makes a user's cell exportable
    exporting.require(fmt)
    exported = exporting.export(ckpt)
    check_export_target(out, source, fmt, force=args.force)
    checkpoint.check_writable(out)
    exporting.write(exported, fmt, out)
    print(summary(exported, fmt, out))
    return 0


def load_built_in(source: Path) -> checkpoint.Checkpoint:
    """The checkpoint; one of a cell of the user's own is refused before anything imports
    its code: PyTorch has no module that computes it."""
    try:
        return checkpoint.load(source)
    except CellFileNeeded as exc:
        raise CharrnnError(
            f"{source}: not exported: it holds the cell {exc.cell!r} of your own (from "
            f"{exc.file}), and export writes only charrnn's rnn, lstm and gru, which PyTorch's "
            "nn.RNN, nn.LSTM and nn.GRU compute"
        ) from None


def format_for(out: Path) -> str:
    """The format OUT's suffix names, when --to is left out."""
    fmt = exporting.SUFFIXES.get(out.suffix.lower())
    if fmt is None:
        raise CharrnnError(
            f"{out}: give --to safetensors or --to torch (or name the file .safetensors or .pt)"
        )
    return fmt


def check_export_target(out: Path, source: Path, fmt: str, *, force: bool = False) -> None:
    """A CharrnnError saying why writing an export to `out` must not happen, if it must not."""
    try:
        info = os.stat(out)  # links followed: what the rename would replace
    except FileNotFoundError:
        return
    except OSError as exc:
        raise CharrnnError(f"{out}: cannot check the export target ({exc.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        suffix = next(s for s, f in exporting.SUFFIXES.items() if f == fmt)
        raise CharrnnError(f"{out}: is a directory; give a file name such as {out}/model{suffix}")
    if not stat.S_ISREG(info.st_mode):
        kind = next((says for test, says in NOT_REGULAR if test(info.st_mode)), "is not a file")
        raise CharrnnError(f"{out}: {kind}; an export is written only as a regular file")
    try:
        theirs = os.stat(source)
    except OSError:
        theirs = None
    if theirs is not None and (info.st_dev, info.st_ino) == (theirs.st_dev, theirs.st_ino):
        raise CharrnnError(
            f"{out}: is the checkpoint being exported; writing there would replace it"
        )
    if not force and exporting.read_metadata(out, fmt) is None:
        raise CharrnnError(
            f"{out}: exists and is not a charrnn {fmt} export; --force replaces it anyway"
        )


def summary(exported: exporting.Exported, fmt: str, out: Path) -> str:
    torch = json.loads(exported.metadata["torch"])
    weights = json.loads(exported.metadata["weights"])
    parts = [
        f"nn.{torch['module']} {torch['rnn']['num_layers']}x{torch['rnn']['hidden_size']}",
        f"nn.Embedding {torch['embedding']}" if torch["embedding"] else "one-hot input",
        f"vocabulary {torch['vocab_size']}",
        f"{weights} weights of iteration {json.loads(exported.metadata['iteration']):,}",
        torch["dtype"],
    ]
    return f"{out}: {fmt}, {', '.join(parts)} (load it as docs/export.md shows)"
