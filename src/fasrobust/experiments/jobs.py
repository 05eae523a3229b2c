"""The job functions: one thin call into a stage per job kind, run by an executor wherever it runs
them (the driver, a pool process, a Ray worker).

A job writes files only under its own paths in the run directory (the FaceSet, the model directory,
`adversarial/`) and returns its result as data: a JSON-able dict plus, for an attack shard, the
AttackRows. It never touches the results store: the driver is its only writer. `execute` never
raises: an error comes back as text in the Outcome, with `user_error` telling a bad input (one line,
the run goes on without the jobs that need it) from a bug (a traceback)."""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import FasrobustError
from .plan import Job, JobKind
from .store import AttackRow


@dataclass(frozen=True)
class Task:
    """What a worker needs to run one job: plain data, so it pickles for any executor."""

    job_id: str
    kind: str
    settings: dict[str, Any]
    inputs: dict[str, Any]
    run_dir: str
    threads: int | None = None  # torch intra-op threads for this job; None keeps the process default
    device: str = "auto"

    @classmethod
    def of(cls, job: Job, run_dir: str | Path, *, threads: int | None, device: str = "auto") -> Task:
        return cls(job.id, job.kind.value, job.settings, job.inputs, str(run_dir), threads, device)


@dataclass(frozen=True)
class Outcome:
    job_id: str
    result: dict[str, Any] = field(default_factory=dict)
    rows: list[AttackRow] = field(default_factory=list)
    wall_s: float = 0.0
    error: str | None = None
    user_error: bool = False  # a FasrobustError (bad input or settings) rather than a bug
    retryable: bool = False  # the worker or node died under the job: running it again may succeed
    host: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


JobFunction = Callable[[Task], tuple[dict[str, Any], list[AttackRow]]]
JOB_FUNCTIONS: dict[str, JobFunction] = {}


def job_function(kind: JobKind) -> Callable[[JobFunction], JobFunction]:
    def register(fn: JobFunction) -> JobFunction:
        JOB_FUNCTIONS[kind.value] = fn
        return fn

    return register


def execute(task: Task) -> Outcome:
    """Run one task; every exception becomes an Outcome so the driver decides what happens next."""
    import socket

    import torch

    host = f"{socket.gethostname()}:{os.getpid()}"
    if task.threads:
        torch.set_num_threads(int(task.threads))
    start = time.perf_counter()
    try:
        result, rows = JOB_FUNCTIONS[task.kind](task)
    except FasrobustError as exc:
        return Outcome(task.job_id, error=str(exc), user_error=True, host=host,
                       wall_s=time.perf_counter() - start)
    except Exception:  # a bug: keep the traceback for the driver to show
        return Outcome(task.job_id, error=traceback.format_exc(), host=host, wall_s=time.perf_counter() - start)
    return Outcome(task.job_id, result, rows, time.perf_counter() - start, host=host)


def _path(task: Task, relative: str) -> Path:
    path = Path(relative)
    return path if path.is_absolute() else Path(task.run_dir) / path


def _faceset(task: Task):
    from ..data.faceset import FaceSet

    return FaceSet.load(_path(task, task.inputs["faceset"]))


@job_function(JobKind.PREPARE)
def prepare_job(task: Task) -> tuple[dict[str, Any], list[AttackRow]]:
    """Prepare the database into the run directory (prepare resumes from its own cache), or check
    a FaceSet given by path."""
    if "prepare" in task.settings:
        from ..data.prepare import PrepareSettings, prepare

        data = {**task.settings["prepare"], "out": _path(task, task.inputs["faceset"])}
        if task.threads:
            data["workers"] = max(1, int(task.threads))
        faceset = prepare(PrepareSettings.build(data))
    else:
        faceset = _faceset(task)
    info = faceset.info
    return {"faceset": task.inputs["faceset"], "n_images": len(faceset), "counts": faceset.counts(),
            "image_size": faceset.image_size, "synthetic": bool(info.get("synthetic", False)),
            "database": info.get("database", task.settings["database"])}, []


@job_function(JobKind.TRAIN)
def train_job(task: Task) -> tuple[dict[str, Any], list[AttackRow]]:
    """Train one model (the trainer resumes an interrupted run from its state file)."""
    from ..models.checkpoint import read_info
    from ..training.trainer import TrainSettings, train

    data = dict(task.inputs["train"])
    if task.threads:
        data["threads"] = int(task.threads)
    if task.device != "auto":
        data["device"] = task.device
    run = _path(task, task.inputs["model_dir"])
    train(TrainSettings.build(data), _faceset(task), run)
    info = read_info(run)
    keep = ("model", "input_size", "freeze", "preprocessing", "steps", "seed", "imagenet_weights", "pretrained")
    return {"model_dir": task.inputs["model_dir"], "info": {k: info[k] for k in keep if k in info}}, []


@job_function(JobKind.EVALUATE)
def evaluate_job(task: Task) -> tuple[dict[str, Any], list[AttackRow]]:
    from ..training.evaluate import evaluate

    metrics = evaluate(_path(task, task.inputs["model_dir"]), _faceset(task), device=task.device,
                       **task.inputs.get("options", {}))
    return {"model_dir": task.inputs["model_dir"], "metrics": metrics}, []


@job_function(JobKind.ATTACK)
def attack_job(task: Task) -> tuple[dict[str, Any], list[AttackRow]]:
    """Attack one shard of images with one model; PNGs go to the run directory's `adversarial/`."""
    from ..attacks import create_attack
    from ..targets.torch_target import TorchTarget
    from .attack_job import run_attack_shard
    from .plan import ATTACK_SETTINGS

    s = task.settings
    attack = create_attack(s["attack"], **{k: s[k] for k in ATTACK_SETTINGS})
    target = TorchTarget.from_checkpoint(_path(task, task.inputs["model_dir"]), device=task.device)
    try:
        rows = run_attack_shard(target, _faceset(task), s["image_ids"], attack, Path(task.run_dir), seed=s["seed"])
    finally:
        target.close()
    result = {"images": len(rows), "successes": sum(bool(r.result.success) for r in rows),
              "queries": sum(int(r.result.queries) for r in rows), "model_dir": task.inputs["model_dir"]}
    return result, list(rows)
