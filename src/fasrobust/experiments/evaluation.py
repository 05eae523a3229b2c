"""The one evaluation entry (experiments stage): attack a selection of a FaceSet's images with one attack
on one open target, shard by shard into RUN_DIR/results.sqlite, resuming what is committed.

`fasrobust attack` calls `evaluate_attack`; `fasrobust run` plans the same shards from a spec. Both select
images with `select_image_ids`, name shards with `plan_attack_jobs`, attack a shard with the `attack` job
function (`jobs.py` -> `run_attack_shard`), commit through the runner's scheduler, and count with
`attack_stats`. Before any shard the target's sanity check runs (the same image twice, one at a time vs in
a batch); a target that fails it is refused with one line. A target that fails with a contract error
(it answers every call the same way) stops the evaluation with that line; a transient failure (down,
slow, budget spent) leaves the shards to a re-run. The attack's group (its image ids and shard jobs) is
recorded in the run directory's plan.json, as `fasrobust run` records its groups, so the report can say
what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..attacks.spec import AttackSpec
from ..attacks.starts import load_starts
from ..data.faceset import FaceSet
from ..errors import DataError
from ..targets.base import Target
from ..targets.checks import check_target
from .attack_job import KIND, faceset_fingerprint, plan_attack_jobs, select_image_ids, shard_images
from .attack_stats import attack_stats
from .executors import create_executor
from .jobs import shared_target
from .plan import Job, JobKind
from .run_dir import RunDir
from .runner import run_jobs
from .spec import ImageSelection
from .store import ResultsStore, job_id

#: Images the sanity check scores (twice, and one at a time).
CHECK_IMAGES = 8


@dataclass(frozen=True)
class AttackSummary:
    """What an attack over a FaceSet selection produced (from the store, resumed shards included)."""

    images: int
    stats: dict[str, Any]  # attack_stats: recall before/after/drop with intervals, successes, queries
    jobs_run: int
    jobs_resumed: int
    jobs_failed: int
    threshold: float
    failures: dict[str, tuple[str, str]] = field(default_factory=dict)  # target id -> (message, kind)
    rows: Any = field(default=None, repr=False)  # the stored rows of these shards (a DataFrame)

    @property
    def spoofs(self) -> int:
        return int(self.stats["spoofs"])


def attack_jobs(target_id: str, target_source: dict[str, Any], faceset: FaceSet, *, attack: AttackSpec,
                selection: ImageSelection, seed: int, defences: list[dict[str, Any]] | None = None,
                max_active: int | None = None, starts: Path | None = None,
                image_ids: list[int] | None = None) -> tuple[list[Job], list[int]]:
    """The shard jobs of one (target, defence stack, attack, selection), and the FaceSet ids they attack (the
    selection's, or `image_ids`, a subset of them, as a worst-case ensemble's later attacks get).
    `max_active` (images searched side by side) travels in the jobs' inputs: it changes speed, not results."""
    ids = select_image_ids(faceset, split=selection.split, labels=selection.labels, limit=selection.limit,
                           seed=selection.seed) if image_ids is None else sorted(int(i) for i in image_ids)
    planned = plan_attack_jobs(target_id=target_id, faceset_id=faceset_fingerprint(faceset), split=selection.split,
                               labels=selection.labels.value, image_ids=ids, attack=attack, seed=seed,
                               shard_size=selection.shard_size, defences=defences,
                               starts=load_starts(starts).fingerprint() if starts else None)
    inputs = {"faceset": str(Path(faceset.root).resolve()), "target": {"id": target_id, **target_source},
              **({"attack_options": {"max_active": int(max_active)}} if max_active else {}),
              **({"starts": str(Path(starts).resolve())} if starts else {})}
    behind = f" behind {_describe(defences)}" if defences else ""
    jobs = [Job(p.job_id, JobKind.ATTACK, p.settings, inputs,
                label=f"attack{behind} {attack.describe()} shard {p.shard + 1}/{len(planned)}") for p in planned]
    return jobs, ids


def evaluate_attack(target: Target, faceset: FaceSet, *, attack: AttackSpec, run_dir: str | Path, target_id: str,
                    selection: ImageSelection, seed: int = 0, target_source: dict[str, Any] | None = None,
                    check: bool = True, defences: list[dict[str, Any]] | None = None,
                    max_active: int | None = None, starts: Path | None = None,
                    image_ids: list[int] | None = None) -> AttackSummary:
    """Attack the selection into run_dir/results.sqlite (resuming committed shards); see the module doc.
    `defences` (canonical JSON, `defences.stack_json`) puts the target behind that stack: the shards wrap it,
    the attack queries the whole pipeline, and the sanity check runs on the pipeline too. An unset `eot`
    is chosen for the pipeline (randomized or not) before the shards are named. `starts` (a FaceSet or a folder
    of images) replaces the FaceSet's live crops as the start images of a decision-based attack."""
    if faceset.root is None:
        raise DataError("the FaceSet must be on disk (write it first): attack jobs read it by path")
    attack.attack_class().check_target(target)  # a score attack on a decision target: one line, before any shard
    attack = attack.for_pipeline(randomized=_randomized(target, defences))
    jobs, ids = attack_jobs(target_id, target_source or {"source": target.name}, faceset, attack=attack,
                            selection=selection, seed=seed, defences=defences, max_active=max_active,
                            starts=starts, image_ids=image_ids)
    layout = RunDir(run_dir)
    layout.root.mkdir(parents=True, exist_ok=True)
    layout.record_groups([{"key": job_id("group", {"target": target_id, "attack": attack.as_json(), "seed": seed,
                                                    "defences": defences or [], "images": ids}),
                           "target": target_id, "attack": attack.as_json(), "seed": seed,
                           **({"defences": defences} if defences else {}), "image_ids": ids,
                           **({"trusted_model": True} if (target_source or {}).get("options", {}).get("trust_model")
                              else {}),
                           "shards": [j.id for j in jobs]}])
    with ResultsStore(layout.store_file) as store:
        todo = [j for j in jobs if not store.is_done(j.id)]
        if check and todo:
            check_target(target, shard_images(faceset, list(todo[0].settings["image_ids"])[:CHECK_IMAGES]))
        with shared_target(target_id, target), create_executor(workers=0) as executor:
            summary = run_jobs(jobs, run_dir, store=store, executor=executor, name=f"attack {attack.name}")
        frame = store.attacks()
    frame = frame[frame["job_id"].isin({j.id for j in jobs})]
    recorded = frame["threshold"].dropna()
    # A target that answers only decisions has no threshold to record (NaN).
    threshold = (float(recorded.iloc[0]) if len(recorded) else float("nan")) if len(frame) else \
        float(getattr(target, "threshold", 0.5))
    return AttackSummary(images=len(frame), stats=attack_stats(frame), jobs_run=summary.committed,
                         jobs_resumed=summary.skipped, jobs_failed=len(summary.failed) + len(summary.blocked),
                         threshold=threshold, failures=dict(summary.target_failures), rows=frame)


def _randomized(target: Target, defences: list[dict[str, Any]] | None) -> bool:
    from ..defences import parse_stack

    return bool(target.randomized) or any(s.randomized for s in parse_stack(defences or []))


def _describe(stack: list[dict[str, Any]]) -> str:
    from ..defences import describe_stack, parse_stack

    return describe_stack(parse_stack(stack))


__all__ = ["KIND", "AttackSummary", "attack_jobs", "evaluate_attack"]
