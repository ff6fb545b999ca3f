"""`charrnn inspect CKPT --window` and `--through-time`: the checkpoint's next training window
(which needs the text it was trained on), or a passage, measured and printed.

The window comes from the run as it would resume: the checkpoint restored on its corpus (a
bundled one by name, any other from --corpus PATH, checked against the fingerprint the
checkpoint recorded), so p, the epoch, the state and the dropout masks are the next step's.
"""

from __future__ import annotations

import json
from pathlib import Path

import corpora
from engine import checkpoint
from engine.checkpoint import Checkpoint
from engine.data import fingerprint, read_text
from engine.errors import CharrnnError
from engine.through_time import (
    WindowPass,
    check_passage,
    passage_clipping,
    passage_replay,
)
from engine.trainer import Trainer
from engine.window import WindowRecord, next_window
from tui.through_time_text import flow_json, render_flow, render_window


def training_text(ckpt: Checkpoint, corpus: str | None, flag: str) -> tuple[str, str]:
    """(name, text) of the corpus the checkpoint was trained on: --corpus PATH, else the
    bundled corpus it names; a one-line CharrnnError if neither, or if the text is not the
    one its fingerprint says."""
    recorded = ckpt.meta.get("corpus", {})
    name = str(recorded.get("name"))
    if corpus is not None:
        text, source = read_text(Path(corpus)), corpus
    elif name in corpora.BUNDLED:
        text, source = read_text(corpora.bundled_path(name)), f"bundled corpus {name!r}"
    else:
        raise CharrnnError(
            f"{flag} needs the text the checkpoint was trained on: corpus {name!r} is not "
            "bundled, so give it with --corpus PATH"
        )
    if fingerprint(text) != recorded.get("fingerprint"):
        raise CharrnnError(
            f"{source} is not the text this checkpoint was trained on (corpus {name!r}: "
            "its fingerprint differs)"
        )
    return name, text


def resumed(ckpt: Checkpoint, corpus: str | None, flag: str) -> Trainer:
    name, text = training_text(ckpt, corpus, flag)
    return checkpoint.restore(ckpt, text, name)


def window_report(path: str, corpus: str | None, json_out: bool, width: int) -> str:
    """What `charrnn inspect CKPT --window [--json]` prints."""
    ckpt = checkpoint.load(path)
    record = next_window(resumed(ckpt, corpus, "--window"))
    if json_out:
        return json.dumps(
            {"window": record.window.to_dict(), "clipping": vars(record.clipping)},
            ensure_ascii=False,
        )
    return render_window(record.window, record.clipping, width)


def through_time_report(path: str, text: str | None, corpus: str | None, json_out: bool) -> str:
    """What `charrnn inspect CKPT --through-time [--text T] [--json]` prints: the next
    training window's stream 0, or the passage T read from the state training left."""
    ckpt = checkpoint.load(path)
    if text is None:
        trainer = resumed(ckpt, corpus, "--through-time without --text")
        record: WindowRecord = next_window(trainer)
        replay, clipping, window = record.replay, record.clipping, record.window
        config, vocab = trainer.config, trainer.vocab
        source = f"the window the next training step reads (iteration {window.iteration:,})"
    else:
        model, params = checkpoint.load_model(ckpt)
        config, vocab, window = ckpt.config, ckpt.vocab, None
        ids = check_passage(text, vocab, config.seq_length)
        replay = passage_replay(params, ids, checkpoint.sampling_state(ckpt, model))
        clipping = passage_clipping(model, replay)
        source = f"a passage of {len(ids)} characters (as if it were a training window)"
    flow = WindowPass(config, len(vocab), replay, 0).flow(0, vocab)
    if json_out:
        data = {
            "window": None if window is None else window.to_dict(),
            "clipping": vars(clipping),
            "through_time": flow_json(flow),
        }
        return json.dumps(data, ensure_ascii=False)
    summary = (
        f"{config.cell} {config.layers}x{config.hidden}"
        if config.layers > 1
        else f"{config.cell} {config.hidden}"
    )
    return render_flow(flow, summary, source, clipping)
