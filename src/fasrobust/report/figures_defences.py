"""The defence trade-off figure: recall drop under attack (vertical error bar) against clean accuracy
(horizontal error bar), one point per defence stack and model, one panel per database and attack, the
undefended model marked and the goal region of issue 13 (recall drop halved at a cost of at most one
point of clean accuracy) shaded. Report stage: RunData -> `Drawn` -> figures.py saves it.

Clean accuracy is read from the evaluate job of the same model behind the same deployed stack (the
attacker's eot is no part of what is shipped) on the same database; a stack without such an evaluation
is named in the caption and not drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from matplotlib.patches import Rectangle

from ..metrics import wilson_interval
from .columns import augment_label
from .data import RunData
from .figure_parts import (
    Drawn,
    data_text,
    drop_interval,
    drop_method,
    grid,
    images_text,
    methods_text,
    models_text,
    ran_text,
    threshold_text,
)
from .figure_scope import UNDEFENDED, stack_label, with_defences
from .summary import Selection, recall_stats, selections

KEY = "defence-tradeoff"
#: Issue 13's goal: the recall drop halved, clean accuracy within this many points of the undefended model.
GOAL_ACC_POINTS = 1.0


@dataclass(frozen=True)
class Point:
    model_key: str
    model: str  # the model in words
    defence: str
    acc: float  # percent
    acc_ci: tuple[float, float]
    drop: float  # percentage points
    drop_ci: tuple[float, float]
    drop_method: str
    spoofs: int


def tradeoff_figure(data: RunData) -> Drawn | str:
    rows = with_defences(data)
    rows = rows[rows["train_database"].isna()] if len(rows) else rows
    if not len(rows) or (rows["defence"] == UNDEFENDED).all():
        return "no attack on a defended target (same database)"
    panels, unevaluated = [], []
    for database in sorted(rows["database"].unique()):
        db_rows = rows[rows["database"] == database]
        models = (set(db_rows.loc[db_rows["defence"] != UNDEFENDED, "model_key"]) | _defence_study_models(data, database)
                  | _trained_defences(db_rows))
        for sel in selections(data, db_rows, database):
            mine = db_rows[(db_rows["setting_key"] == sel.setting_key) & (db_rows["pixels"] == sel.pixels)
                           & (db_rows["budget"] >= sel.budget) & db_rows["model_key"].isin(models)]
            points, missing = _points(data, mine, sel)
            unevaluated += missing
            if points:
                panels.append((database, sel, points, mine))
    if not panels:
        return "no defended stack with a clean evaluation"
    fig, axes = grid(len(panels))
    for ax, (database, sel, points, _) in zip(axes, panels, strict=True):
        _draw_panel(ax, database, sel, points)
    used = pd.concat([p[3] for p in panels])
    caption = _caption(data, panels, used, unevaluated)
    return Drawn(KEY, fig, "Defences: recall drop under attack against clean accuracy", caption)


def _defence_study_models(data: RunData, database: str) -> set[str]:
    """Models of the studies that ask for defences (an adversarially trained model among them is a point
    too, though nothing stands in front of it)."""
    out: set[str] = set()
    for points in (data.plan.get("studies") or {}).values():
        mine = [p for p in points if p.get("database") == database]
        if any(p.get("defences") for p in mine):
            out |= {str(p.get("train_job") or p.get("target_id")) for p in mine}
    return out


def _trained_defences(rows: pd.DataFrame) -> set[str]:
    """Models whose defence is in their training (a training variant such as adversarial fine-tuning, or
    impulse-noise augmentation): points of the trade-off too, with nothing in front of them."""
    variant = rows["variant"] if "variant" in rows else pd.Series("standard", index=rows.index)
    trained = (variant.fillna("standard") != "standard") | rows["augment"].astype(str).str.contains("impulse")
    return set(rows.loc[trained, "model_key"])


def _points(data: RunData, rows: pd.DataFrame, sel: Selection) -> tuple[list[Point], list[str]]:
    several = rows["model_key"].nunique() > 1
    points, missing = [], []
    for (model_key, defence), group in rows.groupby(["model_key", "defence"], sort=False):
        variant = str(group["variant"].iloc[0]) if "variant" in group else "standard"
        model = augment_label(group["augment"].iloc[0]) + (f" ({variant})" if variant not in ("standard", "nan")
                                                          else "")
        accuracy = clean_accuracy(data, str(model_key), str(group["database"].iloc[0]),
                                  str(group["deployed_defence"].iloc[0]))
        if accuracy is None:
            missing.append(f"{model} behind {defence}" if several else str(defence))
            continue
        stats = recall_stats(group, sel.budget if sel.budget_field else None)
        points.append(Point(str(model_key), model, str(defence), accuracy[0], accuracy[1],
                            float(stats["recall_drop"]), drop_interval(stats), drop_method(stats),
                            int(stats["spoofs"])))
    return points, missing


def clean_accuracy(data: RunData, model_key: str, database: str,
                   deployed_label: str) -> tuple[float, tuple[float, float]] | None:
    """Frame-level clean accuracy at 0.5 (percent) and its 95 % interval, from the evaluate job of this
    model behind this deployed stack on this database (the interval it stored, else Wilson on its counts)."""
    for job in data.jobs.itertuples():
        s = job.settings
        if (job.kind != "evaluate" or str(s.get("train_job") or s.get("target")) != model_key
                or s.get("database") != database or s.get("train_database") not in (None, database)
                or stack_label(s.get("defences")) != deployed_label):
            continue
        record = (job.result or {}).get("metrics") or {}
        entry = ((record.get("metrics") or {}).get("frame") or {}).get("accuracy") or {}
        value = entry.get("value")
        if not isinstance(value, int | float):
            return None
        interval = entry.get("interval") or _wilson_from_counts(float(value), record)
        return 100 * float(value), (100 * float(interval[0]), 100 * float(interval[1]))
    return None


def _wilson_from_counts(value: float, record: dict[str, Any]) -> tuple[float, float]:
    test = ((record.get("counts") or {}).get("frame") or {}).get("test") or {}
    n = int(sum(v for v in test.values() if isinstance(v, int | float)))
    return wilson_interval(int(round(value * n)), n) if n else (value, value)


def _draw_panel(ax, database: str, sel: Selection, points: list[Point]) -> None:
    several = len({p.model_key for p in points}) > 1
    for p in points:
        undefended = p.defence == UNDEFENDED
        label = (f"{p.model}: " if several else "") + ("undefended" if undefended else p.defence)
        ax.errorbar([p.acc], [p.drop], xerr=[[p.acc - p.acc_ci[0]], [p.acc_ci[1] - p.acc]],
                    yerr=[[p.drop - p.drop_ci[0]], [p.drop_ci[1] - p.drop]], fmt="s" if undefended else "o",
                    ms=8 if undefended else 6, mfc="white" if undefended else None, mew=2 if undefended else 1,
                    capsize=3, label=label)
    left = min(p.acc_ci[0] for p in points) - 2
    right = min(100.5, max(p.acc_ci[1] for p in points) + 2)
    reference = _reference(points)
    if reference is not None:
        x0, top = reference.acc - GOAL_ACC_POINTS, reference.drop / 2
        ax.add_patch(Rectangle((x0, -2), max(0.0, right - x0), top + 2, color="#2ca02c", alpha=0.12, lw=0,
                               label=f"goal: drop <= {top:.1f}, ACC >= {x0:.1f}"))
        ax.text(x0, top, " goal", fontsize=7, va="bottom", color="#1b6b1b", clip_on=True)
    ax.set(title=f"{database}: {sel.attack}, {sel.pixels} pixels", xlim=(left, right), ylim=(-2, 102),
           xlabel="clean accuracy at 0.5 (%)", ylabel="recall drop under attack (points)")
    ax.grid(alpha=0.3)
    # Points gather at high accuracy, at the top (the attack wins) or the bottom (the defence does): the
    # legend goes to the middle left, where they are not.
    ax.legend(fontsize=7, loc="center left")


def _reference(points: list[Point]) -> Point | None:
    """The undefended point of the model with the most defence stacks drawn."""
    counts = pd.Series([p.model_key for p in points]).value_counts()
    for model_key in counts.index:
        for p in points:
            if p.model_key == model_key and p.defence == UNDEFENDED:
                return p
    return None


def _caption(data: RunData, panels: list, rows: pd.DataFrame, unevaluated: list[str]) -> str:
    sels = [p[1] for p in panels]
    spoofs = [pt.spoofs for p in panels for pt in p[2]]
    stacks = sorted({pt.defence for p in panels for pt in p[2]})
    goal = []
    for database, sel, points, _ in panels:
        ref = _reference(points)
        if ref is None:
            continue
        met = [p.defence for p in points if p.defence != UNDEFENDED and p.drop <= ref.drop / 2
               and p.acc >= ref.acc - GOAL_ACC_POINTS]
        goal.append(f"{database}, {sel.attack}: " + (", ".join(met) if met else "no stack") + " reaches it")
    eot = " (eot: the attack averaged several noise draws of a randomized defence)" if any(
        "eot" in s for s in stacks) else ""
    parts = [f"{data_text(data, sorted({p[0] for p in panels}))} {models_text(rows)}, each attacked on its own "
             f"database. Defence stacks: {', '.join(stacks)}{eot}. Numbers taken at: "
             f"{'; '.join(s.describe() for s in sels)}; {ran_text(rows)}. "
             f"y: recall drop under attack through the whole defended pipeline, with its 95 % interval "
             f"({methods_text({pt.drop_method for p in panels for pt in p[2]})}), "
             f"{images_text(spoofs).replace('curve', 'point')}; x: clean accuracy on the test split at "
             f"{threshold_text(rows)}, behind the deployed stack, with its 95 % interval (as evaluated, else "
             f"Wilson). Open square: the undefended model. Shaded: the goal (recall drop halved at a cost of "
             f"at most {GOAL_ACC_POINTS:g} point of clean accuracy); {'; '.join(goal) or 'no undefended reference'}."]
    if unevaluated:
        parts.append(f"Not drawn, no clean evaluation stored: {', '.join(sorted(set(unevaluated)))}.")
    return " ".join(parts)


__all__ = ["KEY", "Point", "clean_accuracy", "tradeoff_figure"]
