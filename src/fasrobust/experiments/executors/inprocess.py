"""The default executor: jobs in the driver process, or in N worker processes on this machine.

`workers=0` (or 1) runs each job in the driver, one at a time, with every core (the simplest thing
and the fastest for one job that already uses all cores). `workers=N` starts N spawned processes,
each with an explicit torch thread count (cores // N by default) so jobs do not fight over cores.
With several GPUs and no worker count, one process per GPU, each seeing only its own.

Why our own small pool and not concurrent.futures: a worker killed under a job (out of memory, a
signal) must cost only that job. ProcessPoolExecutor declares the whole pool broken and cannot
stop a running job through public API; here each worker has its own pipe, a dead one is noticed by
its sentinel, reported as a retryable Outcome and replaced."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait

from ..jobs import Outcome, Task, execute
from .base import Executor, cpu_count


class InProcessExecutor(Executor):
    def __init__(self, *, workers: int | None = None, threads: int | None = None, gpus: list[int] | None = None):
        if gpus is None and workers is None:
            gpus = _visible_gpus()
            gpus = gpus if len(gpus) > 1 else []
        self._gpus = list(gpus or [])
        if workers is None:
            workers = len(self._gpus)
        self._pool = workers > 1 or bool(self._gpus)
        self.slots = max(1, workers)
        self.threads = threads if threads or not self._pool else max(1, cpu_count() // self.slots)
        self._queue: deque[Task] = deque()
        self._workers: list[_Worker] = []
        if self._pool:
            context = mp.get_context("spawn")  # fork would copy the driver's threads and CUDA state
            for slot in range(self.slots):
                gpu = self._gpus[slot % len(self._gpus)] if self._gpus else None
                self._workers.append(_Worker.start(context, self.threads, gpu))

    def describe(self) -> dict:
        return {**super().describe(), "processes": len(self._workers), "gpus": self._gpus}

    def submit(self, task: Task) -> None:
        if self.threads and task.threads is None:
            task = Task(**{**task.__dict__, "threads": self.threads})
        self._queue.append(task)
        if self._pool:
            self._dispatch()

    def wait(self, timeout: float | None = None) -> list[Outcome]:
        if not self._pool:
            return [execute(self._queue.popleft())] if self._queue else []
        busy = [w for w in self._workers if w.task is not None]
        if not busy:
            return []
        ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout))
        outcomes = []
        for worker in busy:
            if worker.conn in ready:
                try:
                    outcomes.append(worker.conn.recv())
                    worker.task = None
                    continue
                except (EOFError, OSError):
                    pass  # the pipe closed: the worker died; handled below
            if worker.conn in ready or worker.process.sentinel in ready:
                outcomes.append(self._replace(worker))
        self._dispatch()
        return outcomes

    def close(self, *, cancel: bool = False) -> None:
        self._queue.clear()
        for worker in self._workers:
            worker.stop(kill=cancel and worker.task is not None)
        self._workers = []

    def _dispatch(self) -> None:
        for index, worker in enumerate(self._workers):
            if worker.task is None and self._queue:
                task = self._queue.popleft()
                try:
                    worker.conn.send(task)
                    worker.task = task
                except OSError:  # it died while idle: replace it, the task goes to the new one
                    worker.stop(kill=True)
                    self._workers[index] = fresh = _Worker.start(mp.get_context("spawn"), self.threads, worker.gpu)
                    fresh.conn.send(task)
                    fresh.task = task

    def _replace(self, worker: _Worker) -> Outcome:
        task = worker.task
        worker.process.join(timeout=5)
        code = worker.process.exitcode
        worker.stop(kill=True)
        index = self._workers.index(worker)
        self._workers[index] = _Worker.start(mp.get_context("spawn"), self.threads, worker.gpu)
        return Outcome(task.job_id, error=f"worker process died under the job (exit code {code})",
                       retryable=True)


@dataclass
class _Worker:
    process: mp.process.BaseProcess
    conn: Connection
    gpu: int | None
    task: Task | None = None

    @classmethod
    def start(cls, context, threads: int | None, gpu: int | None) -> _Worker:
        parent, child = context.Pipe()
        process = context.Process(target=_worker_main, args=(child, threads, gpu), daemon=True,
                                  name=f"fasrobust-worker{'' if gpu is None else f'-gpu{gpu}'}")
        process.start()
        child.close()
        return cls(process, parent, gpu)

    def stop(self, *, kill: bool) -> None:
        try:
            if kill:
                self.process.kill()
            else:
                self.conn.send(None)
        except (OSError, ValueError):
            pass
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


def _worker_main(conn: Connection, threads: int | None, gpu: int | None) -> None:
    """A worker: receive a Task, run it, send its Outcome; None ends it."""
    # The driver owns Ctrl-C: it stops the workers and keeps what was committed.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent()
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)  # read when CUDA first initialises, which is later
    if threads:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(threads)
        import torch

        torch.set_num_threads(threads)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):  # the driver is gone
            return
        if task is None:
            return
        conn.send(execute(task))


def _exit_with_parent() -> None:
    """A driver killed with SIGKILL cannot stop its workers; each notices on its own (it is
    re-parented) and exits, so a job in flight is not still writing when the re-run starts it again."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _visible_gpus() -> list[int]:
    try:
        import torch

        return list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    except Exception:  # a broken CUDA install must not stop a CPU run
        return []
