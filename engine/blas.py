"""How many threads BLAS may start. OpenBLAS (and MKL or OpenMP, had numpy been built with
them) reads its count from the environment once, when numpy is first imported: set these
before that. This module imports nothing that imports numpy."""

from __future__ import annotations

import os

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def thread_env(count: int) -> dict[str, str]:
    """The variables that give BLAS `count` threads, for a child process's environment."""
    return {name: str(count) for name in THREAD_VARIABLES}


def pin_threads(count: int, *, keep_set: bool = False) -> None:
    """Give this process's BLAS `count` threads (before numpy is imported); with `keep_set`,
    a variable already in the environment (the user's choice) is left as it is."""
    for name, value in thread_env(count).items():
        if keep_set:
            os.environ.setdefault(name, value)
        else:
            os.environ[name] = value
