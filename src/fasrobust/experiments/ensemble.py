"""The worst case over the declared ensemble of attacks (`attacks/ensemble.py`), run as AutoAttack runs it
(Croce and Hein, 2020): a defence is judged by the strongest attack that sees it, not by the one that
happens to run. A randomized pipeline is attacked with expectation over transformation (every attack's
`eot`, chosen for the pipeline, recorded). Each image stops at its first verified success: a later attack
gets only the images still standing, so the queries spent are those the worst case needs. Each attack is
stored like any other (`evaluate_attack`: shards, resumable), and the ensemble itself in plan.json
(`RunDir.record_ensemble`) with its image ids and attacks, so the report can take the worst case per image
and name the attack that broke it.

A spec's ensemble entry runs every attack on every image instead (the per-attack columns beside the worst
case need them all); `worst_case_rows` gives the same worst case from those rows: per-image streams make an
attack's result independent of which attack ran before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..attacks.ensemble import ensemble_attacks
from ..data.faceset import FaceSet
from ..metrics import wilson_interval
from ..targets.base import Target
from .attack_job import select_image_ids
from .attack_stats import caught_before, fooled_within, spoof_rows
from .evaluation import evaluate_attack
from .run_dir import RunDir
from .spec import ImageSelection
from .store import job_id


@dataclass(frozen=True)
class EnsembleSummary:
    pixels: int
    queries: int
    spoofs: int  # spoof images in the selection
    caught: int  # of them, called spoof before any attack
    standing: int  # of those, called spoof after every attack: the worst case
    robust_recall: float  # percent of the spoofs still caught after the worst case
    robust_recall_ci: tuple[float, float]
    broken_by: dict[str, int] = field(default_factory=dict)  # attack -> images it broke first
    failures: dict[str, tuple[str, str]] = field(default_factory=dict)


def run_ensemble(target: Target, faceset: FaceSet, *, run_dir, target_id: str, selection: ImageSelection,
                 pixels: int, queries: int, seed: int = 0, defences: list[dict[str, Any]] | None = None,
                 target_source: dict[str, Any] | None = None, max_active: int | None = None) -> EnsembleSummary:
    """Run the ensemble on the selection's spoofs (see the module doc) and record it in plan.json."""
    ids = select_image_ids(faceset, split=selection.split, labels="spoof", limit=selection.limit,
                           seed=selection.seed)
    standing, caught, broken_by, groups, failures = list(ids), None, {}, [], {}
    for attack in ensemble_attacks(pixels, queries):
        if not standing:
            break
        summary = evaluate_attack(target, faceset, attack=attack, run_dir=run_dir, target_id=target_id,
                                  selection=selection, seed=seed, target_source=target_source, defences=defences,
                                  max_active=max_active, image_ids=standing, check=caught is None)
        failures.update(summary.failures)
        rows = summary.rows
        groups.append({"attack": attack.as_json(), "images": len(standing),
                       "jobs": sorted(set(rows["job_id"].astype(str)))})
        if caught is None:  # the first attack asked about every image: which were caught before any change
            caught = set(rows["image_id"][caught_before(rows)].astype(int))
            standing = [i for i in standing if i in caught]
        fooled = set(rows["image_id"][fooled_within(rows)].astype(int)) & set(standing)
        broken_by[attack.name] = len(fooled)
        standing = [i for i in standing if i not in fooled]
    caught = caught or set()
    low, high = wilson_interval(len(standing), len(ids))
    RunDir(run_dir).record_ensemble({
        "key": job_id("ensemble", {"target": target_id, "defences": defences or [], "pixels": pixels,
                                   "queries": queries, "seed": seed, "images": ids}),
        "target": target_id, "defences": defences or [], "pixels": pixels, "queries": queries, "seed": seed,
        "image_ids": ids, "attacks": groups})
    return EnsembleSummary(pixels, queries, len(ids), len(caught), len(standing), 100 * len(standing) / len(ids),
                           (100 * low, 100 * high), broken_by, failures)


def worst_case_rows(members: list[tuple[str, pd.DataFrame, float | None]],
                    image_ids: list[int] | None = None) -> pd.DataFrame:
    """The worst case over attacks, as attack rows (`attack_stats` reads them): `members` are (name, rows,
    query budget or None for each row's own) in the ensemble's order. One row per spoof image (FaceSet id) of
    `image_ids`, or by default of the images every member attacked; a member with no row for an image did not
    attack it (a `fasrobust robustness` ensemble gives a later attack only the images still standing). An
    image is called live when a member fooled it within its budget, `broken_by` the first such member (''
    none, 'already live' when no change was needed), `queries` what the ensemble run in this order spends on
    it (each earlier member's queries before the one that broke it), `verified` that member's verification.
    The first member must hold every image (it is asked about each one before any change)."""
    spoofs = [(name, spoof_rows(rows).drop_duplicates("image_id").set_index("image_id"), budget)
              for name, rows, budget in members]
    if image_ids is None:
        image_ids = sorted(set.intersection(*(set(r.index.astype(int)) for _, r, _ in spoofs))) if spoofs else []
    ids = [int(i) for i in image_ids if spoofs and int(i) in spoofs[0][1].index]
    if not ids:
        return pd.DataFrame(columns=["image_id", "attack_type", "source", "already_live", "is_spoof", "success",
                                     "queries", "verified", "broken_by"])
    base = spoofs[0][1].loc[ids]
    out = pd.DataFrame({"image_id": ids, "attack_type": base["attack_type"].to_numpy(),
                        "source": base["source"].to_numpy() if "source" in base else np.asarray(ids).astype(str),
                        "already_live": base["already_live"].to_numpy(dtype=bool), "is_spoof": True})
    if "database" in base:
        out["database"] = base["database"].to_numpy()
    broken = np.where(out["already_live"], "already live", "").astype(object)
    spent = np.where(out["already_live"], 1.0, 0.0)
    verified = np.where(out["already_live"], 1.0, 0.0)
    for name, rows, budget in spoofs:
        attacked = np.isin(ids, rows.index.astype(int))
        rows = rows.reindex(ids)
        won = np.zeros(len(ids), dtype=bool)
        won[attacked] = fooled_within(rows[attacked], budget)
        won &= broken == ""
        used = rows["queries"].to_numpy(dtype=float)
        spend = np.where(won, used, _spent_without_success(rows, budget))
        spent = np.where((broken == "") & attacked, spent + spend, spent)
        verified = np.where(won, rows["verified"].fillna(0).to_numpy(dtype=float), verified)
        broken = np.where(won, name, broken)
    out["success"] = (broken != "") & ~out["already_live"].to_numpy(dtype=bool)
    out["queries"] = spent
    out["verified"] = verified
    out["broken_by"] = broken
    return out


def _spent_without_success(rows: pd.DataFrame, budget: float | None) -> np.ndarray:
    """Queries an attack spends on an image it does not break within `budget` (its stored queries, capped)."""
    used = rows["queries"].to_numpy(dtype=float)
    return used if budget is None else np.minimum(used, float(budget))
