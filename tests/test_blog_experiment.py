"""The blog's experiment: min-char-rnn learns its three-line sample text by heart."""

from __future__ import annotations

import pytest

from engine.config import preset
from engine.sampling import SampleSettings
from engine.trainer import Trainer


@pytest.mark.slow
def test_classic_learns_the_blog_sample_by_heart(blog_text: str) -> None:
    trainer = Trainer(preset("classic"), blog_text, seed=0, corpus_name="blog_sample")
    trainer.train(40_001)  # iterations 0 .. 40,000, as the original's log counts them
    # The original script reaches 0.0074 at iteration 40,000 with seed 0 (the blog: 0.0026).
    assert trainer.smooth_loss < 0.02
    # "this" opens the corpus, which the model reads from a zero state at every wrap.
    text = trainer.sample(SampleSettings(length=40, greedy=True), prime="this")
    assert text.startswith("this is sample text.")
