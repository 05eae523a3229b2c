"""Which stored rows a figure may draw: the paper's figures show undefended models attacked on their own
database, and only the settings the study behind the figure asked for (the studies frame of the results
reader); the defence figure shows every defence stack. Report stage: Results -> rows and study scopes for
figures.py and figures_defences.py."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pandas as pd

from .results import NO_DEFENCE, Results

UNDEFENDED = NO_DEFENCE


def paper_scope(data: Results) -> Results:
    """The run as the paper's figures see it: undefended models attacked on their own database, one answer
    per query, at a fixed number of pixels."""
    rows = data.attacks
    keep = ((rows["defence"] == UNDEFENDED) & rows["train_database"].isna() & (rows["eot_draws"] <= 1)
            & ~rows["open_pixels"].astype(bool))
    return dataclasses.replace(data, attacks=rows[keep.to_numpy(dtype=bool)])


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


def study_scope(data: Results, database: str, attack: str, field: str, prefer: str) -> StudyScope | None:
    """The study that varies `field` of `attack` on `database` (undefended, own database): the one named
    `prefer` if it does, else the one with the most values. None without a plan or such a study."""
    points = data.studies
    mine = points[(points["database"] == database) & (points["attack"] == attack) & (points["defence"] == UNDEFENDED)
                  & points["train_database"].isna()]
    scopes = []
    for name, group in mine.groupby("study", sort=False):
        have = group[group["settings"].map(lambda s: field in s)]
        values = tuple(sorted({int(s[field]) for s in have["settings"]}))
        if len(values) < 2:
            continue
        budget_field = str(have["budget_field"].iloc[0])
        budgets = tuple(sorted({int(s[budget_field]) for s in have["settings"] if budget_field in s}))
        scopes.append(StudyScope(str(name), field, values, budgets, tuple(dict.fromkeys(have["model_key"])),
                                 frozenset(have["setting_key"]), tuple(sorted({int(p) for p in have["pixels"]}))))
    if not scopes:
        return None
    return max(scopes, key=lambda s: (s.name == prefer, len(s.values)))


def scope_rows(rows: pd.DataFrame, scope: StudyScope, database: str) -> pd.DataFrame:
    """The stored rows that answer the study's points on `database`."""
    mask = ((rows["database"] == database) & rows["model_key"].isin(scope.models)
            & rows["setting_key"].isin(scope.setting_keys) & rows["pixels"].isin(scope.pixels))
    return rows[mask]

