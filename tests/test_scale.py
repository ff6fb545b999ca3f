"""Big corpora: ids stored small and encoded in chunks, validation passes of bounded size."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import corpora
from engine import vocab as vocab_module
from engine.config import Config
from engine.errors import CharrnnError
from engine.evaluate import lanes_of, validation_loss
from engine.trainer import Trainer
from engine.vocab import Vocab

TEXT = "".join(f"line {i}: the cat sat on the mat, {i * 7 % 13} times.\n" for i in range(400))
CONFIG = Config(hidden=8, seq_length=8, batch=2, val_fraction=0.5, val_chars=64)


def test_ids_are_stored_in_the_smallest_unsigned_type() -> None:
    assert Trainer(Config(hidden=4), TEXT).train_ids.dtype == np.uint8
    kaze = corpora.load("kaze")[1]  # 762 characters
    assert Trainer(Config(hidden=4), kaze).train_ids.dtype == np.uint16
    assert Vocab("".join(map(chr, range(0x20000, 0x20000 + 70_000)))).id_dtype == np.uint32


def test_chunked_encoding_matches_one_character_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(vocab_module, "CHUNK_CHARS", 7)
    text = corpora.load("kaze")[1][:1000] + "😀"
    vocab = Vocab.from_text(text)
    assert list(vocab.chars) == sorted(set(text))
    assert vocab.encode(text).tolist() == [vocab.chars.index(c) for c in text]
    assert vocab.decode(vocab.encode(text)) == text
    with pytest.raises(CharrnnError, match="outside the model's vocabulary: 'Z'"):
        vocab.encode(text + "Z")  # in a later chunk than the first


def test_encoding_a_large_text_allocates_about_its_ids_alone() -> None:
    text = "abcdefgh" * 1_000_000  # 8 million characters
    vocab = Vocab.from_text(text)
    tracemalloc.start()
    try:
        ids = vocab.encode(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ids.nbytes == len(text)
    assert peak < 3 * len(text)  # one byte an id plus one chunk's scratch; int64 alone is 8


def test_windows_and_lanes_are_index_arrays_the_model_can_use() -> None:
    trainer = Trainer(CONFIG, TEXT)
    inputs, targets, _ = trainer.stream.next_window()
    assert inputs.dtype == targets.dtype == np.intp
    assert lanes_of(trainer.val_ids)[0].dtype == np.intp


def test_a_validation_pass_predicts_at_most_val_chars_evenly_spread() -> None:
    ids = np.arange(1003)
    inputs, targets = lanes_of(ids, lanes=4, limit=40)
    assert inputs.shape == (10, 4)  # 40 characters in 4 lanes
    assert list(inputs[0]) == [0, 250, 500, 750]  # the lanes start where a full pass's do
    np.testing.assert_array_equal(targets, inputs + 1)
    full_inputs, _ = lanes_of(ids, lanes=4)
    np.testing.assert_array_equal(inputs, full_inputs[:10])  # the same characters every time


def test_the_trainer_bounds_its_passes_and_evaluates_all_on_request() -> None:
    trainer = Trainer(CONFIG, TEXT)
    trainer.train(5)
    held_out = len(trainer.val_ids)
    assert trainer.validation_scope == (64, held_out) and held_out > 64 * 10
    bounded = trainer.evaluate()
    assert bounded == validation_loss(trainer.model, trainer.params, trainer.val_ids, limit=64)
    assert trainer.evaluate() == bounded  # the same characters each time
    full = trainer.evaluate(full=True)
    assert full == validation_loss(trainer.model, trainer.params, trainer.val_ids)
    assert full != bounded
    everything = Trainer(CONFIG.replace(val_chars=0), TEXT)
    assert everything.validation_scope[0] == held_out - 1 - (held_out - 1) % 16
