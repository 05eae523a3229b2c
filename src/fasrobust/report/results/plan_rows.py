"""The plan as frames (report stage, results reader): the points each study asked for, and the attack
groups with the images each expected and the shard jobs that attack them (`plan.json`, which the runner
and `fasrobust attack` keep), so what a partly finished run lacks is a set difference: the planned jobs
not finished, and per group the expected image ids not stored.

Points and groups written before attacks travelled as `{name, settings}` (a flat `attack` name beside
`settings`, the model's identity beside both) read the same; groups that recorded no image ids (an old
plan) are not judged."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from .attack_rows import attack_columns
from .model_rows import NO_DEFENCE, describe_defences, job_stack, missing

STUDY_COLUMNS = ["study", "database", "model_key", "target_id", "defence", "train_database", "attack", "settings",
                 "seed", "group", "pixels", "budget", "budget_field", "eot_draws", "setting", "setting_key"]


def _attack_of(point: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    attack = point.get("attack")
    if isinstance(attack, Mapping):
        return str(attack.get("name")), dict(attack.get("settings") or {})
    return str(attack or "pixel"), dict(point.get("settings") or {})


def _system_of(point: Mapping[str, Any]) -> dict[str, Any]:
    system = point.get("system")
    return dict(system) if isinstance(system, Mapping) else dict(point)


def study_points(plan: Mapping[str, Any]) -> pd.DataFrame:
    """One row per point a study asked for (see STUDY_COLUMNS)."""
    rows = []
    for study, points in (plan.get("studies") or {}).items():
        for point in points or []:
            if not isinstance(point, Mapping):
                continue
            attack, settings = _attack_of(point)
            system = _system_of(point)
            rows.append({"study": str(study), "database": system.get("database"),
                         "model_key": str(system.get("train_job") or point.get("target_id") or ""),
                         "target_id": point.get("target_id"), "defence": describe_defences(job_stack(dict(point))),
                         "train_database": None if missing(system.get("train_database")) else
                         system.get("train_database"), "attack": attack, "settings": settings,
                         "seed": int(point.get("seed", 0)), "group": str(point.get("group") or "")})
    frame = pd.DataFrame(rows, columns=STUDY_COLUMNS[:10])
    generic = attack_columns(frame["attack"], frame["settings"], frame["seed"]) if len(frame) else \
        pd.DataFrame(columns=STUDY_COLUMNS[10:])
    return pd.concat([frame, generic], axis=1)[STUDY_COLUMNS]


def attack_groups(plan: Mapping[str, Any]) -> pd.DataFrame:
    """One row per attack group: its key, database, attack, label, and (once sharded) its image ids and shards."""
    rows = []
    for group in plan.get("attack_groups") or []:
        if not isinstance(group, Mapping) or not group.get("key"):
            continue
        attack, settings = _attack_of(group)
        system = _system_of(group)
        ids = group.get("image_ids")
        rows.append({"key": str(group["key"]), "database": group.get("database") or system.get("database"),
                     "attack": attack, "settings": settings, "defence": describe_defences(job_stack(dict(group))),
                     "label": _label(attack, settings, system, group),
                     "image_ids": None if ids is None else frozenset(int(i) for i in ids),
                     "shards": tuple(group.get("shards") or ())})
    return pd.DataFrame(rows, columns=["key", "database", "attack", "settings", "defence", "label", "image_ids",
                                       "shards"])


def groups_of_jobs(groups: pd.DataFrame) -> dict[str, str]:
    """Shard job id -> the group it belongs to."""
    return {job: key for key, shards in zip(groups["key"], groups["shards"], strict=True) for job in shards}


def missing_work(plan: Mapping[str, Any], done: set[str], failed: Mapping[str, str], groups: pd.DataFrame,
                 attacks: pd.DataFrame) -> list[str]:
    """What the plan asked for and the store does not hold: unfinished jobs (with the last failure's line),
    and per sharded group the expected images no stored row answers."""
    out = []
    for job in plan.get("jobs") or []:
        if isinstance(job, Mapping) and job.get("id") not in done:
            reason = failed.get(job.get("id"))
            out.append(f"{job.get('label') or job.get('id')}: "
                       + (f"failed ({_last_line(reason)})" if reason else "not finished"))
    stored = attacks.groupby("group")["image_id"].agg(lambda ids: frozenset(int(i) for i in ids)).to_dict() \
        if len(attacks) else {}
    for group in groups.itertuples():
        if group.image_ids is None:
            continue
        lacking = group.image_ids - stored.get(group.key, frozenset())
        if lacking:
            done_here = len(group.image_ids) - len(lacking)
            out.append(f"{group.label}: {done_here} of {len(group.image_ids)} images attacked")
    return out


def _label(attack: str, settings: Mapping[str, Any], system: Mapping[str, Any], group: Mapping[str, Any]) -> str:
    """"pixel attacks on 3dmad (shift, 50000 steps) behind median:3, 9 px, 200 iterations"."""
    stack = describe_defences(job_stack(dict(group)))
    behind = "" if stack == NO_DEFENCE else f" behind {stack}"
    model = ", ".join(str(system[k]) + (" steps" if k == "steps" else "") for k in ("augment", "steps")
                      if system.get(k) is not None)
    trained = f", trained on {system['train_database']}" if system.get("train_database") else ""
    columns = attack_columns(pd.Series([attack]), pd.Series([dict(settings)]), pd.Series([0])).iloc[0]
    budget = f", {columns['budget']} {columns['budget_field']}" if columns["budget_field"] else ""
    where = group.get("database") or system.get("database") or "the FaceSet"
    return (f"{attack} attacks on {where}" + (f" ({model}{trained})" if model else "")
            + f"{behind}, {columns['pixels']} px{budget}")


def _last_line(text: str | None) -> str:
    lines = [line for line in str(text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""
