"""Attack jobs (experiments stage): which images of a FaceSet to attack, cut into shards with stable job
ids, and the shard runner that attacks one shard, writes its PNGs and returns rows for the store. Both
`fasrobust attack` and `fasrobust run` plan and run their shards with these (`evaluation.py`, `jobs.py`).

A shard is the unit of work and of resumption: its rows and its job row are committed in one
transaction, so an interrupted attack loses at most the shard in flight, and a re-run skips what is
committed. Each image's random stream comes from (seed, FaceSet id), so a shard's rows are the same
whichever shards ran before it, and however the images are grouped into shards.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..attacks.base import DECISION, Attack
from ..attacks.result import AttackResult, apply_perturbation
from ..attacks.spec import AttackSpec
from ..attacks.starts import StartPool
from ..attacks.verify import decode_png, write_png
from ..attacks.visual import side_by_side
from ..data.faceset import FaceSet
from ..errors import AttackError, DataError
from ..labels import Label
from ..provenance import file_sha256
from ..targets.base import Target
from .run_dir import RunDir
from .store import AttackRow, job_id

KIND = "attack"


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


def plan_attack_jobs(*, target_id: str, faceset_id: str, split: str, labels: str, image_ids: Sequence[int],
                     attack: AttackSpec, seed: int, shard_size: int = 64,
                     defences: Sequence[Mapping[str, Any]] | None = None,
                     system: Mapping[str, Any] | None = None, starts: str | None = None) -> list[AttackJob]:
    """Cut `image_ids` into shards of `shard_size` and name each by everything that defines it: the target,
    the FaceSet and its images, the attack as `{name, settings}`, the seed, the deployed defence stack
    (canonical JSON, `defences.stack_json`, when there is one) and, for a model an experiment trained, its
    identity under "system" (what the report groups by), and the fingerprint of a user's own start images for
    a decision-based attack (`starts`; the default, the FaceSet's live crops, is the FaceSet's own)."""
    if shard_size < 1:
        raise AttackError(f"shard size must be >= 1, got {shard_size}")
    if not image_ids:
        raise AttackError("no images to attack (the selection is empty)")
    jobs = []
    for shard, start in enumerate(range(0, len(image_ids), shard_size)):
        ids = tuple(int(i) for i in image_ids[start:start + shard_size])
        settings = {"target": target_id, "faceset": faceset_id, "split": split, "labels": str(labels),
                    "attack": attack.as_json(), "seed": int(seed), "shard": shard, "image_ids": list(ids)}
        if system:
            settings["system"] = dict(system)
        if defences:
            settings["defences"] = [dict(d) for d in defences]
        if starts:
            settings["starts"] = starts
        jobs.append(AttackJob(job_id(KIND, settings), shard, ids, settings))
    return jobs


def attack_of(settings: Mapping[str, Any]) -> AttackSpec:
    """The attack a job's settings name."""
    return AttackSpec.of(settings["attack"])


def png_folder(target: Target, attack: Attack, seed: int, defences: Sequence[Mapping[str, Any]] | None = None) -> str:
    """adversarial/<attack>-<hash>: one folder per (target, defence stack, attack settings, seed)."""
    key = (target.name, attack.config.digest(), seed) + ((json.dumps(list(defences), sort_keys=True),)
                                                         if defences else ())
    digest = hashlib.sha256(repr(key).encode()).hexdigest()
    return RunDir.adversarial_folder(f"{attack.name}-{digest[:10]}")


def run_attack_shard(target: Target, faceset: FaceSet, image_ids: Sequence[int], attack: Attack,
                     run_dir: str | Path, *, seed: int, defences: Sequence[Mapping[str, Any]] | None = None,
                     on_result: Callable[[AttackResult], None] | None = None,
                     starts: StartPool | None = None) -> list[AttackRow]:
    """Attack the images with these FaceSet ids; write each reported success's adversarial PNG and a
    side-by-side PNG under run_dir; return one AttackRow per image (in `image_ids` order).

    The attack itself re-verifies every success through an in-memory PNG round trip and a query; here
    the file written to disk is read back and compared pixel for pixel with the image that was checked,
    so the PNG a user opens is exactly the verified one.

    A decision-based attack starts from `starts`, by default the FaceSet's live crops of the attacked split
    (each spoof's own subject left out; `attacks/starts.py` gives the rule)."""
    run_dir = Path(run_dir)
    positions = _positions(faceset, image_ids)
    images = np.ascontiguousarray(faceset.images[positions])
    meta = faceset.meta.iloc[positions]
    if attack.reads == DECISION and starts is None:
        starts = StartPool.from_faceset(faceset, split=str(meta["split"].iloc[0]))
    results = attack.run(target, images, seed=seed, ids=np.asarray(image_ids, dtype=np.int64), on_result=on_result,
                         starts=starts, subjects=meta["subject"].astype(str).tolist())
    folder = png_folder(target, attack, seed, defences)
    spec = AttackSpec.from_settings(attack.name, attack.config)
    rows = []
    for position, result in zip(positions, results, strict=True):
        meta = faceset.meta.iloc[position]
        png = None
        if result.verified is not None:  # an attacked image the attack reported as live
            png = f"{folder}/{int(meta['id'])}.png"
            result = _write_and_check(run_dir, png, images[result.index], result)
        rows.append(AttackRow(image_id=int(meta["id"]), source=str(meta["source"]), split=str(meta["split"]),
                              attack_type=str(meta["attack_type"]), attack=spec, result=result, png=png,
                              start_image_id=result.start_id))
    return rows


def _positions(faceset: FaceSet, image_ids: Sequence[int]) -> np.ndarray:
    positions = pd.Index(faceset.meta["id"]).get_indexer(list(image_ids))
    if (positions < 0).any():
        missing = [i for i, p in zip(image_ids, positions, strict=True) if p < 0][:5]
        raise DataError(f"FaceSet has no images with ids {missing}", faceset.root)
    return positions


def shard_images(faceset: FaceSet, image_ids: Sequence[int]) -> np.ndarray:
    """uint8 (n, H, W, 3) images of these FaceSet ids, in that order."""
    return np.ascontiguousarray(faceset.images[_positions(faceset, image_ids)])


def _write_and_check(run_dir: Path, png: str, original: np.ndarray, result: AttackResult) -> AttackResult:
    adversarial = apply_perturbation(original, result.perturbation)
    write_png(run_dir / png, adversarial)
    write_png(run_dir / png.replace(".png", "_side.png"), side_by_side(original, adversarial, result.perturbation))
    if np.array_equal(decode_png((run_dir / png).read_bytes()), adversarial):
        return result
    return dataclasses.replace(result, success=False, verified=False,
                               note=f"{png} does not read back as the verified image")
