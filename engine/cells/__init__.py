"""Recurrent cells. Each maps a whole window of inputs to hidden outputs and back.

A cell works time-major on (T, B, ...) arrays. Its input is either token ids (T, B), for the
first layer of a one-hot model, where `W x` becomes a column lookup, or dense vectors (T, B, D).
"""

from __future__ import annotations

from engine.cells.base import Cell, State
from engine.cells.gru import GRUCell
from engine.cells.lstm import LSTMCell
from engine.cells.rnn import RNNCell

CELL_TYPES: dict[str, type[Cell]] = {"rnn": RNNCell, "lstm": LSTMCell, "gru": GRUCell}

__all__ = ["CELL_TYPES", "Cell", "GRUCell", "LSTMCell", "RNNCell", "State"]
