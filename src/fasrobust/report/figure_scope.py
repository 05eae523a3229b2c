"""Which stored rows a figure may draw: the paper's figures show undefended models attacked on their own
database, and only the settings the study behind the figure asked for (plan.json `studies`); the
defence figure shows every defence stack. Report stage: RunData -> rows and study scopes for figures.py
and figures_defences.py.

A defence stack is named as the data layer names it (data.describe_defences: "median:3 + jpeg:75",
"none" when undefended); its `defence` and `train_database` columns are used when it has them, else the
same facts are read from each attack job's settings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .data import NO_DEFENCE, RunData, attack_columns, deployed_stack, describe_defences

UNDEFENDED = NO_DEFENCE


def stack_label(stack: Sequence[Mapping[str, Any]] | None) -> str:
    """"median:3 + jpeg:75" for [{"name": "median", "size": 3}, {"name": "jpeg", "quality": 75}], "none" for []."""
    return describe_defences([dict(d) for d in stack or []])


def deployed(stack: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """The stack a user ships: without the attacker's expectation over transformation."""
    return deployed_stack([dict(d) for d in stack or []])


def _job_settings(data: RunData, kind: str) -> dict[str, dict[str, Any]]:
    return {row.job_id: row.settings for row in data.jobs.itertuples() if row.kind == kind} if len(data.jobs) else {}


def with_defences(data: RunData) -> pd.DataFrame:
    """The attack rows with `defence` (stack label), `deployed_defence` (without eot) and `train_database`
    (missing, NaN, on the model's own database) always present."""
    rows = data.attacks.copy()
    if rows.empty:
        return rows.assign(defence=[], deployed_defence=[], train_database=[], database=[])
    settings = _job_settings(data, "attack")
    stacks = [settings.get(j, {}).get("defences") or [] for j in rows.get("job_id", [])]
    if "defence" not in rows.columns:
        rows["defence"] = [stack_label(s) for s in stacks]
    if "deployed_defence" not in rows.columns:
        rows["deployed_defence"] = [stack_label(deployed(s)) for s in stacks]
    if "train_database" not in rows.columns:
        rows["train_database"] = [settings.get(j, {}).get("train_database") for j in rows.get("job_id", [])]
    rows["train_database"] = [None if _blank(t) or t == db else str(t)
                              for t, db in zip(rows["train_database"], rows["database"], strict=True)]
    return rows


def paper_scope(data: RunData) -> RunData:
    """The run as the paper's figures see it: undefended models attacked on their own database."""
    rows = with_defences(data)
    keep = (rows["defence"] == UNDEFENDED) & rows["train_database"].isna()
    return dataclasses.replace(data, attacks=data.attacks[keep.to_numpy()])


def _blank(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value) or value == ""


# ----- the study behind a figure ---------------------------------------------------------------------------
@dataclass(frozen=True)
class StudyScope:
    """What one study asked of one attack on one database: its models, the values of the setting it
    varies, and the attack configurations (data.attack_columns' `setting_key`) and pixel counts it ran."""

    name: str
    field: str
    values: tuple[int, ...]
    budgets: tuple[int, ...]  # the values of the attack's budget field the study asked for
    models: tuple[str, ...]  # train job ids or external target ids, in the plan's order
    setting_keys: frozenset[str]
    pixels: tuple[int, ...]


def study_scope(data: RunData, database: str, attack: str, field: str, prefer: str) -> StudyScope | None:
    """The study that varies `field` of `attack` on `database` (undefended, own database): the one named
    `prefer` if it does, else the one with the most values. None without a plan or such a study."""
    scopes = [s for name, points in (data.plan.get("studies") or {}).items()
              if (s := _scope(name, points, database, attack, field)) is not None and len(s.values) > 1]
    if not scopes:
        return None
    return max(scopes, key=lambda s: (s.name == prefer, len(s.values)))


def _scope(name: str, points: Iterable[Mapping[str, Any]], database: str, attack: str,
           field: str) -> StudyScope | None:
    mine = [p for p in points if p.get("database") == database and p.get("attack") == attack
            and not p.get("defences") and _blank(p.get("train_database"))
            and isinstance(p.get("settings"), Mapping) and field in p["settings"]]
    if not mine:
        return None
    values = tuple(sorted({int(p["settings"][field]) for p in mine}))
    budget_field = _budget_field(attack)
    budgets = tuple(sorted({int(p["settings"][budget_field]) for p in mine if budget_field in p["settings"]}))
    models = tuple(dict.fromkeys(str(p.get("train_job") or p.get("target_id") or "") for p in mine))
    frame = pd.DataFrame({"attack": [attack] * len(mine), "settings": [dict(p["settings"]) for p in mine],
                          "seed": [int(p.get("seed", 0)) for p in mine]})
    columns = attack_columns(frame)
    return StudyScope(name, field, values, budgets, models, frozenset(columns["setting_key"]),
                      tuple(sorted(set(int(p) for p in columns["pixels"]))))


def _budget_field(attack: str) -> str:
    from ..attacks import attack_class
    from ..errors import AttackError

    try:
        return str(attack_class(attack).Settings.budget_field)
    except AttackError:  # an attack this fasrobust does not have: no budget axis to read
        return ""


def scope_rows(rows: pd.DataFrame, scope: StudyScope, database: str) -> pd.DataFrame:
    """The stored rows that answer the study's points on `database`."""
    mask = ((rows["database"] == database) & rows["model_key"].isin(scope.models)
            & rows["setting_key"].isin(scope.setting_keys) & rows["pixels"].isin(scope.pixels))
    return rows[mask]

