"""How many child processes this process may start.

Jobs of `fasrobust run` execute in worker processes that multiprocessing marks daemonic, and a
daemonic process may not have children. Stages that parallelise internally (frame extraction, the
sample database's clip rendering) ask here and run in-process instead of failing."""

from __future__ import annotations

import multiprocessing


def child_processes_allowed() -> bool:
    return not multiprocessing.current_process().daemon


def usable_workers(requested: int) -> int:
    """`requested`, or 1 where this process cannot start children."""
    return max(1, int(requested)) if child_processes_allowed() else 1
