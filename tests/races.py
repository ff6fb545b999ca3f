"""How many times the suite repeats a race between two processes or threads.

Starting real runs costs seconds, so the suite races them a few times; hunt a rare race
with CHARRNN_RACE_ROUNDS=300 (the issues' reproductions used 20)."""

from __future__ import annotations

import os

ROUNDS = int(os.environ.get("CHARRNN_RACE_ROUNDS", "3"))
