"""The countermeasure goal, in one place (report stage): the defence table's flag, its caption and the
trade-off figure's region and marks all ask this module.

The goal: halve the recall drop of the reference at a cost of at most one point of clean accuracy, on the
point estimates as measured (their intervals are shown beside them, never used to tune the verdict). A
system's reference is the same model undefended; for an undefended model (a training-time defence:
augmentation, adversarial fine-tuning), or a model only run behind its defence (trained through it), it is
the undefended standard model without augmentation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..experiments.spec import STANDARD_VARIANT

#: A defence meets the goal with a drop at most this fraction of its reference's ...
GOAL_DROP_FRACTION = 0.5
#: ... losing at most this many points of clean accuracy (ACC @ 0.5) ...
GOAL_ACC_POINTS = 1.0
#: ... against this many pixels.
GOAL_PIXELS = 9


@dataclass(frozen=True)
class Goal:
    """What a system must reach to meet the goal against its reference."""

    drop_at_most: float  # points of recall drop
    acc_at_least: float  # percent clean accuracy

    @classmethod
    def against(cls, reference_drop: float, reference_acc: float) -> Goal:
        return cls(GOAL_DROP_FRACTION * float(reference_drop), float(reference_acc) - GOAL_ACC_POINTS)

    def met_by(self, drop: float, acc: float) -> bool:
        return bool(drop <= self.drop_at_most and acc >= self.acc_at_least)


def meets_goal(row: Mapping[str, Any], reference: Mapping[str, Any]) -> bool | None:
    """Whether `row` (recall_drop, acc) meets the goal against `reference`; None when a number is missing."""
    numbers = [row.get("recall_drop"), reference.get("recall_drop"), row.get("acc"), reference.get("acc")]
    if any(v is None or pd.isna(v) for v in numbers):
        return None
    return Goal.against(reference["recall_drop"], reference["acc"]).met_by(float(row["recall_drop"]),
                                                                          float(row["acc"]))


def references(systems: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any] | None]:
    """Each system's reference (see the module doc), or None when the run has none for it; a reference is
    its own reference. Systems are mappings with `model_key`, `undefended`, `augment` and `variant`."""
    undefended = {}
    for s in systems:
        if s["undefended"]:
            undefended.setdefault(s["model_key"], s)
    plain = [s for s in undefended.values() if s["augment"] == "none" and s["variant"] == STANDARD_VARIANT]
    baseline = plain[0] if plain else next(iter(undefended.values()), None)
    # A model run only behind its defence (trained through it: defence-aware training) has no undefended
    # self to compare with; what it must beat is the baseline.
    return [baseline if s["undefended"] else undefended.get(s["model_key"], baseline) for s in systems]


def goal_text(pixels: int) -> str:
    """The goal in words, for captions."""
    at = "" if pixels == GOAL_PIXELS else f" (these rows change {pixels} pixels, so it is taken at {pixels})"
    return (f"halve the {GOAL_PIXELS}-pixel recall drop at a cost of at most {GOAL_ACC_POINTS:g} point of clean "
            f"accuracy{at}: recall drop <= {GOAL_DROP_FRACTION:g} x the reference's and ACC @ 0.5 >= the "
            f"reference's - {GOAL_ACC_POINTS:g}, on the point estimates as measured; the reference is the same "
            f"model undefended (for an undefended model, or one only run behind its defence, the undefended standard "
            f"model without augmentation)")


def shortfall(row: Mapping[str, Any], reference: Mapping[str, Any]) -> str:
    """By how much `row` misses the goal against `reference`, in words ('' when it meets it or a number is
    missing): the points of recall drop over the allowed, the points of clean accuracy under it."""
    if meets_goal(row, reference) in (True, None):
        return ""
    goal = Goal.against(reference["recall_drop"], reference["acc"])
    drop, acc = float(row["recall_drop"]), float(row["acc"])
    parts = []
    if drop > goal.drop_at_most:
        parts.append(f"drop {drop:.1f} > {goal.drop_at_most:.1f} allowed ({drop - goal.drop_at_most:.1f} points over)")
    if acc < goal.acc_at_least:
        parts.append(f"ACC {acc:.1f} < {goal.acc_at_least:.1f} required ({goal.acc_at_least - acc:.1f} points "
                     "short)")
    return "; ".join(parts)
