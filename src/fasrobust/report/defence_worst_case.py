"""Each defended system's worst case over the attacks run on it (report stage), the number a defence is
judged by (Athalye et al. 2018; Tramer et al. 2020; AutoAttack's ensemble): for one database, the attacks
the run made at the same pixel count (the goal's 9 when present) on the same images, read at the same
query budget per image (the smallest any of them ran), in the ensemble's order (`attacks/ensemble.py`:
isolated-pixel Sparse-RS, the structured patch, the DE, then any other, each with its `eot` variants).

Per system (a model behind a deployed stack): the images any attack fooled within the budget
(`experiments.ensemble.worst_case_rows`, the same worst case `fasrobust robustness` measures by running
them one after the other), each attack's own drop beside it, and the goal judged on the worst case.
The defence table and the trade-off figure both ask this module."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..attacks.ensemble import ensemble_attacks
from ..experiments.ensemble import worst_case_rows
from ..experiments.spec import STANDARD_VARIANT
from .columns import augment_label
from .goal import GOAL_PIXELS, meets_goal, references, shortfall
from .results import NO_DEFENCE, Results
from .summary import Selection, model_metrics, recall_stats, rows_for, selections

#: The ensemble's order, then any other attack by name.
_ORDER = [a.name for a in ensemble_attacks(GOAL_PIXELS, 1_000)]


@dataclass
class System:
    """One model behind one deployed stack, its worst case and each attack's result."""

    model_key: str
    model_label: str
    augment: str
    variant: str
    defence: str
    metrics: dict[str, Any]  # model_metrics: clean ACC, BPCER, ... behind the stack
    worst: dict[str, Any]  # attack_stats of the worst case
    rows: pd.DataFrame  # the worst case per image (worst_case_rows)
    members: dict[str, dict[str, Any]] = field(default_factory=dict)  # attack label -> its attack_stats
    broken_by: dict[str, int] = field(default_factory=dict)  # attack label -> images it broke first
    meets: bool | str | None = None  # against its reference; "reference" for the reference itself
    reference_label: str = ""  # the reference in words, "" when it has none or is one
    misses_by: str = ""

    @property
    def undefended(self) -> bool:
        return self.defence == NO_DEFENCE

    def as_system(self) -> dict[str, Any]:
        """What `goal.py` reads."""
        return {"model_key": self.model_key, "undefended": self.undefended, "augment": self.augment,
                "variant": self.variant, "recall_drop": self.worst["recall_drop"], "acc": self.metrics["acc"]}


@dataclass
class WorstCase:
    database: str
    pixels: int
    queries: int  # per image, for each attack
    attacks: list[str]  # attack labels in the ensemble's order, over all systems
    selections: list[Selection]
    systems: list[System]


def worst_cases(data: Results) -> list[WorstCase]:
    """One per database whose defended or defence-trained systems were attacked by two attacks or more at
    one pixel count (same-database models only)."""
    rows = data.attacks
    if not len(rows) or "defence" not in rows.columns:
        return []
    own = rows[rows["train_database"].isna()]
    out = []
    for database in sorted(own["database"].unique()):
        here = own[own["database"] == database]
        if (here["defence"] == NO_DEFENCE).all() and (here["variant"] == STANDARD_VARIANT).all():
            continue
        case = _worst_case(data, here, database)
        if case is not None:
            out.append(case)
    return out


def _worst_case(data: Results, rows: pd.DataFrame, database: str) -> WorstCase | None:
    sels = selections(data, rows, database, defence=None, variant=None)
    pixel_counts = {s.pixels for s in sels}
    pixels = GOAL_PIXELS if GOAL_PIXELS in pixel_counts else max(pixel_counts, default=0)
    sels = sorted((s for s in sels if s.pixels == pixels), key=lambda s: _rank(s.attack))
    if len(sels) < 2:
        return None
    queries = min(s.query_budget for s in sels)
    members: dict[tuple[str, str], list[tuple[str, pd.DataFrame]]] = {}
    for sel in sels:
        for (model_key, defence, draws), group in rows_for(rows, sel).groupby(
                ["model_key", "defence", "eot_draws"], sort=False):
            label = sel.attack + (f" (eot {int(draws)})" if int(draws) > 1 else "")
            members.setdefault((str(model_key), str(defence)), []).append((label, group))
    systems = [_system(key, found, queries) for key, found in members.items()]
    systems = [s for s in systems if s is not None]
    if not systems:
        return None
    systems.sort(key=_system_order)
    _mark_goal(systems)
    labels = sorted({label for s in systems for label in s.members}, key=_label_rank)
    return WorstCase(database, pixels, queries, labels, sels, systems)


def _system(key: tuple[str, str], found: list[tuple[str, pd.DataFrame]], queries: int) -> System | None:
    found = sorted(found, key=lambda m: _label_rank(m[0]))
    per_image = worst_case_rows([(label, group, queries) for label, group in found])
    if not len(per_image):
        return None
    first = found[0][1].iloc[0]
    variant = str(first["variant"])
    label = augment_label(first["augment"]) + (f" ({variant})" if variant != STANDARD_VARIANT else "")
    broken = per_image["broken_by"].value_counts().to_dict()
    return System(key[0], label, str(first["augment"]), variant, key[1], model_metrics(found[0][1]),
                  recall_stats(per_image), per_image,
                  {name: recall_stats(group, queries=queries) for name, group in found},
                  {name: int(broken.get(name, 0)) for name, _ in found})


def _mark_goal(systems: list[System]) -> None:
    judged = [s.as_system() for s in systems]
    for system, as_dict, reference in zip(systems, judged, references(judged), strict=True):
        if reference is None or reference is as_dict:
            system.meets = "reference" if reference is as_dict else None
            continue
        other = systems[judged.index(reference)]
        system.reference_label = f"{other.model_label}, {other.defence}"
        system.meets = meets_goal(as_dict, reference)
        system.misses_by = shortfall(as_dict, reference)


def _rank(attack: str) -> tuple[int, str]:
    return (_ORDER.index(attack) if attack in _ORDER else len(_ORDER), attack)


def _label_rank(label: str) -> tuple[int, str, str]:
    attack, _, rest = label.partition(" (")
    return (*_rank(attack), rest)


def _system_order(system: System) -> tuple:
    return (system.variant != STANDARD_VARIANT, system.variant, system.augment != "none", system.augment,
            not system.undefended, system.defence)

