"""The Ray executor: the same job functions as Ray tasks, on a local Ray instance started here or
on an existing cluster (`address`). Imported only when `--executor ray` is asked for.

Each task asks Ray for one CPU (and a GPU where the cluster has them) and sets torch to `threads`
threads, so Ray's packing matches what the job uses. Outcomes travel back to the driver, the only
writer of the results store. A worker or node lost under a task comes back as a retryable Outcome:
the runner, not Ray, decides about retries, so every lost attempt is recorded in the store."""

from __future__ import annotations

import contextlib
from typing import Any

from ...errors import require
from ..jobs import Outcome, Task, execute
from .base import Executor


def _run(task: Task) -> Outcome:
    return execute(task)


class RayExecutor(Executor):
    def __init__(self, *, address: str | None = None, workers: int | None = None, threads: int = 1,
                 gpus_per_task: float | None = None, log_to_driver: bool = False):
        ray = require("ray", "ray", "the Ray executor")
        self._ray = ray
        self._owns = not ray.is_initialized()
        if self._owns:
            # A local instance sized to `workers` CPUs, or a connection to a running cluster; no
            # dashboard (it needs extra packages and a port). Worker logs stay in Ray's session
            # folder unless asked for: every result and error comes back to the driver as data.
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": log_to_driver,
                                       "configure_logging": False}
            if address is None and workers:
                options["num_cpus"] = int(workers)
            ray.init(address=address, **options)
        resources = ray.cluster_resources()
        self.threads = int(threads)
        self.slots = max(1, int(resources.get("CPU", 1)) // max(1, self.threads))
        if gpus_per_task is None:
            gpus_per_task = 1.0 if resources.get("GPU", 0) >= 1 else 0.0
        self._remote = ray.remote(num_cpus=self.threads, num_gpus=gpus_per_task, max_retries=0)(_run)
        self._refs: dict[Any, Task] = {}
        self._address = address

    def describe(self) -> dict:
        return {**super().describe(), "address": self._address or "local", "started_here": self._owns}

    def submit(self, task: Task) -> None:
        task = Task(**{**task.__dict__, "threads": self.threads})
        self._refs[self._remote.remote(task)] = task

    def wait(self, timeout: float | None = None) -> list[Outcome]:
        if not self._refs:
            return []
        ready, _ = self._ray.wait(list(self._refs), num_returns=1, timeout=timeout)
        outcomes = []
        for ref in ready:
            task = self._refs.pop(ref)
            try:
                outcomes.append(self._ray.get(ref))
            except self._ray.exceptions.RayError as exc:  # worker crashed, node lost, task cancelled
                message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                outcomes.append(Outcome(task.job_id, error=f"Ray lost the job ({type(exc).__name__}: {message})",
                                        retryable=True))
        return outcomes

    def close(self, *, cancel: bool = False) -> None:
        if cancel:
            for ref in self._refs:
                # A task already finished or whose worker is gone has nothing left to stop.
                with contextlib.suppress(Exception):
                    self._ray.cancel(ref, force=True)
        self._refs.clear()
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()
            self._owns = False
