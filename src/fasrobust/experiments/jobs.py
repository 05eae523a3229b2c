"""The job functions: one thin call into a stage per job kind, run by an executor wherever it runs
them (the driver, a pool process, a Ray worker).

A job writes files only under its own paths in the run directory (the FaceSet, the model directory,
`adversarial/`) and returns its result as data: a JSON-able dict plus, for an attack shard, the
AttackRows. It never touches the results store: the driver is its only writer. `execute` never
raises: an error comes back as text in the Outcome, with `user_error` telling a bad input (one line,
the run goes on without the jobs that need it) from a bug (a traceback)."""

from __future__ import annotations

import json
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import FasrobustError, TargetError, TransientTargetError
from .plan import Job, JobKind
from .run_dir import RunDir
from .store import AttackRow

#: Test images the latency of a defended model is timed on.
LATENCY_IMAGES = 64


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
    #: The job's target failed: "contract" (it answers every call the same way: no other job on it can
    #: succeed) or "transient" (down, slow, budget spent: a later run may succeed); "" otherwise.
    target_failure: str = ""

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
    except TargetError as exc:
        kind = "transient" if isinstance(exc, TransientTargetError) or _budget_spent(exc) else "contract"
        return Outcome(task.job_id, error=str(exc), user_error=True, host=host, target_failure=kind,
                       wall_s=time.perf_counter() - start)
    except FasrobustError as exc:
        return Outcome(task.job_id, error=str(exc), user_error=True, host=host,
                       wall_s=time.perf_counter() - start)
    except Exception:  # a bug: keep the traceback for the driver to show
        return Outcome(task.job_id, error=traceback.format_exc(), host=host, wall_s=time.perf_counter() - start)
    return Outcome(task.job_id, result, rows, time.perf_counter() - start, host=host)


def _path(task: Task, recorded: str) -> Path:
    return RunDir(task.run_dir).path(recorded)


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
    train(TrainSettings.build(data), _faceset(task), run, run_root=task.run_dir)
    info = read_info(run)
    keep = ("model", "input_size", "freeze", "preprocessing", "steps", "seed", "imagenet_weights", "pretrained")
    return {"model_dir": task.inputs["model_dir"], "info": {k: info[k] for k in keep if k in info}}, []


@job_function(JobKind.EVALUATE)
def evaluate_job(task: Task) -> tuple[dict[str, Any], list[AttackRow]]:
    """A model's clean metrics on a test split: its own database's (metrics.json beside the model), another
    database's at the training database's dev threshold, or behind a deployed defence stack (both written
    under evaluations/ in the run directory, so the model's own metrics.json stays the undefended one)."""
    from ..training.evaluate import evaluate

    model_dir = _path(task, task.inputs["model_dir"])
    stack = task.inputs.get("defences") or []
    threshold_faceset = task.inputs.get("threshold_faceset")
    if not stack and threshold_faceset is None:
        metrics = evaluate(model_dir, _faceset(task), device=task.device, **task.inputs.get("options", {}))
        return {"model_dir": task.inputs["model_dir"], "metrics": metrics}, []
    from ..data.faceset import FaceSet

    out = _path(task, RunDir.evaluation_file(task.job_id))
    metrics = evaluate(model_dir, _faceset(task), device=task.device, out=out,
                       threshold_faceset=FaceSet.load(_path(task, threshold_faceset)) if threshold_faceset else None,
                       wrap=(lambda target: _defended(target, stack)) if stack else None,
                       **task.inputs.get("options", {}))
    result = {"model_dir": task.inputs["model_dir"], "metrics": metrics,
              "evaluation": RunDir.evaluation_file(task.job_id)}
    if stack:
        result["latency"] = _latency(model_dir, _faceset(task), stack, task.device)
    return result, []


def _latency(model_dir: Path, faceset, stack: list[dict[str, Any]], device: str) -> dict[str, float]:
    """Milliseconds per image of the model alone and behind the stack, measured side by side on the same
    test images (best of three rounds each, interleaved, so a busy machine slows both alike)."""
    from ..targets.torch_target import TorchTarget

    images = faceset.split("test").images[:LATENCY_IMAGES]
    raw = TorchTarget.from_checkpoint(model_dir, device=device)
    defended = _defended(raw, stack)
    best = {"undefended": float("inf"), "defended": float("inf")}
    for _ in range(3):
        for name, target in (("undefended", raw), ("defended", defended)):
            start = time.perf_counter()
            target(images)
            best[name] = min(best[name], (time.perf_counter() - start) * 1000 / len(images))
    return {"undefended_ms_per_image": round(best["undefended"], 4), "defended_ms_per_image": round(best["defended"], 4),
            "ratio": round(best["defended"] / best["undefended"], 3), "images": len(images)}


def _budget_spent(exc: Exception) -> bool:
    from ..targets.base import QueryBudgetExceeded

    return isinstance(exc, QueryBudgetExceeded)


# Targets the driver opened itself (`fasrobust attack` on an ONNX file, a service, ...), for the jobs it
# runs in its own process: they use that one object (its connection, its query budget) instead of
# opening the target again. Workers elsewhere open their own from the job's `inputs["target"]`.
_SHARED_TARGETS: dict[str, Any] = {}
#: (target id, defence stack as JSON) pairs whose sanity check passed in this process.
_CHECKED_TARGETS: set[tuple[str, str]] = set()


class shared_target:
    """`with shared_target(target_id, target): ...` lends an open target to in-process attack jobs; the
    driver has already run the sanity check on it."""

    def __init__(self, target_id: str, target: Any):
        self.target_id, self.target = target_id, target

    def __enter__(self) -> Any:
        _SHARED_TARGETS[self.target_id] = self.target
        _CHECKED_TARGETS.add((self.target_id, "[]"))
        return self.target

    def __exit__(self, *exc) -> None:
        _SHARED_TARGETS.pop(self.target_id, None)
        _CHECKED_TARGETS.discard((self.target_id, "[]"))


def _defended(target, stack: list[dict[str, Any]]):
    """The target behind its defence stack (the target itself when there is none)."""
    if not stack:
        return target
    from ..defences import defend, parse_stack

    return defend(target, parse_stack(stack))


def _open_target(task: Task):
    """(target, whether this job owns it and must close it)."""
    spec = task.inputs["target"]
    if spec["id"] in _SHARED_TARGETS:
        return _SHARED_TARGETS[spec["id"]], False
    from ..targets import load_target

    source = spec["source"]
    path = _path(task, source) if "://" not in source and not source.startswith("python:") else source
    options = dict(spec.get("options") or {})
    if spec.get("contract"):
        options["contract"] = spec["contract"]
    if task.device != "auto" and not options.get("contract"):
        options.setdefault("device", task.device)
    return load_target(path, **options), True


@job_function(JobKind.ATTACK)
def attack_job(task: Task) -> tuple[dict[str, Any], list[AttackRow]]:
    """Attack one shard of images with one target; PNGs go to the run directory's `adversarial/`. The
    target's sanity check runs before its first shard in each process."""
    from ..attacks.starts import load_starts
    from ..targets.checks import check_target
    from .attack_job import attack_of, run_attack_shard, shard_images

    s = task.settings
    attack = attack_of(s).attack(**task.inputs.get("attack_options", {}))
    faceset = _faceset(task)
    target, owned = _open_target(task)
    stack = s.get("defences") or []
    try:
        # The attack queries the whole defended pipeline as a black box, so it adapts to any deterministic
        # transform by construction; its successes are re-verified through the pipeline a user deploys.
        attacked = _defended(target, stack)
        checked = (task.inputs["target"]["id"], json.dumps(stack, sort_keys=True))
        if checked not in _CHECKED_TARGETS:
            check_target(attacked, shard_images(faceset, s["image_ids"]))
            _CHECKED_TARGETS.add(checked)
        starts = load_starts(task.inputs["starts"]) if task.inputs.get("starts") else None
        rows = run_attack_shard(attacked, faceset, s["image_ids"], attack, Path(task.run_dir), seed=s["seed"],
                                defences=stack, starts=starts)
    finally:
        if owned:
            target.close()
    result = {"images": len(rows), "successes": sum(bool(r.result.success) for r in rows),
              "queries": sum(int(r.result.queries) for r in rows),
              "verification_queries": sum(int(r.result.extra.get("verification_queries", 0)) for r in rows),
              "target": task.inputs["target"]["id"]}
    return result, list(rows)
