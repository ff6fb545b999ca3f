"""The textbook cells: rnn, lstm and gru written as their equations read, one time step at a
time, for reading and for copying (`charrnn cell new NAME --from lstm`). Each equals its fast
twin in engine/cells/ (tests/test_textbook_cells.py) and uses the same weights."""
