"""The executor contract the runner drives: submit tasks, wait for outcomes, close.

An executor only runs job functions and hands their Outcomes back; it never writes the results
store (the driver does, one job per transaction). A worker that dies under a job comes back as an
Outcome with `retryable=True`, never as an exception, so the runner decides whether to try again."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from enum import StrEnum

from ..jobs import Outcome, Task


class ExecutorName(StrEnum):
    INPROCESS = "inprocess"
    RAY = "ray"


class Executor(ABC):
    """Runs Tasks. `slots` is how many may be in flight at once; `threads` is the torch thread
    count each job gets (None: the process default)."""

    slots: int = 1
    threads: int | None = None

    @abstractmethod
    def submit(self, task: Task) -> None:
        """Start (or queue) a task; at most `slots` are submitted and not yet waited for."""

    @abstractmethod
    def wait(self, timeout: float | None = None) -> list[Outcome]:
        """Outcomes of finished tasks; blocks until at least one is ready (or the timeout passes)."""

    @abstractmethod
    def close(self, *, cancel: bool = False) -> None:
        """Release workers; with `cancel`, stop the tasks still running (their work is lost)."""

    def describe(self) -> dict:
        return {"executor": type(self).__name__, "slots": self.slots, "threads": self.threads}

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(cancel=exc_type is not None)


def cpu_count() -> int:
    """CPUs this process may use (the affinity mask in a container, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def create_executor(name: ExecutorName | str = ExecutorName.INPROCESS, *, workers: int | None = None,
                    threads: int | None = None, address: str | None = None) -> Executor:
    """An executor by name; Ray is imported only here, only when asked for."""
    from ...errors import ConfigError

    try:
        name = ExecutorName(name)
    except ValueError:
        raise ConfigError(f"unknown executor {name!r} (known: {', '.join(e.value for e in ExecutorName)})") from None
    if workers is not None and workers < 0:
        raise ConfigError(f"workers must be >= 0, got {workers}")
    if threads is not None and threads < 1:
        raise ConfigError(f"threads must be >= 1, got {threads}")
    if name is ExecutorName.RAY:
        from .ray_executor import RayExecutor

        return RayExecutor(address=address, workers=workers, threads=threads or 1)
    if address is not None:
        raise ConfigError("--address is for the Ray executor (--executor ray)")
    from .inprocess import InProcessExecutor

    return InProcessExecutor(workers=workers, threads=threads)
