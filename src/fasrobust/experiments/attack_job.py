"""Attack jobs (experiments stage): which images of a FaceSet to attack, cut into shards with stable job
ids, and the shard runner that attacks one shard, writes its PNGs and returns rows for the store.

A shard is the unit of work and of resumption: its rows and its job row are committed in one
transaction, so an interrupted attack loses at most the shard in flight, and a re-run skips what is
committed. Each image's random stream comes from (seed, FaceSet id), so a shard's rows are the same
whichever shards ran before it, and however the images are grouped into shards.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..attacks.base import Attack
from ..attacks.result import AttackResult, apply_perturbation
from ..attacks.verify import decode_png, write_png
from ..attacks.visual import side_by_side
from ..data.faceset import FaceSet
from ..errors import AttackError, DataError, TargetError
from ..labels import BONA_FIDE, Label
from ..metrics import recall_drop, spoof_recall
from ..progress import progress_bar
from ..provenance import file_sha256
from ..targets.base import QueryBudgetExceeded, Target
from .store import AttackRow, ResultsStore, job_id

KIND = "attack"
ADVERSARIAL_DIR = "adversarial"


class LabelSelection(StrEnum):
    SPOOF = "spoof"  # the paper: spoof faces pushed towards live
    ALL = "all"  # live faces too; they count as already live (recall is over spoofs only)

    @classmethod
    def parse(cls, value: str | LabelSelection) -> LabelSelection:
        try:
            return cls(str(value).lower())
        except ValueError:
            raise AttackError(f"unknown label selection {value!r} (spoof or all)") from None


@dataclass(frozen=True)
class AttackJob:
    """One shard: a job id for the store, the settings that define it, and its FaceSet ids."""

    job_id: str
    shard: int
    image_ids: tuple[int, ...]
    settings: dict[str, Any]


def select_image_ids(faceset: FaceSet, *, split: str, labels: LabelSelection | str = LabelSelection.SPOOF,
                     limit: int | None = None, seed: int = 0) -> list[int]:
    """FaceSet ids to attack, ascending. `limit` keeps a seeded random sample (the paper's Fig. 5
    uses 40 random spoof images), so a limited run still spans many recordings."""
    subset = faceset.split(split)
    meta = subset.meta
    if LabelSelection.parse(labels) is LabelSelection.SPOOF:
        meta = meta[meta["label"] == Label.SPOOF.value]
    ids = np.sort(meta["id"].to_numpy(dtype=np.int64))
    if len(ids) == 0:
        raise AttackError(f"no {labels} images to attack in split '{split}'")
    if limit is not None:
        if limit < 1:
            raise AttackError(f"limit must be >= 1, got {limit}")
        if limit < len(ids):
            ids = np.sort(np.random.default_rng(seed).choice(ids, size=limit, replace=False))
    return [int(i) for i in ids]


def faceset_fingerprint(faceset: FaceSet) -> str:
    """Identifies a FaceSet in job ids: the hash of its faceset.json (written once per FaceSet), or of
    its metadata for one that was never written."""
    if faceset.root is not None and (Path(faceset.root) / "faceset.json").is_file():
        return file_sha256(Path(faceset.root) / "faceset.json")[:16]
    return hashlib.sha256(faceset.meta.to_csv(index=False).encode()).hexdigest()[:16]


def plan_attack_jobs(*, target_id: str, faceset_id: str, split: str, image_ids: Sequence[int], attack: Attack,
                     seed: int, shard_size: int = 64) -> list[AttackJob]:
    """Cut `image_ids` into shards of `shard_size` and name each by everything that defines it."""
    if shard_size < 1:
        raise AttackError(f"shard size must be >= 1, got {shard_size}")
    if not image_ids:
        raise AttackError("no images to attack (the selection is empty)")
    jobs = []
    for shard, start in enumerate(range(0, len(image_ids), shard_size)):
        ids = tuple(int(i) for i in image_ids[start:start + shard_size])
        settings = {"target": target_id, "faceset": faceset_id, "split": split, "attack": attack.name,
                    **attack.settings(), "seed": int(seed), "shard": shard, "image_ids": list(ids)}
        jobs.append(AttackJob(job_id(KIND, settings), shard, ids, settings))
    return jobs


def png_folder(target: Target, attack: Attack, seed: int) -> str:
    """adversarial/<attack>-d<pixels>-<hash>: one folder per (target, attack settings, seed)."""
    digest = hashlib.sha256(repr((target.name, sorted(attack.settings().items()), seed)).encode()).hexdigest()
    pixels = attack.settings().get("pixels", "")
    return f"{ADVERSARIAL_DIR}/{attack.name}-d{pixels}-{digest[:10]}"


def run_attack_shard(target: Target, faceset: FaceSet, image_ids: Sequence[int], attack: Attack,
                     run_dir: str | Path, *, seed: int,
                     on_result: Callable[[AttackResult], None] | None = None) -> list[AttackRow]:
    """Attack the images with these FaceSet ids; write each reported success's adversarial PNG and a
    side-by-side PNG under run_dir; return one AttackRow per image (in `image_ids` order).

    The attack itself re-verifies every success through an in-memory PNG round trip and a query; here
    the file written to disk is read back and compared pixel for pixel with the image that was checked,
    so the PNG a user opens is exactly the verified one."""
    run_dir = Path(run_dir)
    positions = pd.Index(faceset.meta["id"]).get_indexer(list(image_ids))
    if (positions < 0).any():
        missing = [i for i, p in zip(image_ids, positions, strict=True) if p < 0][:5]
        raise DataError(f"FaceSet has no images with ids {missing}", faceset.root)
    images = np.ascontiguousarray(faceset.images[positions])
    results = attack.run(target, images, seed=seed, ids=np.asarray(image_ids, dtype=np.int64), on_result=on_result)
    folder = png_folder(target, attack, seed)
    settings = attack.settings()
    rows = []
    for position, result in zip(positions, results, strict=True):
        meta = faceset.meta.iloc[position]
        png = None
        if result.verified is not None:  # an attacked image the attack reported as live
            png = f"{folder}/{int(meta['id'])}.png"
            result = _write_and_check(run_dir, png, images[result.index], result)
        rows.append(AttackRow(image_id=int(meta["id"]), source=str(meta["source"]), split=str(meta["split"]),
                              attack_type=str(meta["attack_type"]), iterations=int(settings.get("iterations", 0)),
                              population=int(settings.get("population", 0)), result=result, png=png))
    return rows


def _write_and_check(run_dir: Path, png: str, original: np.ndarray, result: AttackResult) -> AttackResult:
    adversarial = apply_perturbation(original, result.perturbation)
    write_png(run_dir / png, adversarial)
    write_png(run_dir / png.replace(".png", "_side.png"), side_by_side(original, adversarial, result.perturbation))
    if np.array_equal(decode_png((run_dir / png).read_bytes()), adversarial):
        return result
    return dataclasses.replace(result, success=False, verified=False,
                               note=f"{png} does not read back as the verified image")


@dataclass(frozen=True)
class AttackSummary:
    """What an attack over a FaceSet selection produced (from the store, resumed shards included)."""

    images: int
    spoofs: int
    recall_before: float  # spoofs called spoof at 0.5 before the attack / spoofs attacked
    recall_after: float  # spoofs still called spoof after the attack / spoofs attacked
    recall_drop: float  # percentage points, as the paper prints it (metrics.recall_drop)
    successes: int
    not_verified: int  # reported live by the search but not on the PNG re-check
    queries: int
    jobs_run: int
    jobs_resumed: int
    jobs_failed: int


def recall_summary(rows: pd.DataFrame) -> dict[str, float | int]:
    """The paper's recall before/after the attack and its drop, over the spoof rows of `rows`."""
    spoofs = rows[rows["attack_type"] != BONA_FIDE]
    n = len(spoofs)
    if n == 0:
        return {"spoofs": 0, "recall_before": float("nan"), "recall_after": float("nan"), "recall_drop": float("nan")}
    before = spoof_recall(spoofs["p_live_before"].to_numpy(), np.zeros(n, dtype=bool))
    after = float((~spoofs["success"].astype(bool)).mean())  # a verified success is a spoof called live
    return {"spoofs": n, "recall_before": before, "recall_after": after, "recall_drop": recall_drop(before, after)}


def attack_faceset(target: Target, faceset: FaceSet, *, attack: Attack, run_dir: str | Path, target_id: str,
                   split: str = "test", labels: LabelSelection | str = LabelSelection.SPOOF,
                   limit: int | None = None, seed: int = 0, shard_size: int = 64) -> AttackSummary:
    """Attack a FaceSet selection shard by shard into run_dir/results.sqlite, resuming finished shards.

    A shard whose target fails (TargetError: an endpoint down, a query budget spent) is recorded in the
    store's failures table and skipped, never stored as attack failures; a re-run attacks it again.
    After a spent query budget no further shard is tried."""
    ids = select_image_ids(faceset, split=split, labels=labels, limit=limit, seed=seed)
    jobs = plan_attack_jobs(target_id=target_id, faceset_id=faceset_fingerprint(faceset), split=split,
                            image_ids=ids, attack=attack, seed=seed, shard_size=shard_size)
    run, resumed, failed = 0, 0, 0
    with ResultsStore(Path(run_dir) / "results.sqlite") as store, progress_bar() as bar:
        task = bar.add_task("attack", total=len(ids), info="")
        done = store.done_jobs(KIND)
        tally = {"done": 0, "success": 0, "queries0": target.queries, "t0": time.perf_counter()}

        def tick(result: AttackResult) -> None:
            tally["done"] += 1
            tally["success"] += int(result.success)
            rate = (target.queries - tally["queries0"]) / max(time.perf_counter() - tally["t0"], 1e-9)
            bar.update(task, advance=1, info=f"success {tally['success']}/{tally['done']} "
                                             f"({100 * tally['success'] / tally['done']:.0f}%) | {rate:,.0f} q/s")

        for job in jobs:
            if job.job_id in done:
                resumed += 1
                bar.advance(task, len(job.image_ids))
                continue
            started = time.perf_counter()
            try:
                rows = run_attack_shard(target, faceset, job.image_ids, attack, run_dir, seed=seed, on_result=tick)
            except TargetError as exc:
                failed += 1
                store.record_failure(job.job_id, f"shard {job.shard}: {exc}")
                if isinstance(exc, QueryBudgetExceeded):
                    break
                continue
            store.commit_job(job.job_id, KIND, job.settings, _shard_result(rows),
                             wall_s=time.perf_counter() - started, attack_rows=rows)
            run += 1
        frame = store.attacks()
    frame = frame[frame["job_id"].isin({job.job_id for job in jobs})]
    recall = recall_summary(frame)
    return AttackSummary(images=len(frame), spoofs=int(recall["spoofs"]), recall_before=recall["recall_before"],
                         recall_after=recall["recall_after"], recall_drop=recall["recall_drop"],
                         successes=int(frame["success"].sum()),
                         not_verified=int((frame["verified"] == 0).sum()), queries=int(frame["queries"].sum()),
                         jobs_run=run, jobs_resumed=resumed, jobs_failed=failed)


def _shard_result(rows: Sequence[AttackRow]) -> dict[str, Any]:
    return {"images": len(rows), "successes": sum(int(r.result.success) for r in rows),
            "queries": sum(int(r.result.queries) for r in rows),
            "verification_queries": sum(int(r.result.extra.get("verification_queries", 0)) for r in rows)}
