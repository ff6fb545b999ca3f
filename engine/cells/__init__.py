"""Recurrent cells. Each maps a whole window of inputs to hidden outputs and back.

The protocol every cell follows is in base.py. A new built-in cell is one new file here and
one line in BUILT_IN below; a user's cell file joins at run time (engine/cells/user.py).
"""

from __future__ import annotations

from engine.cells.base import Cell, State
from engine.cells.gru import GRUCell
from engine.cells.lstm import LSTMCell
from engine.cells.registry import CELL_TYPES, cell_names, cell_type, register, register_built_in
from engine.cells.rnn import RNNCell
from engine.cells.textbook.gru import TextbookGRU
from engine.cells.textbook.lstm import TextbookLSTM
from engine.cells.textbook.rnn import TextbookRNN

# The built-in cells, one line each: the fast ones training uses, then their textbook twins.
BUILT_IN = register_built_in(
    (
        RNNCell,
        LSTMCell,
        GRUCell,
        TextbookRNN,
        TextbookLSTM,
        TextbookGRU,
    )
)

__all__ = [
    "BUILT_IN",
    "CELL_TYPES",
    "Cell",
    "GRUCell",
    "LSTMCell",
    "RNNCell",
    "State",
    "cell_names",
    "cell_type",
    "register",
]
